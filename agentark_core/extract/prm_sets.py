"""PRM step-labelled set (paper §3.3.3, App. B.1): one row per trace, split into labelled steps.

Traces come from kept questions only (their >= ``min_correct`` correct traces are the
reference for what a good step looks like):

* source "correct": every correct final trace; every step is labelled 1;
* source "incorrect": every final trace whose answer is incorrect;
* source "corrective": the incorrect earlier-round traces of corrective agents (the wrong turn
  the debate later fixed).

Labelling rule for an incorrect trace: walk its steps in order; a step is 1 while it equals
(whitespace-normalised) the step at the SAME position of at least one correct trace of the
question, and from the first step that matches none of them every step is 0 — an error
propagates. If no step diverges (the trace is a prefix of a correct one that never reaches the
right answer) its last step is 0, so every incorrect trace carries a negative. Ungradable
traces are left out (their correctness is unknown). A question without incorrect traces still
gives positives (enough for the BCE loss; the contrastive loss needs negatives at a position).

Steps come from a registered splitter (``steps.STEP_SPLITTERS``); train the PRM with the
matching ``step_separator``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from agentark_core.data.question import Question
from agentark_core.extract.inputs import ROUND_COLUMNS, questions_by_id, require_columns
from agentark_core.extract.sft_sets import student_prompt
from agentark_core.extract.steps import STEP_SPLITTERS
from agentark_core.extract.trajectories import TRAJECTORY_COLUMNS

PRM_COLUMNS = ("question_id", "trace_id", "prompt", "steps", "step_labels", "is_correct", "source")
SOURCES = ("correct", "incorrect", "corrective")


def trace_id(question_id: str, agent_id: int, round_: int) -> str:
    """Stable id of one agent's trace in one round."""
    return hashlib.sha256(f"{question_id}\x00{agent_id}\x00{round_}".encode()).hexdigest()[:16]


def _normal(step: str) -> str:
    return " ".join(step.split())


def divergence_labels(steps: list[str], reference: list[set[str]]) -> list[int]:
    """Labels of an incorrect trace's steps against the correct steps seen at each position.

    Args:
        steps: the trace's steps.
        reference: ``reference[j]`` = the whitespace-normalised steps the correct traces have at position j.

    Returns:
        1 before the first diverging step, 0 from it on (last step 0 when none diverges).

    Example:
        >>> divergence_labels(["a", "b", "c"], [{"a"}, {"x", "y"}, {"c"}])
        [1, 0, 0]
    """
    for j, step in enumerate(steps):
        if j >= len(reference) or _normal(step) not in reference[j]:
            return [1] * j + [0] * (len(steps) - j)
    return [1] * (len(steps) - 1) + [0] if steps else []


def _candidates(trajectories: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """Kept questions' traces to label: question_id, agent_id, round, trace, source."""
    kept = trajectories.loc[trajectories["kept"]]
    final_round = kept["rounds_correct"].map(len).astype(np.int64)
    final_status = kept["rounds_correct"].map(lambda r: r[-1])
    finals = kept.assign(round=final_round, source=np.where(kept["final_correct"], "correct", "incorrect"))
    finals = finals.loc[final_status.isin([0, 1]).to_numpy()]
    fixers = kept.loc[kept["is_corrective"], ["question_id", "agent_id"]].assign(final=final_round)
    early = rounds.merge(fixers, on=["question_id", "agent_id"], how="inner")
    early = early.loc[(early["round"] < early["final"]) & (early["status"] == "incorrect")]
    early = early.rename(columns={"response": "trace"}).assign(source="corrective")
    columns = ["question_id", "agent_id", "round", "trace", "source"]
    both = pd.concat([finals[columns], early[columns]], ignore_index=True)
    rank = both["source"].map({s: i for i, s in enumerate(SOURCES)})
    order = pd.DataFrame(
        {"q": pd.factorize(both["question_id"])[0], "s": rank, "a": both["agent_id"], "r": both["round"]}
    )
    return both.loc[order.sort_values(["q", "s", "a", "r"], kind="stable").index].reset_index(drop=True)


def build_prm(
    trajectories: pd.DataFrame,
    rounds: pd.DataFrame,
    questions: pd.DataFrame | dict[str, Question],
    splitter: str = "paragraph",
) -> pd.DataFrame:
    """The PRM set of one shard.

    Args:
        trajectories: ``build_trajectories`` output.
        rounds: the shard's ``inputs.agent_rounds`` (for corrective agents' earlier rounds).
        questions: the shard's ``questions`` rows or ``{question_id: Question}``.
        splitter: registered step splitter name.

    Returns:
        ``prm_examples`` rows (``PRM_COLUMNS``), per question: correct, incorrect, corrective
        traces; traces with no step are skipped.
    """
    require_columns(trajectories, TRAJECTORY_COLUMNS, "trajectories")
    require_columns(rounds, ROUND_COLUMNS, "agent rounds")
    cand = _candidates(trajectories, rounds)
    lookup = questions_by_id(questions, cand["question_id"].unique().tolist())
    qids, agents, rnds = cand["question_id"].tolist(), cand["agent_id"].tolist(), cand["round"].tolist()
    sources = cand["source"].tolist()
    split = STEP_SPLITTERS.get(splitter)
    rows = []
    reference: list[set[str]] = []
    prompt, previous = "", None
    for qid, agent, round_, source, trace in zip(qids, agents, rnds, sources, cand["trace"].tolist()):
        if qid != previous:
            reference, prompt, previous = [], student_prompt(lookup[qid]), qid
        steps = split(trace)
        if not steps:
            continue
        correct = source == "correct"  # correct traces come first within a question
        if correct:
            reference.extend(set() for _ in range(len(steps) - len(reference)))
            for j, step in enumerate(steps):
                reference[j].add(_normal(step))
        labels = [1] * len(steps) if correct else divergence_labels(steps, reference)
        rows.append((qid, trace_id(qid, agent, round_), prompt, steps, labels, correct, source))
    return pd.DataFrame(rows, columns=list(PRM_COLUMNS)).astype({"is_correct": bool})
