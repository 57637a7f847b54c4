"""The rule verifier: ``answers.grade`` over a batch (paper §3.2: exact match, normalised numeric equality).

Every response is extracted; each distinct (answer, ground truth) pair of the batch is compared
once (``answers.GradeCache``): debate agents repeat each other's answers across agents and rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentark_core.answers import Grade, GradeCache
from agentark_core.answers.sandbox import DEFAULT_TIMEOUT_S
from agentark_core.llm.types import Generator
from agentark_core.verify.base import VERIFIERS, VerifyItem


@VERIFIERS.register("rule")
class RuleVerifier:
    """Grades each item with the shared ``grade()``; longform and unreadable answers come back ungradable.

    Args:
        generator: accepted so every verifier builds the same way; a rule needs no LLM.
        timeout_s: the most seconds one symbolic math comparison may take.
    """

    def __init__(self, generator: Generator | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s

    def verify(self, items: Sequence[VerifyItem]) -> list[Grade]:
        cache = GradeCache(self.timeout_s)
        return [cache.grade(it.response, it.gt, it.task_type, it.choices) for it in items]
