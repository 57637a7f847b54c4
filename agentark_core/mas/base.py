"""Shared pieces of the MAS protocols: the ``Turn`` row, sampling config, batched rounds, voting.

Every protocol is a pure state machine batched across questions (paper §3.2): a
round collects one ``Slot`` per (active question, agent), sends them to the
generator in ONE ``generate`` call and turns the completions into ``Turn`` rows.

Answers are compared after extraction with ``agentark_core.answers.grade`` — the
one equivalence used by labels, rewards and evaluation — so "12.0" and "12" agree
on a math question. Majority ties go to the answer seen first (agent order).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from agentark_core.data.question import Question
from agentark_core.llm.reasoning import FINISH_REASONS, split_completion
from agentark_core.llm.types import ChatRequest, Generator, Message, SamplingParams
from agentark_core.registry import Registry

log = logging.getLogger(__name__)

ROLES = ("agent", "aggregator", "affirmative", "negative", "judge")
AGGREGATOR_ID = -1


def prompt_hash(messages: Sequence[Message]) -> str:
    """First 16 hex digits of the sha256 of the messages as JSON (stable key of a prompt)."""
    payload = json.dumps(list(messages), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Turn:
    """One output row of a protocol: one model call (or one vote) for one question.

    ``agent_id`` is -1 for aggregator/judge rows, whose ``round`` is the question's
    last debate round + 1. ``messages`` is the exact chat sent to the model.
    ``response`` is the reply without a reasoning model's think block, which is kept in
    ``reasoning`` (``llm.reasoning.split_reasoning``): answers are read from ``response`` only,
    and later rounds quote only ``response``. ``finish_reason`` is the backend's
    (stop | length | error); a "length" reply was cut off at ``max_tokens``.
    """

    question_id: str
    protocol: str
    agent_id: int
    role: str
    round: int
    messages: tuple[Message, ...]
    prompt_hash: str
    response: str
    answer: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    reasoning: str = ""
    finish_reason: str = "stop"

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"Turn.finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")
        if self.role not in ROLES:
            raise ValueError(f"Turn.role must be one of {ROLES}, got {self.role!r}")
        if self.round < 1:
            raise ValueError(f"Turn.round is 1-based, got {self.round}")

    def to_row(self) -> dict[str, Any]:
        """A flat dict for a table: ``messages`` becomes the JSON string column ``messages_json``."""
        row = asdict(self)
        row["messages_json"] = json.dumps(list(row.pop("messages")), ensure_ascii=False)
        return row


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding settings every protocol config carries.

    Agent diversity comes from temperature sampling: all agents share one teacher
    and (in round 1) one prompt. ``seed`` (when set) is offset by the call number,
    so each round draws fresh samples while a rerun reproduces the same ones.
    """

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        self.sampling(0)  # SamplingParams validates temperature, top_p and max_tokens

    def sampling(self, call_number: int) -> SamplingParams:
        """``SamplingParams`` for the protocol's ``call_number``-th generate call (0-based)."""
        seed = None if self.seed is None else self.seed + call_number
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, seed)


def check_positive(config: Any, *names: str) -> None:
    """Raise a ValueError naming the first of ``names`` that is not an int >= 1."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be an int >= 1, got {value!r}")


@dataclass(frozen=True)
class Slot:
    """One pending model call of a round: who speaks for which question, with what chat."""

    question: Question
    agent_id: int
    role: str
    round: int
    messages: tuple[Message, ...]


def run_round(
    slots: Sequence[Slot], generator: Generator, params: SamplingParams, protocol: str
) -> list[Turn]:
    """Send all slots of a round to the generator in ONE call and build their turns.

    Args:
        slots: the round's pending calls, across all active questions.
        generator: any ``Generator`` backend.
        params: sampling settings for this call.
        protocol: protocol name stored on every turn.

    Returns:
        One ``Turn`` per slot, in slot order: the reasoning split off each reply, the answer
        extracted from the rest per task type. A reply cut off at ``max_tokens`` (or stopped inside
        its think block) has no answer (None): whatever number it broke off near is not its answer,
        so consensus and votes leave it out.
    """
    if not slots:
        return []
    from agentark_core.answers import extract_answer

    completions = generator.generate([ChatRequest(messages=s.messages) for s in slots], params)
    if len(completions) != len(slots):
        raise ValueError(f"generator returned {len(completions)} completions for {len(slots)} requests")
    turns = []
    for slot, c in zip(slots, completions):
        q = slot.question
        reply = split_completion(c.text, c.reasoning)
        cut_off = c.finish_reason == "length" or reply.unterminated
        turns.append(Turn(
            question_id=q.question_id, protocol=protocol, agent_id=slot.agent_id, role=slot.role,
            round=slot.round, messages=slot.messages, prompt_hash=prompt_hash(slot.messages),
            response=reply.answer, answer=None if cut_off else extract_answer(reply.answer, q.task_type, q.choices),
            prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, latency_s=c.latency_s,
            reasoning=reply.reasoning, finish_reason=c.finish_reason,
        ))
    return turns


def same_answer(a: str | None, b: str | None, question: Question) -> bool:
    """Whether two extracted answers are equivalent for this question (None never agrees)."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    from agentark_core.answers import grade

    return bool(grade(a, b, question.task_type, question.choices).correct)


def majority(answers: Sequence[str | None], question: Question) -> str | None:
    """The most common answer up to equivalence; ties go to the earliest; None if no answers.

    Example:
        majority(["4", "5", "4.0", None], q) -> "4"   (for a math question)
    """
    clusters: list[list[str]] = []
    for a in answers:
        if a is None:
            continue
        home = next((c for c in clusters if same_answer(c[0], a, question)), None)
        if home is None:
            clusters.append([a])
        else:
            home.append(a)
    if not clusters:
        return None
    return max(clusters, key=len)[0]  # max keeps the first of equal-length clusters


def consensus(answers: Sequence[str | None], question: Question) -> bool:
    """True when every answer was extracted and all are equivalent to the first."""
    return bool(answers) and all(same_answer(answers[0], a, question) for a in answers)


@dataclass(frozen=True)
class ProtocolSpec:
    """A registered protocol: its config dataclass and its batched ``run`` function."""

    config_cls: type
    run: Callable[[Sequence[Question], Generator, Any], list[Turn]]


PROTOCOLS: Registry[ProtocolSpec] = Registry("protocol")


def register_protocol(name: str, config_cls: type) -> Callable:
    """Decorator: register ``run(questions, generator, config) -> list[Turn]`` under ``name``."""

    def decorator(run: Callable) -> Callable:
        PROTOCOLS.register(name)(ProtocolSpec(config_cls, run))
        return run

    return decorator


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Build protocol ``name``'s config from a recipe mapping; unknown keys fail with the valid ones."""
    spec = PROTOCOLS.get(name)
    valid = {f.name for f in fields(spec.config_cls)}
    unknown = sorted(set(overrides or {}) - valid)
    if unknown:
        raise ValueError(f"unknown {name} config key(s) {unknown}; valid: {sorted(valid)}")
    return spec.config_cls(**(overrides or {}))


def run_protocol(
    name: str, questions: Sequence[Question], generator: Generator, config: Any = None
) -> list[Turn]:
    """Run MAS protocol ``name`` over all questions, batched by round.

    Args:
        name: a registered protocol (``PROTOCOLS.names()``).
        questions: questions with distinct ``question_id``.
        generator: any ``Generator`` backend.
        config: the protocol's config dataclass; None uses its defaults.

    Returns:
        Every turn of every round for every question, then aggregator/judge rows.
    """
    spec = PROTOCOLS.get(name)
    config = spec.config_cls() if config is None else config
    if not isinstance(config, spec.config_cls):
        raise TypeError(f"protocol {name!r} takes a {spec.config_cls.__name__}, got {type(config).__name__}")
    counts = Counter(q.question_id for q in questions)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate question_id(s) {duplicates[:5]}: protocols key state by question_id")
    log.info("running %s on %d questions with %s", name, len(questions), config)
    return spec.run(questions, generator, config)
