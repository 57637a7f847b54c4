"""PPO ablation: GAE and the clipped losses against hand computations, masks, config checks, training a tiny Qwen3,
and the curves it logs under GRPO's names (rewards, rollout accuracy, PRM check, entropy, held-out prompts)."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.ppo import (
    VALUE_HEAD_FILE,
    PolicyWithValue,
    completion_mask,
    score_rollouts,
    train_ppo,
)
from agentark_core.train.ppo_config import AgentArkPPOConfig
from agentark_core.train.ppo_loss import gae, k3_kl, policy_loss, value_loss
from agentark_core.train.prm_model import PRM
from agentark_core.train.reward_check import monitored_rewards, reward_hacking, rl_curve
from agentark_core.train.rl_common import score_completions


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_gae_matches_hand_computation():
    r = torch.tensor([[0.0, 0.5, 1.0], [0.2, 2.0, 9.0]])
    v = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 7.0]])
    m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # row 2 ends after its 2nd token
    g, lam = 0.9, 0.8
    # row 1: deltas backwards, the value after the last token is 0
    d12 = 1.0 - 0.3
    d11 = 0.5 + g * 0.3 - 0.2
    d10 = 0.0 + g * 0.2 - 0.1
    a12 = d12
    a11 = d11 + g * lam * a12
    a10 = d10 + g * lam * a11
    # row 2: token 2 is masked, so token 1 is terminal and ignores the reward 9 and value 7
    a21 = 2.0 - 0.5
    a20 = (0.2 + g * 0.5 - 0.4) + g * lam * a21
    adv, ret = gae(r, v, m, g, lam)
    torch.testing.assert_close(adv, torch.tensor([[a10, a11, a12], [a20, a21, 0.0]]))
    expected_returns = [[a10 + 0.1, a11 + 0.2, a12 + 0.3], [a20 + 0.4, a21 + 0.5, 0.0]]
    torch.testing.assert_close(ret, torch.tensor(expected_returns))


def test_policy_loss_clips_like_the_hand_computation():
    old = torch.zeros(1, 4)
    new = torch.tensor([[0.5, -0.5, 0.0, 3.0]])  # ratios e^.5, e^-.5, 1, e^3 (last token masked)
    adv = torch.tensor([[1.0, -1.0, 2.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, clip_frac = policy_loss(new, old, adv, mask, clip=0.2)
    # token 1: min(1.6487·1, 1.2·1) = 1.2; token 2: min(0.6065·-1, 0.8·-1) = -0.8; token 3: 2
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 2.0) / 3, abs=1e-6)
    assert clip_frac.item() == pytest.approx(2 / 3)
    unclipped, _ = policy_loss(new, old, adv, mask, clip=10.0)
    assert unclipped.item() == pytest.approx(-(math.exp(0.5) - math.exp(-0.5) + 2.0) / 3, abs=1e-6)


def test_value_loss_takes_the_larger_of_clipped_and_unclipped():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[0.5, 2.0]])
    # token 1: (1-.5)^2 = .25 vs clipped (0.2-.5)^2 = .09 -> .25; token 2: (0-2)^2 = 4 both ways
    assert value_loss(values, old, returns, torch.ones(1, 2), clip=0.2).item() == pytest.approx(
        0.5 * (0.25 + 4) / 2
    )
    # a step towards the return beyond the clip earns nothing: (0.2-2)^2 = 3.24 > (0.6-2)^2 = 1.96
    values = torch.tensor([[0.6, 0.0]])
    got = value_loss(values, old, torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]]), clip=0.2)
    assert got.item() == pytest.approx(0.5 * 3.24)


def test_completion_mask_keeps_tokens_through_the_first_eos():
    eos = 2
    ids = torch.tensor([[5, 2, 2, 2], [5, 6, 7, 8], [2, 9, 9, 9]])
    assert completion_mask(ids, eos).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_completion_mask_ends_at_any_stop_id_generate_stops_on():
    """Qwen3 stops on <|im_end|> or <|endoftext|> and pads with the latter: the mask ends at either."""
    from types import SimpleNamespace

    from agentark_core.train.ppo import stop_token_ids

    policy = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[7, 3]))
    assert stop_token_ids(policy, SimpleNamespace(eos_token_id=7)) == [3, 7]
    assert stop_token_ids(SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=None)),
                          SimpleNamespace(eos_token_id=7)) == [7]  # fmt: skip
    ids = torch.tensor([[5, 3, 3, 3], [5, 7, 3, 3], [5, 6, 8, 9]])
    assert completion_mask(ids, [3, 7]).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    assert completion_mask(ids, 7).tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]


def test_config_checks():
    with pytest.raises(ValueError, match="gamma"):
        AgentArkPPOConfig(gamma=1.5)
    with pytest.raises(ValueError, match="mini_batch_size"):
        AgentArkPPOConfig(batch_size=4, mini_batch_size=8)
    with pytest.raises(KeyError, match="softmin"):
        AgentArkPPOConfig(prm_aggregation="max")
    with pytest.raises(ValueError, match="heldout_prompts"):
        AgentArkPPOConfig(heldout_prompts=-1)
    with pytest.raises(ValueError, match="eval_steps"):
        AgentArkPPOConfig(eval_steps=0)


def test_train_ppo_moves_every_parameter_and_saves_policy_and_value_head(tiny, tmp_path, capfd):
    torch.manual_seed(1)
    prm_dir = tmp_path / "prm"
    PRM.from_student(tiny).save(prm_dir)
    rows = [
        {
            "question_id": f"q{i}",
            "prompt": f"What is {i} + 7?",
            "gt": str(i + 7),
            "task_type": "math",
            "choices": [],
        }
        for i in range(4)
    ] + [{"question_id": "long", "prompt": "word " * 200, "gt": "1", "task_type": "math", "choices": []}]
    cfg = AgentArkPPOConfig(
        max_steps=2, batch_size=4, mini_batch_size=2, ppo_epochs=2, max_completion_length=8,
        learning_rate=1e-2, kl_coef=0.1, max_prompt_length=64, device="cpu", prm_weight=0.5,
    )  # fmt: skip
    out = tmp_path / "ckpt"
    metrics = train_ppo(tiny, rows, str(out), cfg, prm_path=str(prm_dir))
    assert "PPO: 100%" in capfd.readouterr().err.replace("\r", "\n")  # the progress bar, to its end

    assert (
        metrics["global_step"] == 2 and metrics["num_prompts"] == 4 and metrics["num_prompts_filtered"] == 1
    )
    assert all(
        math.isfinite(row[k]) for row in metrics["loss_curve"] for k in ("loss", "policy_loss", "value_loss")
    )
    assert all(0.0 <= r <= 1.5 for r in metrics["reward_mean"])
    before = AutoModelForCausalLM.from_pretrained(tiny)
    after, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info
    unchanged = [n for n, p in before.named_parameters() if torch.equal(p, after.get_parameter(n))]
    assert not unchanged, f"parameters not trained: {unchanged}"
    head = load_file(out / VALUE_HEAD_FILE)
    assert (
        head["weight"].shape == (1, before.config.hidden_size) and head["bias"].abs().item() > 0
    )  # bias starts at 0
    ids = torch.tensor([[1, 5, 9, 40, 2]])
    assert torch.equal(after(ids).logits, AutoModelForCausalLM.from_pretrained(out)(ids).logits)
    assert not torch.allclose(before(ids).logits, after(ids).logits)


def _named(name, values):
    def func(prompts=None, completions=None, **kwargs):
        return list(values)

    func.__name__ = name
    return func


def test_k3_kl_by_hand_and_never_negative():
    logp, ref = torch.tensor([-1.0, -2.0, -0.5]), torch.tensor([-1.5, -2.0, 0.0])
    # r = ref - logp = -0.5, 0, 0.5: e^r - r - 1
    expected = [math.exp(-0.5) + 0.5 - 1, 0.0, math.exp(0.5) - 0.5 - 1]
    torch.testing.assert_close(k3_kl(logp, ref), torch.tensor(expected))
    assert (k3_kl(torch.randn(100), torch.randn(100)) >= 0).all()


def test_score_completions_gives_totals_and_trls_per_reward_means():
    # a None value counts 0 in the total and is left out of its reward's mean (TRL's nansum / nanmean)
    funcs = [_named("a", [1.0, None, 0.5]), _named("b", [0.0, 1.0, 1.0])]
    totals, means = score_completions(funcs, [2.0, 3.0], ["p"] * 3, ["c"] * 3)
    assert totals == [2.0, 3.0, 4.0]
    assert means == {"reward": 3.0, "rewards/a/mean": 0.75, "rewards/b/mean": pytest.approx(2 / 3)}
    _, means = score_completions([_named("a", [None])], [1.0], ["p"], ["c"])
    assert math.isnan(means["rewards/a/mean"])


def test_score_rollouts_measures_accuracy_and_the_prm_check_on_the_same_rollouts():
    """PPO's rewards go through GRPO's monitored_rewards: the verifiable reward is graded at weight 0 when the
    recipe does not weight it, and the PRM scores of correct vs wrong rollouts reach log_metric."""
    funcs, weights = monitored_rewards([_named("prm_score", [0.9, 0.2, 0.6])], [0.5])
    rows = [{"question_id": f"q{i}", "prompt": [{"role": "user", "content": "4 + 4?"}], "gt": "8",
             "task_type": "math", "choices": []} for i in range(3)]
    checks: dict[str, float] = {}
    totals, means = score_rollouts(rows, ["Final Answer: 8", "Final Answer: 9", "Final Answer: 8"], (funcs, weights),
                                   log_metric=checks.__setitem__)
    assert totals == pytest.approx([0.45, 0.1, 0.3])  # 0.5 * PRM; the verifiable reward weighs 0
    assert means["rewards/verifiable/mean"] == pytest.approx(2 / 3)
    assert means["rewards/prm_score/mean"] == pytest.approx(1.7 / 3) and means["reward"] == pytest.approx(0.85 / 3)
    assert checks["prm_check/prm_correct"] == pytest.approx(0.75) and checks["prm_check/prm_wrong"] == 0.2
    assert checks["prm_check/gap"] == pytest.approx(0.55)


def test_score_returns_the_entropy_of_the_sampled_distribution(tiny):
    model = PolicyWithValue(AutoModelForCausalLM.from_pretrained(tiny)).eval()
    ids = torch.tensor([[1, 5, 9, 40, 2, 7], [3, 4, 5, 6, 7, 8]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        logp, values, entropy = model.score(ids, mask, 3, 0.7, with_entropy=True)
        logits = model.policy(input_ids=ids).logits[:, 2:-1] / 0.7
        expected = torch.distributions.Categorical(logits=logits).entropy()
        assert model.score(ids, mask, 3, 0.7)[2] is None
    assert entropy.shape == logp.shape == values.shape == (2, 3)
    torch.testing.assert_close(entropy, expected, rtol=1e-4, atol=1e-5)


def test_train_ppo_logs_grpos_curves_and_scores_the_heldout_prompts(tiny, tmp_path):
    torch.manual_seed(2)
    prm_dir = tmp_path / "prm"
    PRM.from_student(tiny).save(prm_dir)
    rows = [{"question_id": f"q{i}", "prompt": f"What is {i} + 2?", "gt": str(i + 2), "task_type": "math",
             "choices": []} for i in range(6)]
    cfg = AgentArkPPOConfig(max_steps=3, batch_size=2, ppo_epochs=1, max_completion_length=8, learning_rate=1e-3,
                            kl_coef=0.1, max_prompt_length=64, device="cpu", prm_weight=0.5, verifiable_weight=2.0,
                            heldout_prompts=2, eval_steps=2, seed=5)
    metrics = train_ppo(tiny, rows, str(tmp_path / "ckpt"), cfg, prm_path=str(prm_dir))
    assert (metrics["num_prompts"], metrics["num_heldout_prompts"]) == (4, 2)
    assert metrics["reward_funcs"] == ["prm_score", "verifiable"] and metrics["reward_weights"] == [0.5, 2.0]
    assert (metrics["algorithm"], metrics["seed"]) == ("ppo", 5) and metrics["train_runtime"] > 0
    for row in metrics["loss_curve"]:
        assert 0 <= row["rewards/verifiable/mean"] <= 1 and 0 <= row["rewards/prm_score/mean"] <= 1
        assert row["entropy"] > 0 and row["kl"] >= 0 and 0 <= row["clip_frac"] <= 1
        assert any(k in row for k in ("prm_check/prm_correct", "prm_check/prm_wrong"))
    # held-out prompts scored before step 1 and at step 2 (eval_steps), in GRPO's eval_curve format
    assert [r["step"] for r in metrics["eval_curve"]] == [0, 2]
    assert all(0 <= r["rewards/verifiable/mean"] <= 1 and "reward" in r for r in metrics["eval_curve"])
    curves = rl_curve(metrics["loss_curve"], metrics["eval_curve"])
    assert [c["step"] for c in curves] == [0, 1, 2, 3]
    columns = ("reward", "accuracy", "prm_reward", "kl", "clip_fraction", "entropy")
    assert all(c[k] is not None for c in curves[1:] for k in columns)
    assert [c["eval_accuracy"] is not None for c in curves] == [True, False, True, False]
    assert reward_hacking(curves)["steps"] == 3
