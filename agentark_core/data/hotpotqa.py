"""HotpotQA adapter: multi-hop short-answer QA over Wikipedia paragraphs (paper §4, OOD open-ended).

Row layout (``hotpotqa/hotpot_qa``, config ``distractor``): ``question``, ``answer``,
``context = {title: [...], sentences: [[...], ...]}``, ``supporting_facts = {title: [...],
sent_id: [...]}``. The original JSON's list-of-pairs layout (``[[title, sentences], ...]``)
is accepted too. By default the context holds only the supporting-fact sentences (the
gold evidence); ``all_paragraphs=True`` gives all ten paragraphs, distractors included.
"""

from __future__ import annotations

from agentark_core.data.base import DATASETS, RowAdapter, RowError, get, text
from agentark_core.data.question import Question


def _columns(value, names: tuple[str, str], field: str) -> tuple[list, list]:
    """Both columns of a HF dict-of-lists or of an original list-of-pairs field."""
    if isinstance(value, dict):
        return list(get(value, names[0])), list(get(value, names[1]))
    if isinstance(value, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return [p[0] for p in value], [p[1] for p in value]
    raise RowError(f"field {field!r} must be a dict with {names} or a list of pairs")


def hotpotqa_row(row: dict, *, dataset: str, split: str, all_paragraphs: bool = False) -> list[Question]:
    """One HotpotQA row -> one short-answer question with paragraphs ``"Title: sentences"`` as context.

    Args:
        all_paragraphs: keep every paragraph instead of only the supporting-fact sentences.
    """
    titles, sentences = _columns(get(row, "context"), ("title", "sentences"), "context")
    paragraphs = dict(zip(titles, sentences))
    if all_paragraphs:
        kept = {title: list(sents) for title, sents in paragraphs.items()}
    else:
        fact_titles, sent_ids = _columns(
            get(row, "supporting_facts"), ("title", "sent_id"), "supporting_facts"
        )
        ids: dict[str, set[int]] = {}
        for title, sent_id in zip(fact_titles, sent_ids):
            if title not in paragraphs:
                raise RowError(f"supporting fact title {title!r} is not in field 'context'")
            if 0 <= sent_id < len(paragraphs[title]):  # a few dataset rows point past the paragraph
                ids.setdefault(title, set()).add(sent_id)
        kept = {title: [paragraphs[title][i] for i in sorted(found)] for title, found in ids.items()}
    context = "\n".join(f"{title}: {''.join(sents).strip()}" for title, sents in kept.items())
    return [
        Question(dataset, split, "short", text(row, "question").strip(), text(row, "answer").strip(), context)
    ]


DATASETS.register("hotpotqa")(RowAdapter("hotpotqa/hotpot_qa", hotpotqa_row, configs=("distractor",)))
