"""LoRA SFT (only adapters train; the saved folder is a merged HF model) and crash resume for SFT and the PRM
on a tiny real Qwen3 (CPU). Resume is checked against an uninterrupted run with the same seed."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback

from agentark_core.train import prm_train
from agentark_core.train.prm_model import PRM
from agentark_core.train.prm_train import PRMConfig, train_prm
from agentark_core.train.sft import build_trainer, last_checkpoint, train_sft
from agentark_core.train.sft_config import AgentArkSFTConfig


def _rows(n=8):
    return [
        {
            "prompt": f"What is {i} + 7?",
            "reasoning": f"Step 1: {i} + 7 = {i + 7}." + " Check." * (i % 3),
            "answer": f"Final Answer: {i + 7}",
            "weight": 1.0,
        }
        for i in range(n)
    ]


def _config(out, **kw):
    base = {
        "output_dir": str(out), "max_steps": 4, "per_device_train_batch_size": 2, "learning_rate": 1e-2,
        "bf16": False, "use_cpu": True, "logging_steps": 1, "report_to": "none", "save_strategy": "no", "seed": 0,
    }  # fmt: skip
    return AgentArkSFTConfig(**{**base, **kw})


def test_lora_trains_only_adapters_and_saves_a_merged_model(tiny_model_path, tmp_path):
    config = _config(tmp_path / "out", lora_r=4, lora_alpha=8, max_steps=3)
    trainer = build_trainer(tiny_model_path, _rows(), str(tmp_path / "out"), config)
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    lora = {k for k in before if "lora_" in k}
    assert lora and changed == {k for k in lora if "lora_B" in k or "lora_A" in k}  # base weights frozen
    from agentark_core.train.lora import save_merged

    save_merged(trainer, str(tmp_path / "merged"))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert not any("lora" in k for k in merged.state_dict())
    assert set(merged.state_dict()) == set(base.state_dict())
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    assert not torch.allclose(merged(ids).logits, base(ids).logits)
    with torch.no_grad():  # the merged weights compute what base + adapters computed
        assert torch.allclose(merged(ids).logits, trainer.model.eval()(input_ids=ids).logits, atol=1e-5)


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_sft_resumes_after_a_crash_like_an_uninterrupted_run(tiny_model_path, tmp_path):
    whole = train_sft(tiny_model_path, _rows(), str(tmp_path / "whole"), _config(tmp_path / "whole"))
    out = tmp_path / "crashed"
    config = _config(out, save_strategy="steps", save_steps=2)
    trainer = build_trainer(tiny_model_path, _rows(), str(out), config)
    trainer.add_callback(_StopAt(2))  # the "crash": the process ends after the step-2 checkpoint
    trainer.train()
    assert last_checkpoint(str(out)).endswith("checkpoint-2")
    resumed = train_sft(tiny_model_path, _rows(), str(out), config)
    assert resumed["global_step"] == 4
    assert [r["step"] for r in resumed["loss_curve"]] == [1, 2, 3, 4]  # steps 1-2 come from the checkpoint
    assert [r["loss"] for r in resumed["loss_curve"]] == pytest.approx(
        [r["loss"] for r in whole["loss_curve"]], rel=1e-4
    )
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "whole").state_dict()
    b = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def _prm_rows():
    return [
        {
            "question_id": f"q{q}", "trace_id": f"q{q}-{t}", "prompt": f"What is {q} + {t}?",
            "steps": [f"{q} + {t} = {q + t}.", f"Final Answer: {q + t + t % 2}"], "step_labels": [1, 1 - t % 2],
        }
        for q in range(4)
        for t in range(3)
    ]  # fmt: skip


def test_prm_resumes_after_a_crash_like_an_uninterrupted_run(tiny_model_path, tmp_path, monkeypatch):
    config = PRMConfig(stage1_max_steps=3, stage2_max_steps=3, traces_per_batch=6, save_steps=2,
                       stage1_learning_rate=1e-2, stage2_learning_rate=1e-2)  # fmt: skip
    whole = train_prm(tiny_model_path, _prm_rows(), str(tmp_path / "whole"), config)
    real, calls = prm_train.backward_batch, []

    def crash_at_fifth(*args):  # dies in step 5 (stage 2), after the step-4 checkpoint
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("simulated crash")
        return real(*args)

    monkeypatch.setattr(prm_train, "backward_batch", crash_at_fifth)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_prm(tiny_model_path, _prm_rows(), str(tmp_path / "crashed"), config)
    assert [p.name for p in (tmp_path / "crashed").glob("checkpoint-*")] == ["checkpoint-4"]
    monkeypatch.setattr(prm_train, "backward_batch", real)
    resumed = train_prm(tiny_model_path, _prm_rows(), str(tmp_path / "crashed"), config)
    assert [r["step"] for r in resumed["loss_curve"]] == list(range(1, 7))
    assert all(math.isfinite(r["loss"]) for r in resumed["loss_curve"])
    assert [r["loss"] for r in resumed["loss_curve"]] == pytest.approx(
        [r["loss"] for r in whole["loss_curve"]], rel=1e-4
    )
    a, b = PRM.load(tmp_path / "whole").state_dict(), PRM.load(tmp_path / "crashed").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
