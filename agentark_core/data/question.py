"""The normalised question record every dataset adapter produces (the ``questions`` artifact row)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from agentark_core.answers.extract import TASK_TYPES  # the grader's task types: one definition


def question_id(dataset: str, query: str, context: str = "", choices: tuple[str, ...] = ()) -> str:
    """Stable content hash of a question: same text -> same id, across runs and machines."""
    payload = json.dumps([dataset, query, context, list(choices)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Question:
    """One question, whatever dataset it came from.

    ``gt`` is the ground-truth final answer as a string (an MCQ letter for mcq);
    ``gold_reasoning`` is the reference solution where the dataset has one (used
    for reasoning perplexity), else "".
    """

    dataset: str
    split: str
    task_type: str
    query: str
    gt: str
    context: str = ""
    choices: tuple[str, ...] = ()
    gold_reasoning: str = ""
    question_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {self.task_type!r}")
        if not self.question_id:
            qid = question_id(self.dataset, self.query, self.context, self.choices)
            object.__setattr__(self, "question_id", qid)

    def to_row(self) -> dict:
        row = asdict(self)
        row["choices"] = list(self.choices)
        return row
