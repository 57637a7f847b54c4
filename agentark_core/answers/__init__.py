"""Final-answer extraction and the one ``grade()`` used by labeling, RL rewards and evaluation (paper §3.2).

Example:
    >>> from agentark_core.answers import grade
    >>> grade("Thus the answer is $\\\\frac{1}{2}$.", "0.5", "math").status
    'correct'

Safety: responses are untrusted; nothing here evaluates them (see ``sandbox`` for the guards).
"""

from agentark_core.answers.extract import TASK_TYPES, extract_answer
from agentark_core.answers.grade import Grade, GradeCache, grade, grade_extracted, math_equal
from agentark_core.answers.sandbox import warm_up

__all__ = [
    "TASK_TYPES",
    "Grade",
    "GradeCache",
    "extract_answer",
    "grade",
    "grade_extracted",
    "math_equal",
    "warm_up",
]
