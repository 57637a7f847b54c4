"""MAD: Multi-Agents Debate with an affirmative side, a negative side and a judge (Liang et al. 2023).

Round 1: the affirmative (agent 0) answers; the negative (agent 1) sees that answer
and argues against it with its own. Round k > 1: the affirmative answers the
negative's last argument, then the negative answers the affirmative's new reply.
Because the negative reacts to the affirmative of the SAME round, each round is two
batched ``generate`` calls (affirmative step, negative step) across all open
questions. Debaters get fresh bounded chats (problem, own last answer, the other
side's latest turn); context is sent in round 1 and to the judge only unless
``repeat_context``. With ``consensus_stop`` a question ends when both sides'
answers agree. The judge (agent_id -1, round K_q + 1) reads the whole transcript
and decides the final answer, one batched call for all questions.
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
    register_protocol,
    run_round,
    same_answer,
)

AFFIRMATIVE_ID, NEGATIVE_ID = 0, 1


@dataclass(frozen=True)
class MadConfig(SamplingConfig):
    """MAD settings.

    Args:
        rounds: maximum debate rounds K (each = affirmative step + negative step).
        consensus_stop: end a question's debate once both sides' answers agree.
        repeat_context: also send ``Question.context`` in rounds > 1.
    """

    rounds: int = 3
    consensus_stop: bool = True
    repeat_context: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "rounds")


def _reply_chat(question: Question, own: Turn, prompt: str, config: MadConfig) -> tuple:
    """Round-k>1 chat: problem, the speaker's last answer, then the other side's turn."""
    problem = prompts.first_prompt(question, with_context=config.repeat_context)
    return (
        {"role": "user", "content": problem},
        {"role": "assistant", "content": own.response},
        {"role": "user", "content": prompt},
    )


def _affirmative_slot(q: Question, k: int, last: dict[str, list[Turn]], config: MadConfig) -> Slot:
    if k == 1:
        messages = ({"role": "user", "content": prompts.first_prompt(q)},)
    else:
        own, negative = last[q.question_id]
        messages = _reply_chat(q, own, prompts.mad_affirmative_reply(q, negative.response), config)
    return Slot(q, AFFIRMATIVE_ID, "affirmative", k, messages)


def _negative_slot(
    q: Question, k: int, affirmative: Turn, last: dict[str, list[Turn]], config: MadConfig
) -> Slot:
    if k == 1:
        messages = ({"role": "user", "content": prompts.mad_negative_open(q, affirmative.response)},)
    else:
        own = last[q.question_id][1]
        messages = _reply_chat(q, own, prompts.mad_negative_reply(q, affirmative.response), config)
    return Slot(q, NEGATIVE_ID, "negative", k, messages)


@register_protocol("mad", MadConfig)
def run_mad(questions: Sequence[Question], generator: Generator, config: MadConfig) -> list[Turn]:
    """Run MAD over all questions: two batched calls per round, then one batched judge call.

    Returns:
        Per round, the affirmative turns then the negative turns of the open questions;
        then one judge turn per question (agent_id -1, round K_q + 1).
    """
    history: list[Turn] = []
    last: dict[str, list[Turn]] = {}  # question_id -> [affirmative, negative] of its latest round
    active = list(questions)
    for k in range(1, config.rounds + 1):
        aff_slots = [_affirmative_slot(q, k, last, config) for q in active]
        affirmative = run_round(aff_slots, generator, config.sampling(2 * k - 2), "mad")
        neg_slots = [_negative_slot(q, k, a, last, config) for q, a in zip(active, affirmative)]
        negative = run_round(neg_slots, generator, config.sampling(2 * k - 1), "mad")
        history += affirmative + negative
        for q, a, n in zip(active, affirmative, negative):
            last[q.question_id] = [a, n]
        if config.consensus_stop:
            active = [q for q in active if not same_answer(*(t.answer for t in last[q.question_id]), q)]
    return history + _judge(questions, history, last, generator, config)


def _judge(
    questions: Sequence[Question], history: Sequence[Turn], last: dict[str, list[Turn]],
    generator: Generator, config: MadConfig,
) -> list[Turn]:
    transcripts: dict[str, list[tuple[int, str, str]]] = {}
    for t in history:
        transcripts.setdefault(t.question_id, []).append((t.round, t.role, t.response))
    slots = []
    for q in questions:
        prompt = prompts.mad_judge(q, transcripts[q.question_id])
        round_ = last[q.question_id][0].round + 1
        slots.append(Slot(q, AGGREGATOR_ID, "judge", round_, ({"role": "user", "content": prompt},)))
    return run_round(slots, generator, config.sampling(2 * config.rounds), "mad")
