"""QMSum adapter: query-based meeting summarisation (paper §4, OOD open-ended).

QMSum is not on the hub in its original form, so ``source`` is usually a local file
(``load_questions("qmsum", "qmsum/test.jsonl")``); the default source is SCROLLS
(``tau/scrolls``, config ``qmsum``), which needs a ``datasets`` version able to read that
repository. Two row layouts are accepted:

- SCROLLS (``tau/scrolls`` config ``qmsum``): ``input`` = query + blank line + transcript, ``output``.
- original: ``meeting_transcripts = [{speaker, content}]`` with ``general_query_list`` and
  ``specific_query_list = [{query, answer}]``; each query becomes one question
  (``queries="general"|"specific"|"all"``).

The context is the meeting transcript (``Speaker: words`` lines).
"""

from __future__ import annotations

from agentark_core.data.base import DATASETS, RowAdapter, RowError, get, records, text
from agentark_core.data.question import Question

QUERY_LISTS = {"general": ("general_query_list",), "specific": ("specific_query_list",)}
QUERY_LISTS["all"] = QUERY_LISTS["general"] + QUERY_LISTS["specific"]


def _scrolls(row: dict, dataset: str, split: str) -> list[Question]:
    """SCROLLS layout: the query is the first paragraph of ``input``."""
    query, sep, transcript = text(row, "input").partition("\n\n")
    if not sep or not query.strip():
        raise RowError("field 'input' must be '<query>\\n\\n<transcript>'")
    return [
        Question(dataset, split, "longform", query.strip(), text(row, "output").strip(), transcript.strip())
    ]


def qmsum_row(row: dict, *, dataset: str, split: str, queries: str = "all") -> list[Question]:
    """One QMSum row (SCROLLS or original layout) -> its longform questions.

    Args:
        queries: original layout only: which query lists to use, ``general``, ``specific`` or ``all``.
    """
    if queries not in QUERY_LISTS:
        raise ValueError(f"queries must be one of {sorted(QUERY_LISTS)}, got {queries!r}")
    if "input" in row:
        return _scrolls(row, dataset, split)
    if "meeting_transcripts" not in row:
        raise RowError("missing field 'input' (SCROLLS layout) or 'meeting_transcripts' (original layout)")
    turns = records(get(row, "meeting_transcripts"), "meeting_transcripts")
    transcript = "\n".join(f"{get(t, 'speaker')}: {get(t, 'content').strip()}" for t in turns)
    return [
        Question(dataset, split, "longform", text(q, "query").strip(), text(q, "answer").strip(), transcript)
        for name in QUERY_LISTS[queries]
        for q in records(row.get(name) or [], name)
    ]


DATASETS.register("qmsum")(RowAdapter("tau/scrolls", qmsum_row, configs=("qmsum",)))
