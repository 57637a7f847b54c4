"""Dataset adapters -> one normalised question record (``load_questions``, the ``dataset`` registry)."""

from agentark_core.data.base import DATASETS, RowError
from agentark_core.data.loader import load_questions
from agentark_core.data.question import TASK_TYPES, Question, question_id

__all__ = ["DATASETS", "TASK_TYPES", "Question", "RowError", "load_questions", "question_id"]
