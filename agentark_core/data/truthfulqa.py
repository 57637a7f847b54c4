"""TruthfulQA adapter: open-ended questions that invite common misconceptions (paper §4, OOD open-ended).

Row layout (``truthfulqa/truthful_qa``, config ``generation``, split ``validation`` only):
``question``, ``best_answer``, ``correct_answers``, ``incorrect_answers``. ``gt`` is the
best answer, scored with BLEU/ROUGE as in the paper. The correct/incorrect answer lists
are NOT put in the context: the context is shown to the model, so they would leak the
answer. ``task_type`` defaults to ``longform`` (sentence answers); pass ``task_type="short"``
to grade as short answers.
"""

from __future__ import annotations

from agentark_core.answers.extract import TEXT_TASK_TYPES
from agentark_core.data.base import DATASETS, RowAdapter, text
from agentark_core.data.question import Question


def truthfulqa_row(row: dict, *, dataset: str, split: str, task_type: str = "longform") -> list[Question]:
    """One TruthfulQA row -> one question whose ``gt`` is ``best_answer``."""
    if task_type not in TEXT_TASK_TYPES:
        raise ValueError(f"truthfulqa task_type must be one of {TEXT_TASK_TYPES}, got {task_type!r}")
    return [
        Question(dataset, split, task_type, text(row, "question").strip(), text(row, "best_answer").strip())
    ]


DATASETS.register("truthfulqa")(RowAdapter("truthfulqa/truthful_qa", truthfulqa_row, configs=("generation",)))
