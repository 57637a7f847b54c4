"""bench/toy_route_seeds.py: the per-route mean and spread over toy seeds and the paper's two checks, on
hand-made eval_summary rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.toy_route_seeds import format_table, paper_checks, route_table


def summary(accuracies: dict[str, list[float]]) -> pd.DataFrame:
    """eval_summary-like rows: one accuracy row per (route, seed), plus a row of another metric."""
    rows = [{"route": route, "toy.seed": seed, "metric": "accuracy", "value": value, "model": route}
            for route, values in accuracies.items() for seed, value in enumerate(values)]
    rows.append({"route": "base", "toy.seed": 0, "metric": "f1", "value": 0.99, "model": "base"})
    return pd.DataFrame(rows)


def test_mean_std_and_range_per_route_in_points():
    table = route_table(summary({"pad": [0.10, 0.20, 0.30], "base": [0.05, 0.05, 0.08], "mas": [0.8, 0.7, 0.9]}))
    assert list(table.index) == ["base", "pad", "mas"]  # ROUTES order, then the others
    pad = table.loc["pad"]
    assert pad["mean"] == pytest.approx(20.0) and pad["std"] == pytest.approx(math.sqrt(200 / 3))
    assert (pad["min"], pad["max"], pad["seeds"]) == (pytest.approx(10.0), pytest.approx(30.0), 3)
    assert table.loc["base", "seed 2"] == pytest.approx(8.0)  # not the f1 row


def test_a_missing_seed_is_counted_not_averaged_in():
    frame = summary({"rsft": [0.2, 0.4]})
    frame = pd.concat([frame, pd.DataFrame([{"route": "da", "toy.seed": 1, "metric": "accuracy", "value": 0.3}])])
    table = route_table(frame)
    assert table.loc["da", "seeds"] == 1 and table.loc["da", "mean"] == pytest.approx(30.0)
    assert math.isnan(table.loc["da", "seed 0"])


def test_pad_stability_and_combination_checks():
    stable = route_table(summary({"rsft": [0.20, 0.30], "da": [0.20, 0.26], "pad": [0.20, 0.24],
                                  "rsft_da": [0.25, 0.30], "pad_da": [0.10, 0.12]}))
    checks = paper_checks(stable)
    assert checks == {"pad_spread_smallest_or_within_1pt": True, "rsft_da_mean_ge_rsft": True,
                      "pad_da_mean_ge_pad": False}
    shaky = route_table(summary({"da": [0.20, 0.21], "pad": [0.10, 0.30]}))
    assert paper_checks(shaky)["pad_spread_smallest_or_within_1pt"] is False
    assert paper_checks(route_table(summary({"da": [0.2]}))) == {
        "pad_spread_smallest_or_within_1pt": None, "rsft_da_mean_ge_rsft": None, "pad_da_mean_ge_pad": None}


def test_format_table_has_a_row_per_route_and_the_checks():
    table = route_table(summary({"base": [0.1, 0.2], "pad": [0.3, 0.3]}))
    text = format_table(table, paper_checks(table))
    assert "| pad | 2 | 30.0 | 0.0 | 30.0 | 30.0 | 30.0 | 30.0 |" in text
    assert "pad_spread_smallest_or_within_1pt: True" in text and "rsft_da_mean_ge_rsft: -" in text
