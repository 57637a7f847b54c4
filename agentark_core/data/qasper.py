"""QASPER adapter: questions over NLP papers, one question per ``qas`` entry (paper §4, OOD open-ended).

Row layout (``allenai/qasper``): ``title``, ``abstract``, ``full_text = {section_name: [...],
paragraphs: [[...], ...]}``, ``qas = {question: [...], answers: [{answer: [{unanswerable,
extractive_spans, yes_no, free_form_answer, evidence}, ...]}, ...]}`` (one ``answer`` per
annotator). The ground truth prefers, over all annotators, a free-form answer, then the
extractive spans (joined), then yes/no, then "unanswerable". The context is the evidence
paragraphs of the annotation chosen (title + abstract when it has none); ``full_text=True``
gives title, abstract and the whole paper instead.
"""

from __future__ import annotations

from agentark_core.data.base import DATASETS, RowAdapter, RowError, get, records, text
from agentark_core.data.question import Question

UNANSWERABLE = "unanswerable"


def _answer_text(annotation: dict, kind: str) -> str:
    """The annotation's answer of one kind, or "" when it has none of that kind."""
    if kind == "free_form":
        return (annotation.get("free_form_answer") or "").strip()
    if kind == "extractive":
        return ", ".join(s.strip() for s in annotation.get("extractive_spans") or [] if s.strip())
    if kind == "yes_no":
        value = annotation.get("yes_no")
        return "" if value is None else ("Yes" if value else "No")
    return UNANSWERABLE if annotation.get("unanswerable") else ""


def best_answer(annotations: list[dict]) -> tuple[str, list[str]]:
    """``(answer, evidence paragraphs)`` by preference free-form > extractive > yes/no > unanswerable."""
    for kind in ("free_form", "extractive", "yes_no", "unanswerable"):
        for annotation in annotations:
            answer = _answer_text(annotation, kind)
            if answer:
                return answer, [e for e in annotation.get("evidence") or [] if e.strip()]
    raise RowError("no annotator gave a free-form, extractive, yes/no or unanswerable answer")


def _paper_text(row: dict) -> str:
    """Title, abstract and every section of the paper as plain text."""
    full = get(row, "full_text")
    sections = [
        "\n".join([s.get("section_name") or "", *(p for p in s.get("paragraphs") or [] if p.strip())]).strip()
        for s in records(full, "full_text")
    ]
    return "\n\n".join([get(row, "title"), get(row, "abstract"), *sections])


def qasper_row(row: dict, *, dataset: str, split: str, full_text: bool = False) -> list[Question]:
    """One QASPER paper -> one longform question per entry of ``qas``.

    Args:
        full_text: context = the whole paper instead of the chosen annotation's evidence.
    """
    paper = _paper_text(row) if full_text else f"{get(row, 'title')}\n\n{get(row, 'abstract')}"
    questions = []
    for i, qa in enumerate(records(get(row, "qas"), "qas")):
        annotations = [get(a, "answer") for a in records(get(qa, "answers"), f"qas.answers[{i}]")]
        try:
            gt, evidence = best_answer(annotations)
        except RowError as err:
            raise RowError(f"qas[{i}]: {err}") from None
        context = paper if full_text or not evidence else "\n\n".join(evidence)
        questions.append(Question(dataset, split, "longform", text(qa, "question").strip(), gt, context))
    return questions


DATASETS.register("qasper")(RowAdapter("allenai/qasper", qasper_row))
