"""Verifiers of agent answers against ground truth, batched, by name (paper §3.2).

``build_verifier(name, generator)`` with name "rule" (``answers.grade``), "llm" / "llm_only"
(answer-only LLM judge, guided true/false) or "rule_then_llm" (the judge only where the rule is
ungradable). Every verifier maps ``Sequence[VerifyItem] -> list[Grade]``.
"""

from agentark_core.verify.base import VERIFIERS, Verifier, VerifyItem, build_verifier
from agentark_core.verify.combine import RuleThenLLMVerifier
from agentark_core.verify.llm import LLMVerifier, parse_verdict, verification_prompt
from agentark_core.verify.rule import RuleVerifier

__all__ = [
    "VERIFIERS",
    "LLMVerifier",
    "RuleThenLLMVerifier",
    "RuleVerifier",
    "Verifier",
    "VerifyItem",
    "build_verifier",
    "parse_verdict",
    "verification_prompt",
]
