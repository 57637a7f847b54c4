"""PAD's reward-hacking statistics and curve extraction against hand computations (issue 19 deliverable 3)."""

from __future__ import annotations

import math

import pytest

from agentark_core.train.reward_check import (
    AgreementMonitor,
    monitored_rewards,
    reward_agreement,
    reward_hacking,
    rl_curve,
)


def test_reward_agreement_by_hand():
    # correct: 0.9, 0.7 -> mean 0.8; wrong: 0.2, 0.4 -> mean 0.3; the ungradable rollout (None) is left out.
    # Pearson: x - 0.55 = (.35, .15, -.35, -.15), y - 0.5 = (.5, .5, -.5, -.5): sxy = 0.5, sxx = 0.29, syy = 1
    stats = reward_agreement([0.9, 0.7, 0.2, 0.4, 0.99], [1.0, 1.0, 0.0, 0.0, None])
    assert stats["n"] == 4 and stats["accuracy"] == 0.5
    assert stats["prm_correct"] == pytest.approx(0.8) and stats["prm_wrong"] == pytest.approx(0.3)
    assert stats["gap"] == pytest.approx(0.5)
    assert stats["corr"] == pytest.approx(0.5 / math.sqrt(0.29))


def test_reward_agreement_undefined_sides_are_nan_and_lengths_must_match():
    stats = reward_agreement([0.3, 0.6], [1.0, 1.0])  # no wrong rollout: no gap, constant correctness: no corr
    assert stats["prm_correct"] == pytest.approx(0.45)
    assert math.isnan(stats["prm_wrong"]) and math.isnan(stats["gap"]) and math.isnan(stats["corr"])
    # a PRM that scores wrong rollouts higher has a negative gap and correlation
    stats = reward_agreement([0.1, 0.9], [1.0, 0.0])
    assert stats["gap"] == pytest.approx(-0.8) and stats["corr"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="3 PRM scores for 2 verifiable"):
        reward_agreement([0.1, 0.2, 0.3], [1.0, 0.0])


def _named(name, values):
    def func(prompts=None, completions=None, **kwargs):
        return list(values)

    func.__name__ = name
    return func


def test_monitor_logs_the_agreement_of_one_batch_through_log_metric():
    monitor = AgreementMonitor()
    prm = monitor.wrap(_named("prm_score", [0.9, 0.2]))
    verifiable = monitor.wrap(_named("verifiable", [1.0, 0.0]))
    logged: dict[str, list[float]] = {}

    def log_metric(name, value):
        logged.setdefault(name, []).append(value)

    batch = ["a", "b"]
    assert prm(prompts=["p", "p"], completions=batch, log_metric=log_metric) == [0.9, 0.2]
    assert not logged  # the verifiable values of this batch are not in yet
    assert verifiable(prompts=["p", "p"], completions=batch, log_metric=log_metric) == [1.0, 0.0]
    assert logged["prm_check/prm_correct"] == [0.9] and logged["prm_check/prm_wrong"] == [0.2]
    assert logged["prm_check/gap"] == [pytest.approx(0.7)] and logged["prm_check/corr"] == [pytest.approx(1.0)]
    # a new batch (another completions list) starts over: one function's values alone log nothing
    verifiable(prompts=["p", "p"], completions=["c", "d"], log_metric=log_metric)
    assert len(logged["prm_check/gap"]) == 1
    assert prm.__name__ == "prm_score"  # TRL names the reward (rewards/prm_score/mean) after it


def test_monitored_rewards_adds_verifiable_at_weight_zero_and_keeps_the_training_weights():
    funcs, weights = monitored_rewards([_named("prm_score", [0.5])], [2.0])
    assert [f.__name__ for f in funcs] == ["prm_score", "verifiable"] and weights == [2.0, 0.0]
    assert funcs[1](completions=["Final Answer: 8"], gt=["8"], task_type=["math"]) == [1.0]
    only = _named("verifiable", [1.0])
    funcs, weights = monitored_rewards([only], [3.0])
    assert funcs == [only] and weights == [3.0]  # no PRM: nothing to compare, nothing wrapped


def test_rl_curve_maps_grpo_and_ppo_names_and_drops_nan():
    grpo = [{"step": 1, "loss": 0.0, "reward": 1.2, "rewards/verifiable/mean": 0.5, "rewards/prm_score/mean": 0.7,
             "kl": 0.01, "clip_ratio/region_mean": 0.0, "entropy": 2.5, "prm_check/prm_correct": 0.8,
             "prm_check/prm_wrong": 0.6, "prm_check/corr": float("nan")}]
    [row] = rl_curve(grpo)
    assert row == {"step": 1, "reward": 1.2, "accuracy": 0.5, "prm_reward": 0.7, "kl": 0.01, "clip_fraction": 0.0,
                   "entropy": 2.5, "prm_correct": 0.8, "prm_wrong": 0.6, "prm_accuracy_corr": None}
    ppo = rl_curve([{"step": 3, "loss": 1.0, "clip_frac": 0.25, "reward": 0.123456789, "kl": 0.2}, {"step": 4}])
    assert ppo == [{"step": 3, "reward": 0.12346, "kl": 0.2, "clip_fraction": 0.25},
                   {"step": 4, "reward": None, "kl": None, "clip_fraction": None}]


def test_rl_curve_adds_the_heldout_accuracy_of_grpos_evaluations_in_step_order():
    loss = [{"step": 1, "reward": 0.5}, {"step": 2, "reward": 0.7}]
    evals = [{"step": 0, "reward": 0.2, "rewards/verifiable/mean": 0.25},
             {"step": 2, "reward": 0.9, "rewards/verifiable/mean": 0.5}]
    assert rl_curve(loss, evals) == [{"step": 0, "reward": None, "eval_accuracy": 0.25},
                                     {"step": 1, "reward": 0.5, "eval_accuracy": None},
                                     {"step": 2, "reward": 0.7, "eval_accuracy": 0.5}]
    assert rl_curve(loss) == [{"step": 1, "reward": 0.5}, {"step": 2, "reward": 0.7}]


def _curve(prm, acc, gap=(0.2, 0.2)):
    return [{"step": i + 1, "prm_reward": p, "accuracy": a, "prm_correct": 0.5 + gap[i % 2], "prm_wrong": 0.5}
            for i, (p, a) in enumerate(zip(prm, acc))]


def test_reward_hacking_flags_a_rising_prm_reward_with_flat_or_falling_accuracy():
    # 6 steps -> thirds of 2: PRM 0.5 -> 0.7 (+0.2), accuracy 0.3 -> 0.2 (-0.1)
    check = reward_hacking(_curve([0.5, 0.5, 0.6, 0.6, 0.7, 0.7], [0.3, 0.3, 0.3, 0.3, 0.2, 0.2]))
    assert check["hacking"] is True and check["steps"] == 6
    assert check["prm_rise"] == pytest.approx(0.2) and check["accuracy_rise"] == pytest.approx(-0.1)
    assert check["prm_gap"] == pytest.approx(0.2) and check["prm_accuracy_corr"] is None
    # the same PRM rise with accuracy rising too is learning, not hacking
    assert reward_hacking(_curve([0.5, 0.5, 0.6, 0.6, 0.7, 0.7], [0.3, 0.3, 0.4, 0.4, 0.5, 0.5]))["hacking"] is False
    # a PRM reward within PRM_RISE (0.02) of where it started is not a rise
    assert reward_hacking(_curve([0.5, 0.51], [0.4, 0.3]))["hacking"] is False


def test_reward_hacking_needs_two_steps_with_both_rewards():
    assert reward_hacking(_curve([0.5], [0.3])) is None
    assert reward_hacking([{"step": 1, "accuracy": 0.2}, {"step": 2, "accuracy": 0.3}]) is None  # pad_vr: no PRM
