"""Reading one shard of extraction inputs: questions, debate turns and their labels (paper §3.2).

The debate stage shards by question, so every row of a question is in the same shard and
each function here works on one shard at a time (bounded memory, no global group-by).

``agent_rounds(turns, labels)`` joins the agents' turns (aggregator/judge rows, agent_id -1,
are left out) with their labels into one frame sorted by (question_id, agent_id, round) with
columns ``ROUND_COLUMNS``; every gap or mismatch fails naming the offending row.

Two recipe switches act here, so every set built from the rounds sees the same traces:

* ``include_truncated`` (default False): a reply cut off at ``max_tokens`` keeps its label status
  "truncated" (never correct, so never an R-SFT/DA target nor a PRM trace); True grades it by its
  verifier ``verdict`` like any other reply.
* ``include_reasoning`` (default False): a trace is the reply without its think block (``response``);
  True puts the reasoning back in front (``<think>R</think>\n\nA``), so SFT targets and PRM steps hold it.
  Off by default because the debate, the labels and the paper's traces are the visible solutions,
  a Qwen3 think block alone runs to thousands of tokens (past the SFT ``max_length`` of 2048, cutting
  the answer span off the target) and a student trained on it must then be run with thinking on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from agentark_core.data.question import Question
from agentark_core.llm.reasoning import with_reasoning

KEYS = ["question_id", "agent_id", "round"]
TURN_COLUMNS = (*KEYS, "response")
LABEL_COLUMNS = (*KEYS, "answer", "status")
QUESTION_COLUMNS = ("question_id", "dataset", "split", "task_type", "query", "gt", "context", "choices")
ROUND_COLUMNS = (*KEYS, "response", "answer", "status")
STATUS_CODES = {"correct": 1, "incorrect": 0, "ungradable": -1, "truncated": -2}


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a ValueError naming the columns of ``what`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")


def _first_key(df: pd.DataFrame, mask, keys=KEYS) -> str:
    row = df.loc[np.asarray(mask)].iloc[0]
    return ", ".join(f"{k}={row[k]!r}" for k in keys)


def agent_rounds(
    turns: pd.DataFrame, labels: pd.DataFrame, include_truncated: bool = False, include_reasoning: bool = False
) -> pd.DataFrame:
    """Join the agents' debate turns with their labels.

    Args:
        turns: ``debate_turns`` rows of one shard.
        labels: ``labels`` rows of the same shard.
        include_truncated: grade cut-off replies by their ``verdict`` instead of "truncated".
        include_reasoning: traces hold the reasoning (think block) before the reply.

    Returns:
        One row per (question, agent >= 0, round), columns ``ROUND_COLUMNS``, sorted by
        (question_id, agent_id, round), with a clean RangeIndex.
    """
    require_columns(turns, TURN_COLUMNS + (("reasoning",) if include_reasoning else ()), "debate_turns")
    require_columns(labels, LABEL_COLUMNS + (("verdict",) if include_truncated else ()), "labels")
    agents = (turns["agent_id"] >= 0).to_numpy()
    t = turns.loc[agents, list(TURN_COLUMNS)]
    if include_reasoning:  # by position, not index label: shards read back may repeat index values
        replies = zip(turns.loc[agents, "reasoning"].tolist(), t["response"].tolist())
        t = t.assign(response=[with_reasoning(r or "", a) for r, a in replies])
    labelled = (labels["agent_id"] >= 0).to_numpy()
    lab = labels.loc[labelled, list(LABEL_COLUMNS)]
    if include_truncated:
        verdict = labels.loc[labelled, "verdict"].to_numpy()
        lab = lab.assign(status=np.where(lab["status"].to_numpy() == "truncated", verdict, lab["status"].to_numpy()))
    for df, what in ((t, "debate_turns"), (lab, "labels")):
        dup = df.duplicated(KEYS)
        if dup.any():
            raise ValueError(f"{what}: duplicate row for {_first_key(df, dup)}")
    merged = t.merge(lab, on=KEYS, how="left", sort=False)
    unlabeled = merged["status"].isna()
    if unlabeled.any():
        raise ValueError(f"labels: no label for the debate turn {_first_key(merged, unlabeled)}")
    bad = ~merged["status"].isin(list(STATUS_CODES))
    if bad.any():
        raise ValueError(
            f"labels: status {merged.loc[bad, 'status'].iloc[0]!r} at {_first_key(merged, bad)}; "
            f"valid: {list(STATUS_CODES)}"
        )
    merged = merged.sort_values(KEYS, kind="stable", ignore_index=True)
    _check_rounds_contiguous(merged)
    return merged


def _check_rounds_contiguous(rounds: pd.DataFrame) -> None:
    """Each agent's rounds must be exactly 1..r (rounds_correct is indexed by round)."""
    r = rounds["round"].to_numpy()
    new_agent = np.ones(len(r), dtype=bool)
    if len(r):
        same = (rounds["question_id"].to_numpy()[1:] == rounds["question_id"].to_numpy()[:-1]) & (
            rounds["agent_id"].to_numpy()[1:] == rounds["agent_id"].to_numpy()[:-1]
        )
        new_agent[1:] = ~same
    expected = np.where(new_agent, 1, np.r_[0, r[:-1]] + 1) if len(r) else r
    gap = r != expected
    if gap.any():
        raise ValueError(
            f"debate_turns: agent rounds must run 1, 2, ... without gaps; unexpected {_first_key(rounds, gap)}"
        )


def question_from_row(row: Mapping[str, Any]) -> Question:
    """A ``Question`` from a ``questions`` row (dict or Series; ``choices`` may be a numpy array)."""
    missing = [c for c in QUESTION_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"questions row {row.get('question_id')!r}: missing field(s) {missing}")
    choices = row["choices"]
    return Question(
        dataset=row["dataset"],
        split=row["split"],
        task_type=row["task_type"],
        query=row["query"],
        gt=row["gt"],
        context=row["context"] or "",
        choices=() if choices is None else tuple(str(c) for c in choices),
        question_id=row["question_id"],
    )


def questions_by_id(
    questions: pd.DataFrame | dict[str, Question], needed: Iterable[str]
) -> dict[str, Question]:
    """``Question`` records of the ``needed`` question ids, each of which must be in ``questions``.

    Args:
        questions: ``questions`` rows, or an already-built ``{question_id: Question}`` (returned as is).
        needed: the question ids the caller will look up.
    """
    wanted = set(needed)
    if isinstance(questions, dict):
        missing = sorted(wanted - questions.keys())
        if missing:
            raise ValueError(f"questions: no row for question_id(s) {missing[:5]} used by the debate log")
        return questions
    require_columns(questions, QUESTION_COLUMNS, "questions")
    rows = questions.loc[questions["question_id"].isin(wanted), list(QUESTION_COLUMNS)]
    columns = [rows[c].tolist() for c in QUESTION_COLUMNS]  # column lists: far faster than to_dict rows
    out = {values[0]: question_from_row(dict(zip(QUESTION_COLUMNS, values))) for values in zip(*columns)}
    missing = sorted(wanted - out.keys())
    if missing:
        raise ValueError(f"questions: no row for question_id(s) {missing[:5]} used by the debate log")
    return out
