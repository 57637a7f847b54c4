"""Dataset adapters -> one normalised question record."""

from agentark_core.data.question import TASK_TYPES, Question, question_id

__all__ = ["TASK_TYPES", "Question", "question_id"]
