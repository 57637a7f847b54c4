"""GRPO rewards: verifiable answers through grade(), PRM step aggregates, group advantages."""

from __future__ import annotations

import math

import pytest

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.prm_model import PRM
from agentark_core.train.rewards import REWARDS, STEP_AGGREGATIONS, aggregate_steps


def test_verifiable_reward_scores_correct_wrong_missing_and_ungradable():
    reward = REWARDS.get("verifiable")(weight=2.0)
    completions = [
        "Step 1: 12 + 7 = 19.\nStep 2: 19 * 3 = 57.\nFinal Answer: 57",
        "Final Answer: 56",
        "I am not sure.",
        [{"role": "assistant", "content": "The answer is B"}],
        "Paris is big.",
    ]
    out = reward(
        completions,
        gt=["57", "57", "57", "B", "Paris"],
        task_type=["math", "math", "math", "mcq", "longform"],
        choices=[None, None, None, ["red", "blue", "green"], None],
    )
    assert out[:4] == [2.0, 0.0, 0.0, 2.0]
    assert out[4] is None  # longform cannot be verified by rule


def test_verifiable_reward_grades_the_reply_after_the_think_block():
    reward = REWARDS.get("verifiable")(weight=1.0)
    completions = ["<think>\nMaybe 4? No: 2 + 3 = 5.\n</think>\n\nFinal Answer: 5",
                   "<think>\nThe answer is 5, Final Answer: 5\n</think>\n\nFinal Answer: 6",
                   [{"role": "assistant", "content": "<think>\nFinal Answer: 5 would be"}]]  # never closed
    assert reward(completions, gt=["5"] * 3, task_type=["math"] * 3) == [1.0, 0.0, 0.0]


def test_step_aggregations_match_hand_values():
    scores = [0.9, 0.2, 0.6]
    assert aggregate_steps(scores, "min") == 0.2
    assert aggregate_steps(scores, "mean") == pytest.approx((0.9 + 0.2 + 0.6) / 3)
    assert aggregate_steps(scores, "last") == 0.6
    w = [math.exp(-0.9 / 0.1), math.exp(-0.2 / 0.1), math.exp(-0.6 / 0.1)]  # softmax(−s/T), T = 0.1
    expected = (w[0] * 0.9 + w[1] * 0.2 + w[2] * 0.6) / sum(w)
    assert aggregate_steps(scores, "softmin", 0.1) == pytest.approx(expected)
    assert aggregate_steps(scores, "softmin", 1e-3) == pytest.approx(0.2)
    assert aggregate_steps(scores, "softmin", 1e4) == pytest.approx(aggregate_steps(scores, "mean"), abs=1e-4)
    with pytest.raises(KeyError, match="last, mean, min, softmin"):
        aggregate_steps(scores, "max")
    assert STEP_AGGREGATIONS.names() == ["last", "mean", "min", "softmin"]


def test_prm_reward_aggregates_prm_step_probabilities(tmp_path):
    prm = PRM.from_student(make_tiny_model(tmp_path / "tiny"))
    steps = ["Step 1: 12 + 7 = 19.", "Step 2: 19 * 3 = 57.", "Final Answer: 57"]
    completion = "\n\n".join(steps) + "\n\n"
    direct = prm.score_steps(["What is 12 + 7 times 3?"], [steps])[0]
    for how in ("min", "mean", "last", "softmin"):
        reward = REWARDS.get("prm")(prm, weight=0.5, aggregation=how)
        out = reward(
            prompts=[[{"role": "user", "content": "What is 12 + 7 times 3?"}], "What?"],
            completions=[completion, "  "],
        )
        assert out[0] == pytest.approx(0.5 * aggregate_steps(direct, how, 0.1), abs=1e-6)
        assert out[1] == 0.0
    with pytest.raises(KeyError, match="valid: last, mean, min, softmin"):
        REWARDS.get("prm")(prm, aggregation="median")


def test_unknown_reward_lists_valid_names():
    with pytest.raises(KeyError, match="prm, verifiable"):
        REWARDS.get("length")
