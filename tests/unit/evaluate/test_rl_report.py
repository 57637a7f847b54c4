"""The report's PAD section: the RL runs side by side, sampled curves, the curves figure, hacking warnings, and
the PPO vs GRPO table and figure."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agentark_core.evaluate.report import write_report
from agentark_core.evaluate.rl_report import (
    PPO_GRPO_TITLE,
    curve_table,
    hacking_lines,
    ppo_grpo_plot,
    ppo_grpo_table,
    rl_blocks,
    rl_curves_plot,
    rl_table,
)
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
    # steps_per_generation > 1 and beta 0: steps between rollout rounds log no reward and no KL, still steps
    runs["pad"]["curve"].append({"step": 4, "reward": None, "kl": None, "entropy": 1.5, "eval_accuracy": None})
    table = rl_table(runs, ROUTES)
    assert table.loc["pad", "steps"] == 4 and table.loc["pad", "entropy_last"] == 1.5


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


def _optimisers():
    """pad (GRPO, evaluated held-out prompts at steps 0 and 3), pad_vr (GRPO), pad_ppo (PPO, not evaluated)."""
    runs = _runs()
    del runs["pad_prm"]
    runs["pad"]["curve"] = [{"step": 0, "reward": None, "eval_accuracy": 0.1}, *runs["pad"]["curve"]]
    runs["pad"]["curve"][-1]["eval_accuracy"] = 0.3
    ppo = _curve([1, 2, 3], [0.4, 0.4, 0.5], [0.2, 0.2, 0.1], kl=0.02)
    runs = {"pad_ppo": {"curve": ppo, "check": reward_hacking(ppo), "algorithm": "ppo", "runtime_s": 12.5},
            **runs}
    both = {"prm_score": 1.0, "verifiable": 1.0}
    runs["pad"] |= {"algorithm": "grpo", "seed": 42, "rewards": both, "runtime_s": 20.0}
    runs["pad_vr"] |= {"algorithm": "grpo", "seed": 42, "rewards": {"verifiable": 1.0}, "runtime_s": 19.0}
    runs["pad_ppo"] |= {"seed": 42, "rewards": both}
    return runs


def test_ppo_grpo_table_sets_every_run_of_either_optimiser_side_by_side():
    table = ppo_grpo_table(_optimisers(), ROUTES)
    assert list(table.index) == ["pad", "pad_vr", "pad_ppo"]  # GRPO rows first
    assert list(table["algorithm"]) == ["grpo", "grpo", "ppo"] and list(table["seed"]) == [42, 42, 42]
    assert table.loc["pad", "rewards"] == "prm_score 1, verifiable 1" and table.loc["pad_vr", "rewards"] == "verifiable 1"
    assert list(table["steps"]) == [3, 2, 3]  # pad's evaluation before step 1 is no step
    assert table.loc["pad", "heldout_accuracy"] == 0.35 and math.isnan(table.loc["pad_ppo", "heldout_accuracy"])
    assert table.loc["pad", "eval_accuracy_last"] == 0.3 and math.isnan(table.loc["pad_ppo", "eval_accuracy_last"])
    # pad_ppo: rewards 0.6, 0.6, 0.6 (prm + accuracy); accuracy 0.2 -> 0.1; KL 0.02, 0.04, 0.06
    assert table.loc["pad_ppo", "reward_mean"] == pytest.approx(0.6)
    assert (table.loc["pad_ppo", "accuracy_first"], table.loc["pad_ppo", "accuracy_last"]) == (0.2, 0.1)
    assert table.loc["pad_ppo", "kl_mean"] == pytest.approx(0.04) and table.loc["pad_ppo", "kl_last"] == pytest.approx(0.06)
    assert table.loc["pad_vr", "reward_mean"] == pytest.approx(0.3)
    assert list(table["wall_time_s"]) == [20.0, 19.0, 12.5]
    # steps_per_generation > 1: a step between rollout rounds logs no reward; a step still, and no reward row
    runs = _optimisers()
    runs["pad"]["curve"].append({"step": 4, "reward": None, "accuracy": None, "kl": 0.05, "eval_accuracy": None})
    table = ppo_grpo_table(runs, ROUTES)
    assert table.loc["pad", "steps"] == 4 and table.loc["pad", "kl_last"] == pytest.approx(0.05)
    assert table.loc["pad", "accuracy_last"] == 0.5 and table.loc["pad", "reward_mean"] == pytest.approx(1.0)


def test_ppo_grpo_comparison_is_left_out_unless_both_optimisers_ran(tmp_path):
    runs = _optimisers()
    grpo_only = {route: run for route, run in runs.items() if run["algorithm"] == "grpo"}
    unlabelled = _runs()  # manifests written before the optimiser was recorded
    for partial in (grpo_only, {"pad_ppo": runs["pad_ppo"]}, unlabelled, {}):
        assert ppo_grpo_table(partial, ROUTES).empty
        assert ppo_grpo_plot(partial, tmp_path / "none.png") is None
        blocks = rl_blocks(partial, ROUTES, tmp_path)
        assert ("h3", PPO_GRPO_TITLE) not in blocks
    assert not (tmp_path / "none.png").exists()
    path = ppo_grpo_plot(runs, tmp_path / "both.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_write_report_has_the_ppo_vs_grpo_table_and_figure(tmp_path):
    rows = [{"benchmark": "toy", "model": r, "protocol": "cot", "route": r, "metric": "accuracy", "value": v, "n": 20}
            for r, v in (("base", 0.3), ("pad", 0.35), ("pad_vr", 0.3))]
    out = write_report(pd.DataFrame(rows), tmp_path, route_order=["pad", "pad_vr", "pad_ppo"], rl_runs=_optimisers())
    text = out["markdown"].read_text()
    section = text.split(f"### {PPO_GRPO_TITLE}")[1]
    table = [line for line in section.split("![")[0].splitlines() if line.startswith("| ")]
    assert table[0].startswith("| route | algorithm | rewards | seed | steps | heldout_accuracy | eval_accuracy_last |")
    assert [line.split(" | ")[0].lstrip("| ") for line in table[2:]] == ["pad", "pad_vr", "pad_ppo"]
    assert "| pad_ppo | ppo | prm_score 1, verifiable 1 | 42 | 3 | - | - | 0.600 | 0.200 | 0.100 |" in section
    assert "![PPO vs GRPO training curves](images/ppo_vs_grpo.png)" in section
    assert (tmp_path / "images" / "ppo_vs_grpo.png").read_bytes()[:8] == PNG_SIGNATURE
