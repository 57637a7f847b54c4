"""How good is a process reward model (issue 19; paper §3.3.3, App. B): held-out step metrics and best-of-N.

* ``heldout_questions``: a deterministic split of the PRM set BY QUESTION (hash order of the ids), so
  the PRM is trained on some questions and measured on steps of questions it never saw.
* ``step_metrics``: on held-out labelled steps, AUROC and thresholded accuracy of P(step correct)
  against the step labels, and the contrastive objective's own ranking accuracy (a positive step
  scored above every negative step of its group: same question, same position).
* ``best_of_n``: N sampled student answers per question; the PRM picks the one with the highest
  trajectory score; its accuracy against a random pick (expected value), the majority vote and the
  oracle (any of the N correct). Samples are cut into disjoint groups of N and averaged.
* ``evaluate_prm``: both, for a PRM, held-out PRM rows, their questions and a student generator.

Example:
    >>> auroc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    0.75
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_SIZES = (4, 8, 16)


def heldout_questions(question_ids: Sequence[str], fraction: float, seed: int = 0) -> set[str]:
    """The held-out questions: the first ``round(fraction · n)`` distinct ids in sha256(seed, id) order.

    Deterministic (no RNG state), independent of row order, and at least one question stays for
    training. ``fraction`` 0 holds nothing out.

    Raises:
        ValueError: ``fraction`` outside [0, 1).
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    unique = sorted(set(question_ids))
    ranked = sorted(unique, key=lambda q: hashlib.sha256(f"{seed}\x00{q}".encode()).hexdigest())
    count = min(round(fraction * len(unique)), max(len(unique) - 1, 0))
    return set(ranked[:count])


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve: P(a random positive scores above a random negative), ties counting ½.

    Computed from mid-ranks (Mann–Whitney U). None when one class is missing.
    """
    if len(scores) != len(labels):
        raise ValueError(f"auroc: {len(scores)} scores but {len(labels)} labels")
    n_pos = sum(1 for y in labels if y == 1)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1  # mid-rank of a run of ties
        start = end + 1
    rank_sum = sum(r for r, y in zip(ranks, labels) if y == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def step_metrics(
    scores: Sequence[float], labels: Sequence[int], groups: Sequence[Any], threshold: float = 0.5
) -> dict:
    """Step-level quality of P(step correct) on labelled steps.

    Args:
        scores: σ(step logit) per step.
        labels: 1 correct step / 0 incorrect.
        groups: per step, its (question, position) id: the contrastive loss's candidate set.
        threshold: a step is predicted correct when its score is >= this.

    Returns:
        ``auroc`` (None with one class only), ``accuracy``, ``ranking_accuracy`` (share of positives
        with a negative in their group that score above every such negative; None without pairs),
        ``n_steps``, ``positive_rate``, ``n_ranked`` (positives with a negative).
    """
    if not len(scores) == len(labels) == len(groups):
        raise ValueError(f"step_metrics: {len(scores)} scores, {len(labels)} labels, {len(groups)} groups")
    if not scores:
        raise ValueError("step_metrics: no steps to measure")
    correct = sum(1 for s, y in zip(scores, labels) if (s >= threshold) == (y == 1))
    top_negative: dict[Any, float] = {}
    for s, y, g in zip(scores, labels, groups):
        if y == 0:
            top_negative[g] = max(s, top_negative.get(g, float("-inf")))
    ranked = [s > top_negative[g] for s, y, g in zip(scores, labels, groups) if y == 1 and g in top_negative]
    return {
        "auroc": auroc(scores, labels),
        "accuracy": correct / len(scores),
        "ranking_accuracy": sum(ranked) / len(ranked) if ranked else None,
        "n_steps": len(scores),
        "positive_rate": sum(1 for y in labels if y == 1) / len(labels),
        "n_ranked": len(ranked),
    }


@dataclass(frozen=True)
class Candidate:
    """One sampled answer: its extracted answer (None: none found), whether it is correct, its PRM score."""

    answer: str | None
    correct: bool
    score: float


def _majority_correct(group: Sequence[Candidate], same: Callable[[str, str], bool]) -> bool:
    """Whether the most common answer (up to ``same``; ties to the earliest) is correct."""
    clusters: list[list[Candidate]] = []
    for c in group:
        if c.answer is None:
            continue
        home = next((k for k in clusters if same(k[0].answer, c.answer)), None)
        if home is None:
            clusters.append([c])
        else:
            home.append(c)
    return bool(clusters) and max(clusters, key=len)[0].correct


def best_of_n(
    candidates: Sequence[Sequence[Candidate]],
    sizes: Sequence[int] = DEFAULT_SIZES,
    same: Sequence[Callable[[str, str], bool]] | None = None,
) -> dict[str, dict]:
    """Best-of-N reranking accuracy for each N in ``sizes``.

    Each question's samples (independent draws) are cut into ``len // N`` disjoint groups of N; every
    group is one trial. Per trial: ``prm`` = the highest-scored candidate is correct (ties to the
    earliest), ``random`` = share of correct candidates (a random pick's expected accuracy),
    ``majority`` = the most common answer is correct, ``oracle`` = any candidate is correct.

    Args:
        candidates: per question, its sampled candidates in sampling order.
        sizes: the Ns; an N larger than every question's sample count is skipped.
        same: per question, answer equivalence (default: equal strings).

    Returns:
        ``{str(N): {"prm", "random", "majority", "oracle", "trials", "prm_beats_majority"}}``.
    """
    out: dict[str, dict] = {}
    for n in sizes:
        if n < 1:
            raise ValueError(f"best_of_n: N must be >= 1, got {n}")
        totals = {"prm": 0.0, "random": 0.0, "majority": 0.0, "oracle": 0.0}
        trials = 0
        for q, samples in enumerate(candidates):
            equal = same[q] if same is not None else (lambda a, b: a == b)
            for start in range(0, len(samples) - n + 1, n):
                group = samples[start : start + n]
                best = max(range(n), key=lambda i: (group[i].score, -i))
                totals["prm"] += group[best].correct
                totals["random"] += sum(c.correct for c in group) / n
                totals["majority"] += _majority_correct(group, equal)
                totals["oracle"] += any(c.correct for c in group)
                trials += 1
        if trials:
            means = {k: round(v / trials, 4) for k, v in totals.items()}
            out[str(n)] = means | {"trials": trials, "prm_beats_majority": means["prm"] > means["majority"]}
    return out


def heldout_step_metrics(prm: Any, rows: Sequence[dict]) -> dict:
    """:func:`step_metrics` of ``prm`` on ``prm_examples`` rows (``question_id``, ``prompt``, ``steps``,
    ``step_labels``); steps past the PRM's length limit are left out."""
    scores = prm.score_steps([r["prompt"] for r in rows], [list(r["steps"]) for r in rows])
    flat, labels, groups = [], [], []
    for row, trace in zip(rows, scores):
        for position, (score, label) in enumerate(zip(trace, row["step_labels"])):
            flat.append(score)
            labels.append(int(label))
            groups.append((row["question_id"], position))
    return step_metrics(flat, labels, groups)


def trajectory_steps(text: str, separator: str) -> list[str]:
    """A reply's steps as the PRM reward sees them: split on the PRM's separator, stripped, empty dropped."""
    return [s.strip() for s in text.split(separator) if s.strip()]


def sample_candidates(
    prm: Any, questions: Sequence[Any], generator: Any, n: int, sampling: dict, aggregation: str = "min"
) -> list[list[Candidate]]:
    """``n`` student samples per question in one batched call (the ``self_consistency`` protocol's
    sampling), each graded against the question's answer and scored by the PRM.

    Args:
        prm: a PRM (``score_steps``, ``step_separator``).
        questions: ``Question`` records (with ``gt``).
        generator: the student's ``Generator``.
        n: samples per question.
        sampling: ``temperature``, ``max_tokens``, ``seed`` of the draws.
        aggregation: how step scores make one trajectory score (``train.rewards.STEP_AGGREGATIONS``).

    Returns:
        Per question, its ``n`` candidates in sampling order (a reply without an answer is wrong; one
        without a step scores 0).
    """
    from agentark_core.answers import grade_extracted
    from agentark_core.extract import student_prompt
    from agentark_core.mas import SelfConsistencyConfig, run_protocol
    from agentark_core.train.rewards import aggregate_steps

    config = SelfConsistencyConfig(n_agents=n, **sampling)
    turns = [t for t in run_protocol("self_consistency", questions, generator, config) if t.role == "agent"]
    by_id = {q.question_id: q for q in questions}
    steps = [trajectory_steps(t.response, prm.step_separator) for t in turns]
    prompts = [student_prompt(by_id[t.question_id]) for t in turns]
    scores = prm.score_steps(prompts, steps)
    out: dict[str, list[Candidate]] = {q.question_id: [] for q in questions}
    for turn, step_scores in zip(turns, scores):
        q = by_id[turn.question_id]
        correct = turn.answer is not None and grade_extracted(turn.answer, q.gt, q.task_type, q.choices).correct
        score = aggregate_steps(step_scores, aggregation) if step_scores else 0.0
        out[q.question_id].append(Candidate(turn.answer, bool(correct), float(score)))
    return [out[q.question_id] for q in questions]


def evaluate_prm(
    prm: Any,
    rows: Sequence[dict],
    questions: Sequence[Any],
    generator: Any,
    sizes: Sequence[int] = DEFAULT_SIZES,
    sampling: dict | None = None,
    aggregation: str = "min",
) -> dict:
    """A PRM's held-out report: ``steps`` (:func:`heldout_step_metrics` on ``rows``) and ``best_of_n``
    (:func:`best_of_n` over ``max(sizes)`` student samples of each of ``questions``, each scored by its
    step scores' ``aggregation``).

    ``sampling`` (``temperature``, ``max_tokens``, ``seed``) goes to the student's draws.
    """
    from agentark_core.mas.base import same_answer

    out: dict[str, Any] = {"steps": heldout_step_metrics(prm, rows), "n_questions": len(questions)}
    if questions and sizes:
        candidates = sample_candidates(prm, questions, generator, max(sizes), sampling or {}, aggregation)
        equal = [lambda a, b, q=q: same_answer(a, b, q) for q in questions]
        out["best_of_n"] = best_of_n(candidates, sizes, equal)
    return out
