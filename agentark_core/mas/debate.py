"""Multi-agent debate (paper §3.2, App. A.2; Du et al.): n agents, up to K rounds, then an aggregator.

Round 1: every agent answers the problem independently. Round k > 1: agent i gets
a fresh three-message chat — the problem, its own round k-1 answer (as its
assistant turn) and its PEERS' round k-1 answers with the instruction to revise.
Agents thus keep independent contexts of bounded length (only their last answer,
not the whole history). Long-context datasets send ``Question.context`` in round 1
and to the aggregator only, unless ``repeat_context``. A question stops early once
all agents' extracted answers agree (``consensus_stop``) and leaves later rounds'
batches. Finally one aggregator call per question (one batch for all questions)
summarises the final-round solutions. Every round's turns are returned: corrective
trajectory mining needs the early rounds.

Example:
    >>> config = DebateConfig(n_agents=3, rounds=2)
    >>> turns = run_protocol("debate", questions, generator, config)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from agentark_core.data.question import Question
from agentark_core.llm.types import Generator, SamplingParams
from agentark_core.mas import prompts
from agentark_core.mas.base import (
    AGGREGATOR_ID,
    SamplingConfig,
    Slot,
    Turn,
    check_positive,
    consensus,
    register_protocol,
    run_round,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DebateConfig(SamplingConfig):
    """Debate settings; paper defaults n = 5 agents, K = 3 rounds.

    Args:
        n_agents: agents per question (>= 2: an agent needs peers).
        rounds: maximum rounds K (>= 1).
        consensus_stop: drop a question from later rounds once all agents agree.
        repeat_context: also send ``Question.context`` in rounds > 1.
        aggregator_temperature: decoding temperature of the aggregator call; None = the agents'
            ``temperature``. Agents sample for diversity, but the aggregator decides: 0 makes it greedy.
    """

    n_agents: int = 5
    rounds: int = 3
    consensus_stop: bool = True
    repeat_context: bool = False
    aggregator_temperature: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "n_agents", "rounds")
        self.aggregator_sampling()  # validates aggregator_temperature
        if self.n_agents < 2:
            raise ValueError(
                f"DebateConfig.n_agents must be >= 2 (agents need peers), got {self.n_agents}; "
                "use protocol 'cot' or 'self_consistency' for a single agent"
            )

    def aggregator_sampling(self) -> SamplingParams:
        """Decoding of the aggregator call (the protocol's last generate call)."""
        params = self.sampling(self.rounds)
        if self.aggregator_temperature is None:
            return params
        return dataclasses.replace(params, temperature=self.aggregator_temperature)


def _first_slot(question: Question, agent_id: int) -> Slot:
    messages = ({"role": "user", "content": prompts.first_prompt(question)},)
    return Slot(question, agent_id, "agent", 1, messages)


def _update_slot(question: Question, own: Turn, previous: Sequence[Turn], config: DebateConfig) -> Slot:
    """Agent ``own.agent_id``'s next-round chat: problem, own last answer, peers' last answers."""
    peers = [(t.agent_id, t.response) for t in previous if t.agent_id != own.agent_id]
    messages = (
        {"role": "user", "content": prompts.first_prompt(question, with_context=config.repeat_context)},
        {"role": "assistant", "content": own.response},
        {"role": "user", "content": prompts.debate_update(question, peers)},
    )
    return Slot(question, own.agent_id, "agent", own.round + 1, messages)


def _by_question(turns: Sequence[Turn]) -> dict[str, list[Turn]]:
    grouped: dict[str, list[Turn]] = {}
    for t in turns:
        grouped.setdefault(t.question_id, []).append(t)
    return grouped


def _still_open(
    active: Sequence[Question], latest: dict[str, list[Turn]], config: DebateConfig
) -> list[Question]:
    if not config.consensus_stop:
        return list(active)
    return [q for q in active if not consensus([t.answer for t in latest[q.question_id]], q)]


@register_protocol("debate", DebateConfig)
def run_debate(questions: Sequence[Question], generator: Generator, config: DebateConfig) -> list[Turn]:
    """Run the debate over all questions, one ``generate`` call per round plus one for aggregation.

    Args:
        questions: questions with distinct ids.
        generator: any ``Generator``; batch size of round k = (questions still open) x n_agents.
        config: a ``DebateConfig``.

    Returns:
        Turns of every round (role "agent", rounds 1..K_q) followed by one aggregator
        turn per question (agent_id -1, round K_q + 1), where K_q is the question's last round.
    """
    if config.temperature == 0:
        log.warning("debate at temperature 0: identical round-1 prompts give identical agents")
    slots = [_first_slot(q, a) for q in questions for a in range(config.n_agents)]
    history = run_round(slots, generator, config.sampling(0), "debate")
    latest = _by_question(history)
    active = _still_open(questions, latest, config)
    for k in range(2, config.rounds + 1):
        log.info("debate round %d: %d/%d questions still open", k, len(active), len(questions))
        slots = [
            _update_slot(q, own, latest[q.question_id], config)
            for q in active for own in latest[q.question_id]
        ]
        turns = run_round(slots, generator, config.sampling(k - 1), "debate")
        history.extend(turns)
        latest.update(_by_question(turns))
        active = _still_open(active, latest, config)
    return history + _aggregate(questions, latest, generator, config)


def _aggregate(
    questions: Sequence[Question], latest: dict[str, list[Turn]], generator: Generator, config: DebateConfig
) -> list[Turn]:
    """One batched aggregator call: each question's final-round solutions -> a final answer."""
    slots = []
    for q in questions:
        final = latest[q.question_id]
        solutions = [(t.agent_id, t.response) for t in final]
        messages = ({"role": "user", "content": prompts.aggregate(q, solutions)},)
        slots.append(Slot(q, AGGREGATOR_ID, "aggregator", final[0].round + 1, messages))
    return run_round(slots, generator, config.aggregator_sampling(), "debate")
