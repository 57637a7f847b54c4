"""Combining policies: rule first, an LLM judge only where the rule cannot decide (paper §3.2).

The paper verifies every answer with an LLM ("llm_only", see ``verify.llm``); rules decide most
math and mcq answers exactly and for free, so ``rule_then_llm`` sends only the rule's
"ungradable" items (longform, unreadable or unsafe answers) to the judge, in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentark_core.answers import Grade
from agentark_core.answers.sandbox import DEFAULT_TIMEOUT_S
from agentark_core.llm.types import Generator
from agentark_core.verify.base import VERIFIERS, VerifyItem
from agentark_core.verify.llm import LLMVerifier
from agentark_core.verify.rule import RuleVerifier


@VERIFIERS.register("rule_then_llm")
class RuleThenLLMVerifier:
    """The rule verdict where it is correct/incorrect; the LLM verdict for the rest (one generate call).

    Args:
        generator: the judge's ``Generator`` backend.
        timeout_s: the most seconds one symbolic math comparison may take.
        **llm_options: passed to ``LLMVerifier`` (max_tokens, seed).
    """

    def __init__(
        self, generator: Generator | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, **llm_options
    ) -> None:
        self.rule = RuleVerifier(timeout_s=timeout_s)
        self.llm = LLMVerifier(generator, **llm_options)

    def verify(self, items: Sequence[VerifyItem]) -> list[Grade]:
        grades = self.rule.verify(items)
        undecided = [i for i, g in enumerate(grades) if g.status == "ungradable"]
        if undecided:
            for i, judged in zip(undecided, self.llm.verify([items[i] for i in undecided])):
                grades[i] = judged
        return grades
