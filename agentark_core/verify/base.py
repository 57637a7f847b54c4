"""What every verifier shares: the item it judges, the batch interface, and the registry (paper §3.2).

A verifier judges a *batch*: ``verify(items) -> list[Grade]``, one ``Grade`` per item in order,
so an LLM verifier can make one generate call for a whole round of debate outputs.

Example:
    >>> from agentark_core.verify import VerifyItem, build_verifier
    >>> item = VerifyItem(question="1+1?", gt="2", task_type="math", response="\\\\boxed{2}")
    >>> build_verifier("rule").verify([item])[0].status
    'correct'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agentark_core.answers import TASK_TYPES, Grade
from agentark_core.data.question import Question
from agentark_core.llm.types import Generator
from agentark_core.registry import Registry


@dataclass(frozen=True)
class VerifyItem:
    """One response to judge against one question's ground truth.

    Args:
        question: the question text shown to an LLM verifier.
        gt: the ground-truth final answer.
        task_type: "math" | "mcq" | "short" | "longform".
        response: the full model response.
        choices: mcq option texts in letter order.
    """

    question: str
    gt: str
    task_type: str
    response: str
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"VerifyItem.task_type must be one of {TASK_TYPES}, got {self.task_type!r}")
        for name in ("question", "gt", "response"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"VerifyItem.{name} must be str, got {type(getattr(self, name)).__name__}")
        object.__setattr__(self, "choices", tuple(self.choices))

    @classmethod
    def of(cls, question: Question, response: str) -> VerifyItem:
        """The item judging ``response`` to a normalised ``Question`` record."""
        return cls(question.query, question.gt, question.task_type, response, question.choices)


class Verifier(Protocol):
    """Judges a batch of items; returns one ``Grade`` per item, in order."""

    def verify(self, items: Sequence[VerifyItem]) -> list[Grade]: ...


VERIFIERS: Registry[Callable[..., Verifier]] = Registry("verifier")


def build_verifier(name: str, generator: Generator | None = None, **options) -> Verifier:
    """Build the verifier registered as ``name``.

    Args:
        name: a registered name ("rule", "llm", "llm_only", "rule_then_llm") or ``module:attr``.
        generator: the LLM backend, required by every policy that asks an LLM.
        **options: passed to the verifier's constructor.

    Returns:
        A ready ``Verifier``.
    """
    return VERIFIERS.get(name)(generator=generator, **options)
