"""The DeepSpeed side of our own loops' engine (``agentark_core.train.engine``): which ZeRO stage a launch asked
for, and the DeepSpeed config built from it or from a user's JSON (the training itself: test_distributed.py)."""

from __future__ import annotations

import json

import pytest

from agentark_core.train.engine import deepspeed_config, zero_stage


def test_the_zero_stage_comes_from_accelerate_launch(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    assert zero_stage() == 0
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert zero_stage() == 3
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    assert zero_stage() == 0


def test_config_from_the_launch_fills_the_loop_and_keeps_fp32(monkeypatch):
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", raising=False)
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "cpu")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none")
    config = deepspeed_config(2, accumulation=4, max_grad_norm=0.5)
    assert config["zero_optimization"] == {"stage": 2, "offload_optimizer": {"device": "cpu"}}
    assert (config["gradient_accumulation_steps"], config["gradient_clipping"]) == (4, 0.5)
    assert config["train_micro_batch_size_per_gpu"] == 1 and "train_batch_size" not in config
    assert config["bf16"] == {"enabled": False} and config["zero_allow_untested_optimizer"]


def test_a_user_json_keeps_its_settings_and_must_agree_on_accumulation(monkeypatch, tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 3, "reduce_bucket_size": 1000},
                                "gradient_accumulation_steps": "auto", "gradient_clipping": 2.0,
                                "train_batch_size": "auto"}))
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(path))
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", raising=False)
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", raising=False)
    config = deepspeed_config(3, accumulation=2, max_grad_norm=1.0)
    assert config["zero_optimization"] == {"stage": 3, "reduce_bucket_size": 1000}
    assert (config["gradient_accumulation_steps"], config["gradient_clipping"]) == (2, 2.0)
    path.write_text(json.dumps({"gradient_accumulation_steps": 8}))
    with pytest.raises(ValueError, match=r"ds.json: gradient_accumulation_steps 8 but the loop accumulates 2"):
        deepspeed_config(3, accumulation=2, max_grad_norm=1.0)
