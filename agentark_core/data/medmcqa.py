"""MedMCQA adapter: four-option medical multiple choice (paper §4, Table 1).

Row layout (``openlifescienceai/medmcqa``): ``question``, ``opa``-``opd``, ``cop``
(index 0-3 of the correct option), ``exp`` (explanation, may be empty), ``subject_name``.
The hub ``test`` split is unlabelled (``cop = -1``); use ``validation`` for evaluation.
"""

from __future__ import annotations

from agentark_core.data.base import DATASETS, RowAdapter, RowError, get, text
from agentark_core.data.question import Question

OPTION_FIELDS = ("opa", "opb", "opc", "opd")
LETTERS = "ABCD"


def medmcqa_row(row: dict, *, dataset: str, split: str) -> list[Question]:
    """One MedMCQA row -> one mcq question: ``gt`` = letter of ``cop``, gold reasoning = ``exp``."""
    choices = tuple(str(get(row, name)).strip() for name in OPTION_FIELDS)
    cop = get(row, "cop")
    if isinstance(cop, str) and cop.strip().lstrip("-").isdigit():
        cop = int(cop)
    if not isinstance(cop, int) or not 0 <= cop < len(LETTERS):
        hint = " (the hub test split is unlabelled; use split='validation')" if cop == -1 else ""
        raise RowError(f"field 'cop' must be an option index 0-3, got {cop!r}{hint}")
    query = text(row, "question").strip()
    gold = (row.get("exp") or "").strip()
    return [Question(dataset, split, "mcq", query, LETTERS[cop], choices=choices, gold_reasoning=gold)]


DATASETS.register("medmcqa")(RowAdapter("openlifescienceai/medmcqa", medmcqa_row))
