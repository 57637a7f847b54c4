"""Prompt templates of every MAS protocol, in one place (paper §3.2, App. A.2).

Kept short and as plain ``str.format`` templates so the toy world can build its
vocabulary from ``TEMPLATES``. Debate wording follows Du et al. / the AgentArk
reference ("These are the solutions to the problem from other agents ..."); MAD
wording follows Liang et al. (affirmative, negative, judge).
"""

from __future__ import annotations

from collections.abc import Sequence

from agentark_core.data.question import Question

CONTEXT = "Context:\n{context}\n\n"
CHOICE = "{letter}) {text}"
ANSWER_FORMAT = "Solve the problem step by step and state your final answer at the end as 'Final Answer: X'."
ANSWER_FORMAT_MCQ = (
    "Solve the problem step by step and state your final answer at the end as 'Final Answer: X', "
    "where X is the letter of the correct option."
)

PEER = "Agent {agent_id}: {response}"
DEBATE_UPDATE = (
    "These are the solutions to the problem from other agents:\n\n{peers}\n\n"
    "Using the reasoning from other agents as additional advice, give an updated answer. {answer_format}"
)
AGGREGATE = (
    "{question}\n\nThese are the final solutions to the problem from {n_agents} agents:\n\n{solutions}\n\n"
    "Summarise these solutions and decide the final answer. {answer_format}"
)

MAD_NEGATIVE_OPEN = (
    "{question}\n\nThe affirmative side answered:\n\n{affirmative}\n\n"
    "You are the negative side. Argue against this answer and give your own. {answer_format}"
)
MAD_AFFIRMATIVE_REPLY = (
    "The negative side argued:\n\n{negative}\n\n"
    "Defend your answer or revise it if the argument is right. {answer_format}"
)
MAD_NEGATIVE_REPLY = (
    "The affirmative side replied:\n\n{affirmative}\n\n"
    "Argue against it, or agree if it is correct. {answer_format}"
)
MAD_TRANSCRIPT_ENTRY = "Round {round} {role}: {response}"
MAD_JUDGE = (
    "{question}\n\nTwo debaters argued about this problem.\n\n{transcript}\n\n"
    "You are the judge. Decide which answer is correct. {answer_format}"
)

TEMPLATES: tuple[str, ...] = (
    CONTEXT, CHOICE, ANSWER_FORMAT, ANSWER_FORMAT_MCQ, PEER, DEBATE_UPDATE, AGGREGATE,
    MAD_NEGATIVE_OPEN, MAD_AFFIRMATIVE_REPLY, MAD_NEGATIVE_REPLY, MAD_TRANSCRIPT_ENTRY, MAD_JUDGE,
)


def answer_format(question: Question) -> str:
    """The 'Final Answer: X' instruction suited to the question's task type."""
    return ANSWER_FORMAT_MCQ if question.task_type == "mcq" else ANSWER_FORMAT


def question_text(question: Question, with_context: bool) -> str:
    """The problem as shown to a model: optional context, the query, lettered choices.

    Args:
        question: the question record.
        with_context: include ``question.context`` (long-context datasets) when non-empty.

    Returns:
        The problem text, without the answer-format instruction.
    """
    parts = [CONTEXT.format(context=question.context)] if with_context and question.context else []
    parts.append(question.query)
    if question.choices:
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        lines = [CHOICE.format(letter=letters[i], text=c) for i, c in enumerate(question.choices)]
        parts.append("\n" + "\n".join(lines))
    return "".join(parts)


def first_prompt(question: Question, with_context: bool = True) -> str:
    """Round-1 prompt: the problem and the answer-format instruction."""
    return f"{question_text(question, with_context)}\n\n{answer_format(question)}"


def debate_update(question: Question, peers: Sequence[tuple[int, str]]) -> str:
    """Round k>1 debate prompt listing the peers' previous-round solutions.

    Args:
        question: the question (only its task type is used, for the format line).
        peers: ``(agent_id, response)`` of every OTHER agent's round k-1 turn.
    """
    listed = "\n\n".join(PEER.format(agent_id=a, response=r) for a, r in peers)
    return DEBATE_UPDATE.format(peers=listed, answer_format=answer_format(question))


def aggregate(question: Question, solutions: Sequence[tuple[int, str]]) -> str:
    """Aggregator prompt: the full problem (context included) and the final-round solutions."""
    listed = "\n\n".join(PEER.format(agent_id=a, response=r) for a, r in solutions)
    return AGGREGATE.format(
        question=question_text(question, with_context=True),
        n_agents=len(solutions),
        solutions=listed,
        answer_format=answer_format(question),
    )


def mad_negative_open(question: Question, affirmative: str) -> str:
    """MAD round 1, negative side: the problem (with context) and the affirmative's answer."""
    return MAD_NEGATIVE_OPEN.format(
        question=question_text(question, with_context=True),
        affirmative=affirmative,
        answer_format=answer_format(question),
    )


def mad_affirmative_reply(question: Question, negative: str) -> str:
    """MAD round k>1, affirmative side: the negative's last argument."""
    return MAD_AFFIRMATIVE_REPLY.format(negative=negative, answer_format=answer_format(question))


def mad_negative_reply(question: Question, affirmative: str) -> str:
    """MAD round k>1, negative side: the affirmative's reply of this round."""
    return MAD_NEGATIVE_REPLY.format(affirmative=affirmative, answer_format=answer_format(question))


def mad_judge(question: Question, transcript: Sequence[tuple[int, str, str]]) -> str:
    """MAD judge prompt: the problem (with context) and every ``(round, role, response)`` of the debate."""
    entries = "\n\n".join(
        MAD_TRANSCRIPT_ENTRY.format(round=k, role=role, response=r) for k, role, r in transcript
    )
    return MAD_JUDGE.format(
        question=question_text(question, with_context=True),
        transcript=entries,
        answer_format=answer_format(question),
    )
