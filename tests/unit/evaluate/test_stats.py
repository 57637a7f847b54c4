"""Intervals for accuracies and their differences, checked against published worked examples."""

from __future__ import annotations

import math

import pytest

from agentark_core.evaluate.stats import (
    newcombe_difference,
    paired_bootstrap,
    paired_differences,
    wilson_interval,
)


# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


# Newcombe RG (1998), "Interval estimation for the difference between independent proportions: comparison
# of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score, no correction).
@pytest.mark.parametrize(("k1", "n1", "k2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (5, 56, 0, 29, -0.0381, 0.1926),
])
def test_difference_matches_newcombe_1998(k1, n1, k2, n2, low, high):
    d = newcombe_difference(k1 / n1, n1, k2 / n2, n2)
    assert (d.low, d.high) == pytest.approx((low, high), abs=1e-4)
    assert d.value == pytest.approx(k1 / n1 - k2 / n2) and d.n == n1 + n2
    assert d.excludes_zero == (low > 0)


def test_one_answer_in_thirty_is_no_gain():
    # the "+0.033 from 1 answer in 30"
    assert not newcombe_difference(14 / 30, 30, 13 / 30, 30).excludes_zero
    paired = paired_bootstrap([1] * 14 + [0] * 16, [1] * 13 + [0] * 17)
    assert paired.value == pytest.approx(1 / 30) and not paired.excludes_zero


def test_paired_bootstrap_sees_a_consistent_gain_and_is_reproducible():
    a, b = [1] * 60 + [0] * 40, [1] * 40 + [0] * 60  # 20 more right answers, never fewer
    d = paired_bootstrap(a, b, seed=3)
    assert d.value == pytest.approx(0.2)
    assert d.excludes_zero and 0.11 < d.low < d.value < d.high < 0.29  # normal approx.: 0.2 ± 0.078
    assert paired_bootstrap(a, b, seed=3) == d
    assert paired_bootstrap(b, a, seed=3).high < 0


def test_edges_and_bad_input():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="k=5, n=4"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="aligned"):
        paired_bootstrap([1, 0], [1])
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap([], [])


def test_paired_differences_use_the_shared_questions():
    outcomes = {"rsft": {f"q{i}": float(i < 60) for i in range(100)},
                "base": {f"q{i}": float(i < 40) for i in range(100)} | {"extra": 1.0},
                "mas": {"q0": 1.0}}
    rows = paired_differences(outcomes, [("rsft", "base"), ("mas", "teacher"), ("base", "rsft")])
    assert [(r["model"], r["baseline"], r["n"], r["significant"]) for r in rows] == [
        ("rsft", "base", 100, True), ("base", "rsft", 100, True)]
    assert rows[0]["difference"] == pytest.approx(0.2) and rows[0]["low"] > 0 and rows[1]["high"] < 0
