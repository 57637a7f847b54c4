"""Hand-built debate logs for the extraction tests: questions, turns and rule labels (real ``grade``)."""

from __future__ import annotations

import pandas as pd
import pytest

from agentark_core.answers import grade
from agentark_core.data.question import Question
from agentark_core.mas.base import prompt_hash


def build_log(spec: dict[Question, dict[int, list[str]]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``{question: {agent_id: [round-1 response, round-2 response, ...]}}`` -> (questions, turns, labels).

    Every question also gets an aggregator row (agent_id -1, round = last + 1) that extraction must ignore.
    Labels are the real rule verdicts of ``grade``.
    """
    questions, turns, labels = [], [], []
    for q, agents in spec.items():
        questions.append(q.to_row())
        last = max(len(r) for r in agents.values())
        entries = [(a, k, text) for a, responses in agents.items() for k, text in enumerate(responses, 1)]
        entries.append((-1, last + 1, f"Final Answer: {q.gt}"))
        for agent, rnd, text in entries:
            messages = [{"role": "user", "content": q.query}]
            g = grade(text, q.gt, q.task_type, q.choices)
            turns.append(
                {
                    "question_id": q.question_id,
                    "protocol": "debate",
                    "agent_id": agent,
                    "role": "agent" if agent >= 0 else "aggregator",
                    "round": rnd,
                    "messages_json": "[]",
                    "prompt_hash": prompt_hash(messages),
                    "response": text,
                    "answer": g.extracted,
                    "prompt_tokens": 1,
                    "completion_tokens": 1,
                    "latency_s": 0.0,
                }
            )
            labels.append(
                {
                    "question_id": q.question_id,
                    "agent_id": agent,
                    "role": turns[-1]["role"],
                    "round": rnd,
                    "answer": g.extracted,
                    "status": g.status,
                    "correct": g.correct,
                    "verifier": "rule",
                }
            )
    return pd.DataFrame(questions), pd.DataFrame(turns), pd.DataFrame(labels)


def math_q(query: str, gt: str) -> Question:
    return Question("hand", "train", "math", query, gt)


# q_fix: 3 agents, 2 rounds. Agent 0 right twice; agent 1 wrong then right (corrective);
# agent 2 unreadable then wrong. Final answers 5, 5, 7 -> kept, consensus "5".
Q_FIX = math_q("What is 2 + 3?", "5")
# q_early: consensus stop after round 1, all correct.
Q_EARLY = math_q("What is 4 * 2?", "8")
# q_drop: only agent 0 right in its final round -> dropped; majority (wrong) answer "10".
Q_DROP = math_q("What is 6 + 6?", "12")
# q_tie: final answers 3, 4.0, 4: "4.0" and "4" are one cluster up to grade equivalence -> "4.0"
# (the cluster's earliest member); two agents correct -> kept.
Q_TIE = math_q("What is 1 + 3?", "4")

HAND_LOG = {
    Q_FIX: {
        0: ["2 + 3 = 5\nFinal Answer: 5", "2 + 3 = 5\nFinal Answer: 5"],
        1: ["2 + 3 = 6\nFinal Answer: 6", "2 + 3 = 5\nFinal Answer: 5"],
        2: ["I am not sure.", "2 + 3 = 5\n5 + 2 = 7\nFinal Answer: 7"],
    },
    Q_EARLY: {0: ["4 * 2 = 8\nFinal Answer: 8"], 1: ["Final Answer: 8"], 2: ["2 * 4 = 8\nFinal Answer: 8"]},
    Q_DROP: {
        0: ["6 + 6 = 10\nFinal Answer: 10", "6 + 6 = 12\nFinal Answer: 12"],
        1: ["6 + 6 = 10\nFinal Answer: 10", "6 + 6 = 10\nFinal Answer: 10"],
        2: ["6 * 2 = 10\nFinal Answer: 10", "Final Answer: 10"],
    },
    Q_TIE: {0: ["Final Answer: 3"], 1: ["Final Answer: 4.0"], 2: ["Final Answer: 4"]},
}


@pytest.fixture
def hand_log():
    """(questions, turns, labels) of ``HAND_LOG``."""
    return build_log(HAND_LOG)


@pytest.fixture
def hand_questions():
    """The named questions of ``HAND_LOG``."""
    return {"fix": Q_FIX, "early": Q_EARLY, "drop": Q_DROP, "tie": Q_TIE}


@pytest.fixture
def make_log():
    """``make_log(spec)`` -> (questions, turns, labels); see ``build_log``."""
    return build_log
