"""Honest numbers for small test sets: 95% intervals for accuracies and for differences of accuracies.

An accuracy of 0.433 on 30 questions is 13 ± 5 right answers; a "+0.033" gain is one answer. Every
accuracy the pipeline reports carries its n and a Wilson score interval (right where the normal
approximation fails: small n, accuracies near 0 or 1), and a gain is claimed only when the interval
of the difference excludes 0:

* :func:`wilson_interval` — the Wilson score interval of k successes in n trials;
* :func:`newcombe_difference` — the interval of p1 - p2 from the two Wilson intervals (Newcombe's
  hybrid score method, for two independent samples; conservative for paired ones). Needs only each
  side's accuracy and n, so it works on ``eval_summary`` rows;
* :func:`paired_bootstrap` — the percentile bootstrap interval of mean(a) - mean(b) for per-question
  outcomes of two models on the SAME questions (resampling questions keeps the pairing).

Example:
    >>> [round(x, 3) for x in wilson_interval(13, 30)]
    [0.274, 0.608]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Difference:
    """A difference of two accuracies with its interval.

    Attributes:
        value: p1 - p2.
        low, high: the interval's bounds.
        n: the questions behind it (paired: shared questions; else the two sizes summed).
    """

    value: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below 0 (a difference worth claiming)."""
        return self.low > 0 or self.high < 0


def wilson_interval(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: ``k`` successes out of ``n``.

    Args:
        k: successes, 0 <= k <= n (an accuracy times n may be given; it is rounded).
        n: trials; 0 gives (nan, nan).
        z: the normal quantile (1.96 for 95%).

    Returns:
        ``(low, high)`` within [0, 1].

    Raises:
        ValueError: n < 0 or k outside [0, n].
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    k = round(k)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        low = 0.0  # exact at the bounds (floating error otherwise leaves ~1e-17)
    if k == n:
        high = 1.0
    return low, high


def newcombe_difference(p1: float, n1: int, p2: float, n2: int, z: float = Z95) -> Difference:
    """The interval of ``p1 - p2`` for two independent accuracies (Newcombe 1998, method 10).

    Args:
        p1, n1: the first accuracy and its number of questions.
        p2, n2: the second accuracy and its number of questions.

    Returns:
        A ``Difference`` (nan bounds when either n is 0).
    """
    l1, u1 = wilson_interval(p1 * n1, n1, z)
    l2, u2 = wilson_interval(p2 * n2, n2, z)
    p1, p2 = round(p1 * n1) / n1 if n1 else math.nan, round(p2 * n2) / n2 if n2 else math.nan
    value = p1 - p2
    low = value - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = value + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(value, low, high, n1 + n2)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> Difference:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` over paired per-question outcomes.

    Args:
        a, b: per-question scores (1.0 correct, 0.0 not) of two models on the same questions, aligned.
        n_resamples: bootstrap resamples of the questions.
        seed: the resampling RNG's seed (same inputs, same interval).
        level: the interval's coverage.

    Returns:
        A ``Difference`` with ``n`` = the number of questions.

    Raises:
        ValueError: different lengths, no questions, or a bad level / resample count.
    """
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired_bootstrap needs aligned outcomes, got {len(a)} and {len(b)}")
    if not len(a):
        raise ValueError("paired_bootstrap needs at least one question")
    if not 0 < level < 1 or n_resamples < 1:
        raise ValueError(f"need 0 < level < 1 and n_resamples >= 1, got {level}, {n_resamples}")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // len(diff))  # resamples per draw: at most ~16 MB of indices at once
    means = np.concatenate([
        diff[rng.integers(0, len(diff), size=(min(chunk, n_resamples - start), len(diff)))].mean(axis=1)
        for start in range(0, n_resamples, chunk)
    ])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(float(diff.mean()), float(low), float(high), len(diff))


def paired_differences(
    outcomes: dict[str, dict[str, float]], pairs: Sequence[tuple[str, str]], seed: int = 0
) -> list[dict]:
    """Paired bootstrap differences between evaluated models on the questions both answered.

    Args:
        outcomes: model -> {question_id: 1.0 correct / 0.0 not}.
        pairs: ``(model, baseline)`` pairs; a pair with a missing model or no shared question is skipped.
        seed: the bootstrap seed.

    Returns:
        One row per pair: ``model``, ``baseline``, ``difference``, ``low``, ``high`` (95%), ``n``
        (shared questions) and ``significant`` (the interval excludes 0).
    """
    rows = []
    for model, baseline in pairs:
        if model not in outcomes or baseline not in outcomes:
            continue
        shared = sorted(outcomes[model].keys() & outcomes[baseline].keys())
        if not shared:
            continue
        d = paired_bootstrap([outcomes[model][q] for q in shared], [outcomes[baseline][q] for q in shared], seed=seed)
        rows.append({"model": model, "baseline": baseline, "difference": d.value, "low": d.low, "high": d.high,
                     "n": d.n, "significant": d.excludes_zero})
    return rows
