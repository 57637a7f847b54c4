"""The rule verifier: ``answers.grade`` over a batch (paper §3.2: exact match, normalised numeric equality)."""

from __future__ import annotations

from collections.abc import Sequence

from agentark_core.answers import Grade, grade
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
        return [grade(it.response, it.gt, it.task_type, it.choices, self.timeout_s) for it in items]
