"""PPO ablation: GAE and the clipped losses against hand computations, masks, config checks, training a tiny Qwen3."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.ppo import VALUE_HEAD_FILE, completion_mask, gae, policy_loss, train_ppo, value_loss
from agentark_core.train.ppo_config import AgentArkPPOConfig
from agentark_core.train.prm_model import PRM


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
