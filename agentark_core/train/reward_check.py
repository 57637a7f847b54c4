"""PAD's training curves and reward-hacking check (paper §3.3.3; issue 19 deliverable 3).

A policy optimised on a learned PRM can raise the PRM's score without getting more answers right
(reward hacking). The check compares, on the SAME rollouts, the PRM reward with the verifiable
outcome (``grade``):

- :func:`reward_agreement`: one rollout batch's PRM scores against its verifiable correctness: mean
  PRM score of correct vs wrong rollouts, their gap and the point-biserial (Pearson) correlation.
- :func:`monitored_rewards`: the GRPO reward callables with the verifiable reward added at weight 0
  where the recipe does not weight it (the PRM-only ablation still logs accuracy per step), and both
  wrapped so that each batch's :func:`reward_agreement` is logged through TRL's ``log_metric``
  (``prm_check/*``, averaged per logged step like TRL's own metrics).
- :func:`rl_curve`: a trainer's ``loss_curve`` rows as the report's columns (reward, per-reward
  means, KL, clip fraction, entropy, PRM check), GRPO's and the PPO ablation's names alike, with the
  held-out prompts' accuracy where GRPO evaluated them (``heldout_prompts``).
- :func:`reward_hacking`: over a curve, the PRM reward's and accuracy's rise from the first to the
  last third of the steps; flagged when the PRM reward rises while accuracy does not.

Example:
    >>> reward_agreement([0.9, 0.7, 0.2, 0.4], [1.0, 1.0, 0.0, 0.0])["gap"]  # doctest: +ELLIPSIS
    0.5...
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

PRM_FUNC = "prm_score"  # __name__ of the reward callables (rewards.py), TRL's reward_func_names
VERIFIABLE_FUNC = "verifiable"
CHECK_PREFIX = "prm_check/"
PRM_RISE = 0.02  # a PRM reward rise (score in [0, 1]) above this with no accuracy rise is flagged

# report column -> the names trainers log it under (GRPO: TRL's; PPO ablation: agentark_core.train.ppo's)
CURVE_SOURCES = {
    "reward": ("reward",),
    "reward_std": ("reward_std",),
    "accuracy": (f"rewards/{VERIFIABLE_FUNC}/mean",),
    "prm_reward": (f"rewards/{PRM_FUNC}/mean",),
    "kl": ("kl",),
    "clip_fraction": ("clip_ratio/region_mean", "clip_frac"),
    "entropy": ("entropy",),
    "prm_correct": (f"{CHECK_PREFIX}prm_correct",),
    "prm_wrong": (f"{CHECK_PREFIX}prm_wrong",),
    "prm_accuracy_corr": (f"{CHECK_PREFIX}corr",),
}


EVAL_ACCURACY = f"rewards/{VERIFIABLE_FUNC}/mean"  # in an eval_curve row: the held-out prompts' accuracy


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def reward_agreement(prm_scores: Sequence[float], correct: Sequence[float | None]) -> dict[str, float]:
    """How the PRM scores of one rollout batch agree with the rollouts' verifiable outcome.

    Args:
        prm_scores: the PRM reward of each rollout (unweighted aggregate of step scores).
        correct: the verifiable reward of the same rollouts: > 0 correct, 0 wrong, None ungradable
            (left out, with its PRM score).

    Returns:
        ``n`` (graded rollouts), ``accuracy``, ``prm_correct`` / ``prm_wrong`` (mean PRM score of the
        correct / wrong ones; NaN when there are none), ``gap`` (their difference) and ``corr`` (Pearson
        correlation of PRM score and correctness; NaN when either is constant).

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(prm_scores) != len(correct):
        raise ValueError(f"reward_agreement: {len(prm_scores)} PRM scores for {len(correct)} verifiable rewards")
    pairs = [(float(s), 1.0 if c > 0 else 0.0) for s, c in zip(prm_scores, correct) if c is not None]
    right = [s for s, c in pairs if c]
    wrong = [s for s, c in pairs if not c]
    out = {"n": float(len(pairs)), "accuracy": len(right) / len(pairs) if pairs else math.nan,
           "prm_correct": _mean(right), "prm_wrong": _mean(wrong)}
    out["gap"] = out["prm_correct"] - out["prm_wrong"]
    out["corr"] = _pearson([s for s, _ in pairs], [c for _, c in pairs])
    return out


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; NaN with fewer than two points or a constant side."""
    if len(xs) < 2:
        return math.nan
    mx, my = _mean(xs), _mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-18 or syy <= 1e-18:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


class AgreementMonitor:
    """Pairs the PRM and verifiable rewards TRL computes for one rollout batch and logs their agreement.

    TRL calls every reward callable in turn on the same ``completions`` list within one batch; the
    wrapped callables record their values under that list's identity, and once both are in, the
    batch's :func:`reward_agreement` goes to TRL's ``log_metric`` keyword (``prm_check/<stat>``).
    Without ``log_metric`` (a caller other than TRL's GRPOTrainer) nothing is logged.
    """

    def __init__(self) -> None:
        self._batch: int | None = None
        self._values: dict[str, list] = {}

    def wrap(self, func):
        """``func`` (a reward callable) recording its values; keeps its ``__name__`` (TRL's reward name)."""

        @functools.wraps(func)
        def recorded(*args, **kwargs):
            values = func(*args, **kwargs)
            self._record(func.__name__, kwargs.get("completions"), values, kwargs.get("log_metric"))
            return values

        return recorded

    def _record(self, name: str, completions: Any, values: list, log_metric) -> None:
        if id(completions) != self._batch:
            self._batch, self._values = id(completions), {}
        self._values[name] = values
        if log_metric is None or not {PRM_FUNC, VERIFIABLE_FUNC} <= set(self._values):
            return
        stats = reward_agreement(self._values[PRM_FUNC], self._values[VERIFIABLE_FUNC])
        for stat in ("prm_correct", "prm_wrong", "gap", "corr"):
            log_metric(f"{CHECK_PREFIX}{stat}", stats[stat])
        self._batch, self._values = None, {}


def monitored_rewards(funcs: list, weights: list[float]) -> tuple[list, list[float]]:
    """The reward callables GRPO trains on, plus what the reward-hacking check needs.

    The verifiable reward is added at weight 0 when absent (PRM-only training still logs
    ``rewards/verifiable/mean``, its rollouts' accuracy); with a PRM reward present both are wrapped
    by one :class:`AgreementMonitor`. Weights of the existing callables are unchanged, so the
    training reward is the same.

    Args:
        funcs: reward callables from :func:`~agentark_core.train.rl_common.build_reward_funcs`.
        weights: their weights (TRL's ``reward_weights``).

    Returns:
        ``(funcs, weights)`` to hand to the trainer.
    """
    from agentark_core.train.rewards import REWARDS

    funcs, weights = list(funcs), list(weights)
    names = [f.__name__ for f in funcs]
    if VERIFIABLE_FUNC not in names:
        funcs.append(REWARDS.get("verifiable")(weight=1.0))
        weights.append(0.0)
    if PRM_FUNC in names:
        monitor = AgreementMonitor()
        funcs = [monitor.wrap(f) if f.__name__ in (PRM_FUNC, VERIFIABLE_FUNC) else f for f in funcs]
    return funcs, weights


def rl_curve(loss_curve: Sequence[dict], eval_curve: Sequence[dict] = ()) -> list[dict]:
    """The RL columns of a trainer's ``loss_curve`` rows: ``step`` + every :data:`CURVE_SOURCES` column
    some row has (None where a row lacks it), values rounded to 5 decimals.

    ``eval_curve`` (GRPO's evaluations of its held-out prompts: ``step``, ``rewards/verifiable/mean``)
    adds ``eval_accuracy`` at its steps; an evaluation at a step with no training row (before the first
    step) becomes a row of its own. Rows are in step order.
    """
    present = [col for col, sources in CURVE_SOURCES.items() if any(s in row for row in loss_curve for s in sources)]
    rows: dict[int, dict[str, Any]] = {}
    for row in loss_curve:
        out: dict[str, Any] = {"step": int(row["step"])}
        for column in present:
            value = next((row[s] for s in CURVE_SOURCES[column] if row.get(s) is not None), None)
            out[column] = None if value is None else _rounded(float(value))
        rows[out["step"]] = out
    held_out = {int(r["step"]): r[EVAL_ACCURACY] for r in eval_curve if r.get(EVAL_ACCURACY) is not None}
    for step, value in held_out.items():
        rows.setdefault(step, {"step": step, **dict.fromkeys(present)})["eval_accuracy"] = _rounded(float(value))
    if held_out:
        for row in rows.values():
            row.setdefault("eval_accuracy", None)
    return [rows[step] for step in sorted(rows)]


def _thirds(values: list[float]) -> tuple[float, float]:
    """Mean of the first and of the last third of ``values`` (at least one value each)."""
    k = max(1, len(values) // 3)
    return _mean(values[:k]), _mean(values[-k:])


def reward_hacking(curve: Sequence[dict]) -> dict | None:
    """Whether the PRM reward rose over training while verifiable accuracy did not.

    Args:
        curve: :func:`rl_curve` rows with ``prm_reward`` and ``accuracy`` (the same rollouts' PRM
            score and verifiable correctness).

    Returns:
        None when fewer than two steps have both; else ``steps``, the first and last thirds' means
        (``prm_first``, ``prm_last``, ``accuracy_first``, ``accuracy_last``), the rises, the mean
        ``prm_gap`` / ``prm_accuracy_corr`` over the steps that logged them (NaN if none), and
        ``hacking``: True when ``prm_rise`` > :data:`PRM_RISE` and ``accuracy_rise`` <= 0.
    """
    both = [r for r in curve if r.get("prm_reward") is not None and r.get("accuracy") is not None]
    if len(both) < 2:
        return None
    prm_first, prm_last = _thirds([r["prm_reward"] for r in both])
    acc_first, acc_last = _thirds([r["accuracy"] for r in both])
    gaps = [r["prm_correct"] - r["prm_wrong"] for r in both
            if r.get("prm_correct") is not None and r.get("prm_wrong") is not None]
    corrs = [r["prm_accuracy_corr"] for r in both if r.get("prm_accuracy_corr") is not None]
    out = {"steps": len(both), "prm_first": prm_first, "prm_last": prm_last, "accuracy_first": acc_first,
           "accuracy_last": acc_last, "prm_rise": prm_last - prm_first, "accuracy_rise": acc_last - acc_first,
           "prm_gap": _mean(gaps), "prm_accuracy_corr": _mean(corrs)}
    out["hacking"] = bool(out["prm_rise"] > PRM_RISE and out["accuracy_rise"] <= 0)
    return {k: v if isinstance(v, (bool, int)) else _rounded(v) for k, v in out.items()}


def _rounded(value: float) -> float | None:
    """``value`` to 5 decimals; None for NaN (manifests are JSON)."""
    return None if math.isnan(value) else round(value, 5)
