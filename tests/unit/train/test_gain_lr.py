"""The normalisation gains' own learning rate (agentark_core/train/gain_lr.py) in GRPO and PPO on a tiny Qwen3."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from agentark_core.train.gain_lr import gain_parameters, regroup_optimizer, split_gain_groups
from agentark_core.train.grpo import train_grpo
from agentark_core.train.grpo_config import AgentArkGRPOConfig
from agentark_core.train.ppo import train_ppo
from agentark_core.train.ppo_config import AgentArkPPOConfig

ROWS = [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
         "choices": []} for i in range(4)]


def _names(model, params) -> set[str]:
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_gains_are_the_norm_weights_and_move_to_their_own_group(tiny, caplog):
    model = AutoModelForCausalLM.from_pretrained(tiny)
    layers = model.config.num_hidden_layers
    names = _names(model, gain_parameters(model))
    assert len(names) == 4 * layers + 1 and all(n.endswith("norm.weight") for n in names)  # q/k/input/post + final
    groups = [{"params": list(model.parameters()), "lr": 1e-5, "weight_decay": 0.01}]
    assert split_gain_groups(groups, model, None) is groups
    rest, gains = split_gain_groups(groups, model, 3e-2)
    assert _names(model, gains["params"]) == names and gains["lr"] == 3e-2 and gains["weight_decay"] == 0.01
    assert rest["lr"] == 1e-5 and len(rest["params"]) + len(gains["params"]) == len(list(model.parameters()))

    hf_like = [{"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": 0.01},
               {"params": gain_parameters(model), "weight_decay": 0.0}]  # a group of gains only, as HF's no-decay
    optimizer = torch.optim.AdamW(hf_like, lr=1e-5)
    regroup_optimizer(optimizer, model, 3e-2)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-5, 3e-2]
    other = torch.optim.AdamW([p for p in model.parameters() if p.ndim > 1], lr=1e-5)
    with caplog.at_level("WARNING", logger="agentark_core.train.gain_lr"):
        regroup_optimizer(other, model, 3e-2)  # no gain among its parameters: said, and left as it is
    assert "no trainable normalisation gain" in caplog.text and len(other.param_groups) == 1

    optimizer = torch.optim.AdamW(groups)
    model(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    optimizer.step()
    with pytest.raises(RuntimeError, match="first step"):
        regroup_optimizer(optimizer, model, 3e-2)


def test_config_checks_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="gain_learning_rate"):
        AgentArkGRPOConfig(output_dir=str(tmp_path), bf16=False, use_cpu=True, gain_learning_rate=0.0)
    with pytest.raises(ValueError, match="gain_learning_rate"):
        AgentArkPPOConfig(gain_learning_rate=-1e-3)


def _moves(before, after) -> tuple[float, float]:
    """Largest change of a gain, and of any other parameter."""
    gains = _names(before, gain_parameters(before))
    diffs = {n: (p - after.get_parameter(n)).abs().max().item() for n, p in before.named_parameters()}
    return max(diffs[n] for n in gains), max(d for n, d in diffs.items() if n not in gains)


def test_grpo_moves_the_gains_at_their_rate_and_the_rest_at_learning_rate(tiny, prm_dir, tmp_path):
    config = AgentArkGRPOConfig(
        output_dir=str(tmp_path / "run"), num_generations=2, per_device_train_batch_size=4, max_steps=2,
        max_completion_length=8, learning_rate=1e-6, gain_learning_rate=1e-2, lr_scheduler_type="constant",
        beta=0.0, bf16=False, use_cpu=True, report_to="none", save_strategy="no", seed=0,
        dataloader_pin_memory=False, max_prompt_length=64,
    )  # fmt: skip
    train_grpo(tiny, ROWS, str(tmp_path / "ckpt"), config, prm_path=prm_dir)  # the PRM's reward: never all equal
    gain_move, other_move = _moves(AutoModelForCausalLM.from_pretrained(tiny),
                                   AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt"))
    assert gain_move > 5e-3  # Adam: ~lr a step
    assert other_move < 3e-6


def test_ppo_moves_the_gains_at_their_rate(tiny, prm_dir, tmp_path):
    config = AgentArkPPOConfig(
        max_steps=2, batch_size=4, mini_batch_size=4, ppo_epochs=1, max_completion_length=8, learning_rate=1e-6,
        gain_learning_rate=1e-2, kl_coef=0.0, max_prompt_length=64, device="cpu",
    )  # fmt: skip
    train_ppo(tiny, ROWS, str(tmp_path / "ckpt"), config, prm_path=prm_dir)
    gain_move, other_move = _moves(AutoModelForCausalLM.from_pretrained(tiny),
                                   AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt"))
    assert gain_move > 5e-3 and other_move < 3e-6
