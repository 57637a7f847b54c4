"""Trajectory extraction (paper §3.2, App. A.3): correctness filter, corrective trajectories, consensus.

From one shard's agent rounds (``inputs.agent_rounds``) build one ``trajectories`` row per
(question, agent):

* an agent's *final round* is the last round it has a row for (consensus stop can end a
  question early), its ``trace`` is that round's response;
* A_correct = agents whose final-round answer is correct; ``n_correct_final`` = |A_correct|;
  ``kept`` = |A_correct| >= ``min_correct`` (paper: 2), else the question is dropped from
  augmentation;
* ``rounds_correct`` = per round 1 (correct), 0 (incorrect), -1 (ungradable), -2 (truncated:
  cut off at ``max_tokens``, never correct);
* ``is_corrective``: correct in its final round after being incorrect or ungradable in an
  earlier one (the trajectories the paper prefers); a round that was merely cut off is no error
  the debate fixed;
* ``consensus_answer``: the majority final answer among the question's agents, up to
  ``grade`` equivalence, ties to the earliest agent (as ``mas.base.majority``).

Example:
    >>> rounds = agent_rounds(turns, labels)                   # doctest: +SKIP
    >>> table, stats = build_trajectories(rounds, questions)   # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agentark_core.data.question import Question
from agentark_core.extract.counts import Counts
from agentark_core.extract.inputs import ROUND_COLUMNS, STATUS_CODES, questions_by_id, require_columns
from agentark_core.mas.base import same_answer

TRAJECTORY_COLUMNS = (
    "question_id",
    "agent_id",
    "n_correct_final",
    "kept",
    "final_correct",
    "is_corrective",
    "rounds_correct",
    "consensus_answer",
    "trace",
)


@dataclass(frozen=True)
class TrajectoryStats(Counts):
    """Counts of one extraction run (add shards with ``+``)."""

    questions: int = 0
    kept: int = 0
    dropped: int = 0
    trajectories: int = 0
    corrective: int = 0


def _starts(values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal consecutive values begins (``values`` grouped, non-empty)."""
    change = np.ones(len(values), dtype=bool)
    change[1:] = values[1:] != values[:-1]
    return np.flatnonzero(change)


def build_trajectories(
    rounds: pd.DataFrame, questions: pd.DataFrame | dict[str, Question], min_correct: int = 2
) -> tuple[pd.DataFrame, TrajectoryStats]:
    """One ``trajectories`` row per (question, agent) of a shard.

    Args:
        rounds: ``inputs.agent_rounds`` output (sorted by question, agent, round).
        questions: the shard's ``questions`` rows, or ``questions_by_id`` of them.
        min_correct: the least |A_correct| for a question to be kept (paper: 2).

    Returns:
        ``(trajectories, stats)``; trajectories has exactly ``TRAJECTORY_COLUMNS``.
    """
    if not isinstance(min_correct, int) or min_correct < 1:
        raise ValueError(f"min_correct must be an int >= 1, got {min_correct!r}")
    require_columns(rounds, ROUND_COLUMNS, "agent rounds")
    if rounds.empty:
        return pd.DataFrame({c: [] for c in TRAJECTORY_COLUMNS}), TrajectoryStats()
    qid = rounds["question_id"].to_numpy()
    agent_key = qid + "\x00" + rounds["agent_id"].to_numpy().astype(str)
    starts = _starts(agent_key)
    ends = np.r_[starts[1:], len(rounds)] - 1  # each agent's final round
    codes = rounds["status"].map(STATUS_CODES).to_numpy(dtype=np.int64)
    n_wrong_rounds = np.add.reduceat(((codes == 0) | (codes == -1)).astype(np.int64), starts)
    final_correct = codes[ends] == 1
    final = rounds.iloc[ends].reset_index(drop=True)
    out = pd.DataFrame({"question_id": final["question_id"], "agent_id": final["agent_id"].astype(np.int64)})
    q_starts = _starts(final["question_id"].to_numpy())
    per_question = np.add.reduceat(final_correct.astype(np.int64), q_starts)
    out["n_correct_final"] = np.repeat(per_question, np.diff(np.r_[q_starts, len(final)]))
    out["kept"] = out["n_correct_final"] >= min_correct
    out["final_correct"] = final_correct
    out["is_corrective"] = final_correct & (n_wrong_rounds > 0)  # the final round is correct, so not counted
    code_list = codes.tolist()
    out["rounds_correct"] = [code_list[a : b + 1] for a, b in zip(starts.tolist(), ends.tolist())]
    out["consensus_answer"] = _consensus(final, questions)
    out["trace"] = final["response"].astype(str)
    kept = int((per_question >= min_correct).sum())
    stats = TrajectoryStats(
        questions=len(q_starts),
        kept=kept,
        dropped=len(q_starts) - kept,
        trajectories=len(out),
        corrective=int(out["is_corrective"].sum()),
    )
    return out[list(TRAJECTORY_COLUMNS)], stats


def _consensus(final: pd.DataFrame, questions: pd.DataFrame | dict[str, Question]) -> list[str | None]:
    """The majority final answer of each question, repeated on each of its agents' rows."""
    qid = final["question_id"].to_numpy()
    answers = final["answer"].tolist()
    starts = _starts(qid).tolist() + [len(qid)]
    lookup: dict[str, Question] | None = None
    out: list[str | None] = []
    for a, b in itertools.pairwise(starts):
        group = [x if isinstance(x, str) else None for x in answers[a:b]]
        distinct = set(group)
        if len(distinct) == 1:
            winner = group[0]  # unanimous (or nothing extracted): no grading needed
        else:
            if lookup is None:
                lookup = questions_by_id(questions, set(qid))
            winner = _majority(group, lookup[qid[a]])
        out.extend([winner] * (b - a))
    return out


def _majority(answers: list[str | None], question: Question) -> str | None:
    """``mas.base.majority`` with equal strings counted first: one equivalence test per distinct answer.

    Same result (clusters up to ``grade`` equivalence, ties to the earliest agent), far fewer
    ``grade`` calls when agents repeat each other's answer strings.
    """
    clusters: list[list] = []  # [representative, size], in order of first appearance
    for answer, n in Counter(a for a in answers if a is not None).items():
        home = next((c for c in clusters if same_answer(c[0], answer, question)), None)
        if home is None:
            clusters.append([answer, n])
        else:
            home[1] += n
    return max(clusters, key=lambda c: c[1])[0] if clusters else None
