"""R-SFT training set (paper §3.3.1): one example per correct final trace of a kept question.

The prompt is exactly what a single student is asked at evaluation — the debate's round-1
prompt (``mas.prompts.first_prompt``: context, query, lettered choices, the "Final Answer: X"
instruction). The completion is ``reasoning + "\\n" + answer`` where ``answer`` is
``"Final Answer: <extracted answer>"`` (see ``steps.split_final_answer``), so the answer-loss
weight of ``train.sft`` lands on one canonical line.

Example:
    >>> rsft = build_rsft(trajectories, questions, max_per_question=2)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from agentark_core.data.question import Question
from agentark_core.extract.inputs import KEYS, question_from_row, questions_by_id, require_columns
from agentark_core.extract.steps import split_final_answer
from agentark_core.extract.trajectories import TRAJECTORY_COLUMNS
from agentark_core.mas import prompts

log = logging.getLogger(__name__)

SFT_COLUMNS = ("example_id", "question_id", "kind", "prompt", "reasoning", "answer", "weight", "group_size")
PICK_COLUMNS = ("question_id", "agent_id", "trace", "weight", "group_size")


def student_prompt(question: Question | Mapping[str, Any]) -> str:
    """The prompt a single student sees for a question: the debate's round-1 prompt, context included.

    Args:
        question: a ``Question`` or a ``questions`` row.
    """
    if not isinstance(question, Question):
        question = question_from_row(question)
    return prompts.first_prompt(question, with_context=True)


def example_id(kind: str, question_id: str, agent_id: int) -> str:
    """Stable id of the example a kind of training set draws from one agent's trace."""
    return hashlib.sha256(f"{kind}\x00{question_id}\x00{agent_id}".encode()).hexdigest()[:16]


def sft_rows(picked: pd.DataFrame, questions: dict[str, Question], kind: str) -> pd.DataFrame:
    """Turn picked traces into ``sft_examples`` rows.

    Args:
        picked: rows with ``PICK_COLUMNS`` (the trace and its example weight / group size), and
            optionally ``answer``, the graded final answer (see ``with_final_answers``).
        questions: ``{question_id: Question}`` covering ``picked``.
        kind: "rsft" or "da".

    Returns:
        ``sft_examples`` rows (``SFT_COLUMNS``); traces with no readable answer are skipped (logged).
    """
    prompt_of: dict[str, str] = {}
    rows, skipped = [], 0
    known = (
        picked["answer"] if "answer" in picked.columns else pd.Series(None, index=picked.index, dtype=object)
    )
    columns = [picked[c].tolist() for c in PICK_COLUMNS] + [known.tolist()]
    for qid, agent, trace, weight, size, graded in zip(*columns):
        q = questions[qid]
        reasoning, answer = split_final_answer(
            trace, q.task_type, q.choices, graded if isinstance(graded, str) else None
        )
        if answer is None:
            skipped += 1
            continue
        if qid not in prompt_of:
            prompt_of[qid] = student_prompt(q)
        rows.append(
            (
                example_id(kind, qid, agent),
                qid,
                kind,
                prompt_of[qid],
                reasoning,
                answer,
                float(weight),
                int(size),
            )
        )
    if skipped:
        log.warning("%s: %d correct trace(s) without a readable final answer skipped", kind, skipped)
    return pd.DataFrame(rows, columns=list(SFT_COLUMNS)).astype({"weight": float, "group_size": "int64"})


def with_final_answers(trajectories: pd.DataFrame, rounds: pd.DataFrame | None) -> pd.DataFrame:
    """Add column ``answer``: each trajectory's final-round answer from its label (None without ``rounds``)."""
    if rounds is None:
        return trajectories
    finals = trajectories[["question_id", "agent_id"]].assign(round=trajectories["rounds_correct"].map(len))
    merged = finals.merge(rounds[[*KEYS, "answer"]], on=KEYS, how="left")
    return trajectories.assign(answer=merged["answer"].to_numpy())


def correct_kept(trajectories: pd.DataFrame, corrective_first: bool = True) -> pd.DataFrame:
    """The correct final trajectories of kept questions, per question corrective ones first (then agent order)."""
    require_columns(trajectories, TRAJECTORY_COLUMNS, "trajectories")
    good = trajectories.loc[trajectories["kept"] & trajectories["final_correct"]]
    if corrective_first:
        order = pd.DataFrame(
            {"q": pd.factorize(good["question_id"])[0], "c": ~good["is_corrective"], "a": good["agent_id"]},
            index=good.index,
        )
        good = good.loc[order.sort_values(["q", "c", "a"], kind="stable").index]
    return good


def rsft_picks(
    trajectories: pd.DataFrame, max_per_question: int | None = None, corrective_first: bool = True
) -> pd.DataFrame:
    """The trajectories R-SFT trains on: ``correct_kept``, at most ``max_per_question`` per question.

    Raises:
        ValueError: ``max_per_question`` is neither None nor an int >= 1.
    """
    if max_per_question is not None and (not isinstance(max_per_question, int) or max_per_question < 1):
        raise ValueError(f"max_per_question must be None or an int >= 1, got {max_per_question!r}")
    good = correct_kept(trajectories, corrective_first)
    if max_per_question is not None:
        good = good.loc[good.groupby("question_id", sort=False).cumcount() < max_per_question]
    return good


def build_rsft(
    trajectories: pd.DataFrame,
    questions: pd.DataFrame | dict[str, Question],
    max_per_question: int | None = None,
    corrective_first: bool = True,
    rounds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The R-SFT set of one shard: every correct final trace of each kept question.

    Args:
        trajectories: ``build_trajectories`` output.
        questions: the shard's ``questions`` rows or ``{question_id: Question}``.
        max_per_question: keep at most this many traces per question (None: all).
        corrective_first: order (and so cap) corrective traces before the others.
        rounds: the shard's ``inputs.agent_rounds``; when given, answers come from the labels
            instead of being extracted from the traces again.

    Returns:
        ``sft_examples`` rows of kind "rsft", weight 1.0, group_size 1.
    """
    good = rsft_picks(trajectories, max_per_question, corrective_first)
    picked = with_final_answers(good, rounds).assign(weight=1.0, group_size=1)
    return sft_rows(picked, questions_by_id(questions, picked["question_id"].unique().tolist()), "rsft")
