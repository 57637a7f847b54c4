"""Inference cost accounting: MAS vs single agent per question (paper §1, §4).

The point of AgentArk is single-agent inference cost, so both sides are counted the
same way from their rows:

* ``debate_turns``-like rows (one per model call; vote rows with ``messages_json == "[]"``
  made no call), and
* ``eval_records``-like rows (one per question, with a ``calls`` column).

Per question: generated (completion) tokens, prompt tokens, model calls and wall time
(the sum of the rows' ``latency_s`` as the backend reported them). ``compare_cost``
gives each side's per-question means over the questions both sides answered and the
MAS/single ratios.

Example:
    >>> compare_cost(debate_rows, single_rows).ratios["completion_tokens"]  # doctest: +SKIP
    14.2
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

COST_FIELDS = ("prompt_tokens", "completion_tokens", "calls", "latency_s")
_REQUIRED = ("question_id", "prompt_tokens", "completion_tokens", "latency_s")


@dataclass(frozen=True)
class QuestionCost:
    """What answering one question cost."""

    prompt_tokens: int
    completion_tokens: int
    calls: int
    latency_s: float


@dataclass(frozen=True)
class CostSummary:
    """Per-question means of ``QuestionCost`` over ``n_questions`` questions."""

    n_questions: int
    prompt_tokens: float
    completion_tokens: float
    calls: float
    latency_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class CostComparison:
    """MAS and single-agent means on the same questions, and MAS/single ratios (None when single is 0)."""

    mas: CostSummary
    single: CostSummary
    ratios: dict[str, float | None]


def _row_calls(row: Mapping, index: int) -> int:
    """Model calls a row stands for: its ``calls`` column, else 1 unless it sent no messages."""
    if "calls" in row:
        calls = int(row["calls"])
        if calls < 0:
            raise ValueError(f"cost row {index}: calls must be >= 0, got {calls}")
        return calls
    if "messages_json" in row:
        return 0 if row["messages_json"] == "[]" else 1
    return 1


def per_question_cost(rows: Iterable[Mapping]) -> dict[str, QuestionCost]:
    """Sum tokens, calls and latency of the rows of each question.

    Args:
        rows: mappings with ``question_id``, ``prompt_tokens``, ``completion_tokens``, ``latency_s``
            and either ``calls`` (eval_records) or ``messages_json`` (debate_turns).

    Returns:
        question_id -> ``QuestionCost``, in first-seen order.
    """
    totals: dict[str, list] = {}
    for i, row in enumerate(rows):
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise KeyError(f"cost row {i} lacks column(s) {missing}")
        values = [int(row["prompt_tokens"]), int(row["completion_tokens"]), _row_calls(row, i)]
        latency = float(row["latency_s"])
        if min(values) < 0 or latency < 0:
            raise ValueError(
                f"cost row {i} (question {row['question_id']!r}) has a negative count or latency"
            )
        acc = totals.setdefault(str(row["question_id"]), [0, 0, 0, 0.0])
        for j, v in enumerate(values + [latency]):
            acc[j] += v
    return {qid: QuestionCost(*acc) for qid, acc in totals.items()}


def summarize_cost(costs: Mapping[str, QuestionCost]) -> CostSummary:
    """Per-question means of the given questions' costs (zeros for no questions)."""
    n = len(costs)
    means = [sum(getattr(c, f) for c in costs.values()) / n if n else 0.0 for f in COST_FIELDS]
    return CostSummary(n, *means)


def compare_cost(mas_rows: Iterable[Mapping], single_rows: Iterable[Mapping]) -> CostComparison:
    """Compare MAS and single-agent cost on the questions both answered.

    Args:
        mas_rows: the MAS run's rows (debate_turns or eval_records of the MAS protocol).
        single_rows: the single-agent run's rows (eval_records or cot turns).

    Returns:
        A ``CostComparison``; ``ratios[field]`` = MAS mean / single mean.
    """
    mas, single = per_question_cost(mas_rows), per_question_cost(single_rows)
    common = [q for q in mas if q in single]
    if not common:
        raise ValueError(
            f"no question in common between the MAS ({len(mas)}) and single ({len(single)}) rows"
        )
    if len(common) < max(len(mas), len(single)):
        log.warning(
            "cost: comparing on %d common questions (MAS has %d, single %d)",
            len(common),
            len(mas),
            len(single),
        )
    mas_summary = summarize_cost({q: mas[q] for q in common})
    single_summary = summarize_cost({q: single[q] for q in common})
    ratios = {}
    for f in COST_FIELDS:
        denominator = getattr(single_summary, f)
        ratios[f] = getattr(mas_summary, f) / denominator if denominator else None
    return CostComparison(mas_summary, single_summary, ratios)
