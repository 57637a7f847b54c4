"""The report's PAD section: the RL runs side by side, sampled curves, the curves figure, hacking warnings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agentark_core.evaluate.report import write_report
from agentark_core.evaluate.rl_report import curve_table, hacking_lines, rl_blocks, rl_curves_plot, rl_table
from agentark_core.train.reward_check import reward_hacking

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _curve(steps, prm, acc, kl=0.01):
    return [{"step": s, "reward": p + a, "accuracy": a, "prm_reward": p, "kl": kl * s, "clip_fraction": 0.0,
             "entropy": 2.0 - 0.1 * s, "prm_correct": p + 0.1, "prm_wrong": p - 0.1} for s, p, a in zip(steps, prm, acc)]


def _runs():
    hacked = _curve([1, 2, 3], [0.5, 0.6, 0.8], [0.4, 0.3, 0.3])  # PRM +0.3, accuracy -0.1
    learned = _curve([1, 2, 3], [0.5, 0.6, 0.7], [0.3, 0.4, 0.5])
    verifiable_only = [{"step": s, "reward": a, "accuracy": a, "kl": 0.01} for s, a in ((1, 0.2), (2, 0.4))]
    return {"pad_prm": {"curve": hacked, "check": reward_hacking(hacked)},
            "pad": {"curve": learned, "check": reward_hacking(learned)},
            "pad_vr": {"curve": verifiable_only, "check": None}}


ROUTES = pd.DataFrame({"accuracy": [0.35, 0.30], "gain": [0.05, 0.0]}, index=pd.Index(["pad", "pad_vr"], name="route"))


def test_rl_table_sets_the_runs_side_by_side_with_their_heldout_accuracy():
    table = rl_table(_runs(), ROUTES)
    assert list(table.index) == ["pad_prm", "pad", "pad_vr"]
    assert table.loc["pad", "heldout_accuracy"] == 0.35 and table.loc["pad", "gain_vs_base"] == 0.05
    assert math.isnan(table.loc["pad_prm", "heldout_accuracy"])  # trained, not evaluated
    assert table.loc["pad", "steps"] == 3
    assert table.loc["pad", "accuracy_first"] == 0.3 and table.loc["pad", "accuracy_last"] == 0.5
    assert table.loc["pad_prm", "prm_reward_last"] == 0.8 and table.loc["pad", "kl_last"] == pytest.approx(0.03)
    assert table.loc["pad", "prm_gap"] == pytest.approx(0.2)
    assert list(table["prm_hacking"]) == ["YES", "no", "-"]
    assert math.isnan(table.loc["pad_vr", "prm_reward_first"])
    assert "eval_accuracy_first" not in table  # no run evaluated held-out prompts
    runs = _runs()
    runs["pad"]["curve"] = [{"step": 0, "reward": None, "eval_accuracy": 0.1}, *runs["pad"]["curve"]]
    runs["pad"]["curve"][-1]["eval_accuracy"] = 0.3
    table = rl_table(runs, ROUTES)
    assert (table.loc["pad", "eval_accuracy_first"], table.loc["pad", "eval_accuracy_last"]) == (0.1, 0.3)
    assert table.loc["pad", "steps"] == 3 and table.loc["pad", "reward_first"] == pytest.approx(0.8)


def test_curve_table_samples_evenly_with_first_and_last_steps():
    curve = _curve(range(1, 21), [0.5] * 20, [0.1] * 20)
    table = curve_table({"pad": {"curve": curve}}, steps=4)
    # indices round(i * 19 / 3) for i in 0..3 = 0, 6, 13, 19 -> steps 1, 7, 14, 20
    assert list(table.index) == [("pad", 1), ("pad", 7), ("pad", 14), ("pad", 20)]
    assert table.loc[("pad", 20), "entropy"] == pytest.approx(0.0)
    only_reward = curve_table({"x": {"curve": [{"step": 1, "reward": 1.0}]}})
    assert list(only_reward.columns) == ["reward"]  # columns no run logged are left out


def test_rl_curves_plot_writes_a_png_or_skips_single_step_runs(tmp_path):
    path = rl_curves_plot(_runs(), tmp_path / "rl.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert rl_curves_plot({"pad": {"curve": _curve([1], [0.5], [0.5])}}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_hacking_is_flagged_only_for_the_hacked_run(tmp_path):
    [warning] = hacking_lines(_runs())
    assert warning.startswith("WARNING: pad_prm: PRM reward 0.500 -> 0.800 while rollout accuracy 0.400 -> 0.300")
    blocks = rl_blocks(_runs(), ROUTES, tmp_path)
    assert [b[0] for b in blocks if b[0] in ("img", "table")] == ["table", "img", "table"]
    assert rl_blocks({}, ROUTES, tmp_path) == []


def test_write_report_has_the_pad_section_and_the_hacking_warning_in_the_headline(tmp_path):
    rows = [{"benchmark": "toy", "model": r, "protocol": "cot", "route": r, "metric": "accuracy", "value": v, "n": 20}
            for r, v in (("base", 0.3), ("pad", 0.35), ("pad_vr", 0.3))]
    out = write_report(pd.DataFrame(rows), tmp_path, route_order=["pad", "pad_vr", "pad_prm"], rl_runs=_runs())
    text = out["markdown"].read_text()
    headline = text.split("## Headline")[1].split("##")[0]
    assert "WARNING: pad_prm: PRM reward" in headline
    assert "## PAD training: curves, reward-hacking check and ablations" in text
    assert "| pad | 0.350 | 0.050 | 3 |" in text and "![RL training curves](images/rl_curves.png)" in text
    assert (tmp_path / "images" / "rl_curves.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "rl_curves.png" in out["html"].read_text()
    plain = write_report(pd.DataFrame(rows), tmp_path / "plain")
    assert "PAD training" not in plain["markdown"].read_text()
