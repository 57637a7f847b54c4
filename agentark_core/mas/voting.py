"""Single-round protocols: ``cot`` (one agent, the single-agent baseline) and ``self_consistency``.

``self_consistency`` draws n independent samples of the round-1 prompt in one
batched call and adds one aggregator row per question holding the majority vote
(no model call: response "majority vote", 0 tokens, 0 s, empty messages). Votes
compare extracted answers up to ``grade`` equivalence; ties go to the earliest agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentark_core.data.question import Question
from agentark_core.llm.types import Generator
from agentark_core.mas import prompts
from agentark_core.mas.base import (
    AGGREGATOR_ID,
    SamplingConfig,
    Slot,
    Turn,
    check_positive,
    majority,
    prompt_hash,
    register_protocol,
    run_round,
)

VOTE_RESPONSE = "majority vote"


@dataclass(frozen=True)
class CotConfig(SamplingConfig):
    """Single-agent chain-of-thought: one agent, one round; only sampling settings."""


@dataclass(frozen=True)
class SelfConsistencyConfig(SamplingConfig):
    """Self-consistency: ``n_agents`` independent samples per question, majority vote."""

    n_agents: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "n_agents")


def _sample(questions: Sequence[Question], n: int, generator: Generator, config: SamplingConfig, name: str):
    messages = {q.question_id: ({"role": "user", "content": prompts.first_prompt(q)},) for q in questions}
    slots = [Slot(q, a, "agent", 1, messages[q.question_id]) for q in questions for a in range(n)]
    return run_round(slots, generator, config.sampling(0), name)


@register_protocol("cot", CotConfig)
def run_cot(questions: Sequence[Question], generator: Generator, config: CotConfig) -> list[Turn]:
    """One answer per question in one batched call; returns one agent turn (agent 0, round 1) each."""
    return _sample(questions, 1, generator, config, "cot")


@register_protocol("self_consistency", SelfConsistencyConfig)
def run_self_consistency(
    questions: Sequence[Question], generator: Generator, config: SelfConsistencyConfig
) -> list[Turn]:
    """n samples per question in one batched call, then one vote row per question.

    Returns:
        n agent turns (round 1) per question, then one aggregator turn per question
        (agent_id -1, round 2) whose ``answer`` is the majority (None if nothing was extracted).
    """
    samples = _sample(questions, config.n_agents, generator, config, "self_consistency")
    answers: dict[str, list[str | None]] = {}
    for t in samples:
        answers.setdefault(t.question_id, []).append(t.answer)
    votes = [
        Turn(
            question_id=q.question_id, protocol="self_consistency", agent_id=AGGREGATOR_ID,
            role="aggregator", round=2, messages=(), prompt_hash=prompt_hash(()),
            response=VOTE_RESPONSE, answer=majority(answers[q.question_id], q),
            prompt_tokens=0, completion_tokens=0, latency_s=0.0,
        )
        for q in questions
    ]
    return samples + votes
