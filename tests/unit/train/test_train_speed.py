"""Speed options on a tiny real Qwen3 (CPU): padding-free batches give the same weighted SFT loss and the
same PRM step scores as padded ones; option checks name the valid choices."""

from __future__ import annotations

import pytest
import torch

from agentark_core.train.prm_model import PRM, collate_traces, encode_trace
from agentark_core.train.prm_train import PRMConfig
from agentark_core.train.sft import build_trainer, weighted_collator
from agentark_core.train.sft_config import AgentArkSFTConfig
from agentark_core.train.speed import model_kwargs


def _rows(n=3):
    return [
        {
            "prompt": f"What is {i} + {7 * i}?" + " Think." * i,
            "reasoning": f"Step 1: {i} + {7 * i} = {8 * i}." + " Check it again." * (2 * i),
            "answer": f"Final Answer: {8 * i}",
            "weight": 1.0 / (i + 1),
        }
        for i in range(n)
    ]


def _config(tmp_path, **kw):
    base = {"output_dir": str(tmp_path), "max_steps": 2, "bf16": False, "use_cpu": True, "report_to": "none"}
    return AgentArkSFTConfig(**{**base, **kw})


@pytest.mark.parametrize("answer_loss_weight", [1.0, 2.5])
def test_padding_free_sft_loss_equals_padded(tiny_model_path, tmp_path, answer_loss_weight):
    trainer = build_trainer(
        tiny_model_path, _rows(), str(tmp_path), _config(tmp_path, answer_loss_weight=answer_loss_weight)
    )
    examples = [trainer.train_dataset[i] for i in range(3)]
    pad_id = trainer.processing_class.pad_token_id
    padded, flat = weighted_collator(pad_id)(examples), weighted_collator(pad_id, padding_free=True)(examples)
    lengths = [len(ex["input_ids"]) for ex in examples]
    assert len(set(lengths)) == 3 and flat["input_ids"].shape == (1, sum(lengths))
    assert "attention_mask" not in flat and flat["position_ids"][0, lengths[0]] == 0
    assert flat["token_weights"].sum() == pytest.approx(padded["token_weights"].sum().item())
    model = trainer.model.eval()
    with torch.no_grad():
        losses = [trainer.compute_loss(model, dict(batch)).item() for batch in (padded, flat)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_padding_free_is_the_default_and_training_runs(tiny_model_path, tmp_path):
    config = _config(tmp_path, per_device_train_batch_size=3, logging_steps=1)
    assert config.padding_free and config.attn_implementation == "auto"
    trainer = build_trainer(tiny_model_path, _rows(), str(tmp_path), config)
    trainer.train()
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))


def test_padding_free_prm_scores_equal_padded(tiny_model_path):
    prm = PRM.from_student(tiny_model_path).eval()
    traces = [
        encode_trace(prm.tokenizer, f"What is {i} + 1?", [f"{i} + 1 = {i + 1}."] * (i + 1), "\n\n")
        for i in range(3)
    ]
    padded = collate_traces(traces, prm.tokenizer.pad_token_id)
    flat = collate_traces(traces, prm.tokenizer.pad_token_id, padding_free=True)
    assert flat["input_ids"].shape == (1, sum(len(ids) for ids, _ in traces))
    assert flat["cu_seq_lens_q"].tolist()[-1] == flat["input_ids"].shape[1]
    with torch.no_grad():
        assert torch.allclose(prm(**padded), prm(**flat), atol=1e-5)


def test_speed_options_fail_with_valid_names(tmp_path):
    with pytest.raises(ValueError, match=r"attn_implementation 'flash9' unknown; valid: \['auto', 'sdpa'"):
        _config(tmp_path, attn_implementation="flash9")
    with pytest.raises(ValueError, match=r"model dtype 'fp8' unknown; valid: \['float32', 'bfloat16'\]"):
        PRMConfig(model_dtype="fp8")
    with pytest.raises(ValueError, match="packing is not supported"):
        _config(tmp_path, packing=True)
    assert model_kwargs("auto", "bfloat16", padding_free=True) == {
        "attn_implementation": "varlen" if torch.cuda.is_available() else "sdpa",
        "dtype": torch.bfloat16,
    }


def test_liger_kernels_without_cuda_fail_clearly(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM

    from agentark_core.train.speed import apply_kernels

    if torch.cuda.is_available():
        pytest.skip("the CPU-only refusal")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with pytest.raises(ValueError, match="use_liger_kernel needs a CUDA device"):
        apply_kernels(model, liger=True)


def test_block_compile_trains_to_the_eager_losses(tiny_model_path, tmp_path):
    """torch_compile (scope "blocks", the default) compiles each transformer block; two steps on
    variable-length padding-free batches give the eager run's losses, and the checkpoint keeps the
    plain parameter names."""
    from transformers import AutoModelForCausalLM

    from agentark_core.train.speed import transformer_blocks

    def losses(compile_model: bool, out):
        torch.manual_seed(0)
        config = _config(
            out, per_device_train_batch_size=2, logging_steps=1, seed=0, torch_compile=compile_model
        )
        trainer = build_trainer(tiny_model_path, _rows(4), str(out), config)
        compiled = [b._compiled_call_impl is not None for b in transformer_blocks(trainer.model)]
        assert not trainer.args.torch_compile  # blocks only: transformers must not compile the model too
        trainer.train()
        trainer.save_model(str(out / "final"))
        return [r["loss"] for r in trainer.state.log_history if "loss" in r], compiled

    eager, eager_compiled = losses(False, tmp_path / "eager")
    compiled, block_compiled = losses(True, tmp_path / "compiled")
    assert not any(eager_compiled) and block_compiled and all(block_compiled)
    assert len(compiled) == 2 and compiled == pytest.approx(eager, rel=1e-4)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "compiled" / "final")
    assert not any("_orig_mod" in name for name, _ in reloaded.named_parameters())


def test_compile_scope_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"compile_scope 'layers' unknown; valid: \['blocks', 'model'\]"):
        _config(tmp_path, compile_scope="layers")


def test_compile_mode_is_checked_and_reaches_every_block(tiny_model_path, tmp_path, monkeypatch):
    """``torch_compile_mode`` (e.g. max-autotune) is validated by both configs and handed to each
    block's ``compile``, for SFT and for the PRM backbone."""
    from torch import nn

    from agentark_core.train.prm_train import build_prm
    from agentark_core.train.speed import transformer_blocks

    with pytest.raises(ValueError, match=r"torch_compile_mode 'fast' unknown; valid: \[None, 'default'"):
        _config(tmp_path, torch_compile_mode="fast")
    with pytest.raises(ValueError, match=r"torch_compile_mode 'turbo' unknown"):
        PRMConfig(torch_compile_mode="turbo")
    seen = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, **kw: seen.append((type(self).__name__, kw)))
    mode = "max-autotune-no-cudagraphs"
    trainer = build_trainer(
        tiny_model_path,
        _rows(2),
        str(tmp_path),
        _config(tmp_path, torch_compile=True, torch_compile_mode=mode),
    )
    prm = build_prm(tiny_model_path, PRMConfig(torch_compile=True, torch_compile_mode=mode), "cpu")
    blocks = len(transformer_blocks(trainer.model)) + len(transformer_blocks(prm.backbone))
    assert len(seen) == blocks and {kw["mode"] for _, kw in seen} == {mode}
    assert all(kw["dynamic"] for _, kw in seen)


def test_sft_steps_read_nothing_back_from_the_device(tiny_model_path, tmp_path, monkeypatch):
    """Between logging steps a training step converts no tensor to a Python value outside the collator
    (each such read is a GPU sync that drains the queue): transformers' nan/inf loss filter is off."""
    import traceback

    reads = []
    for name in ("item", "__bool__", "__int__", "__float__"):
        real = getattr(torch.Tensor, name)

        def spy(self, _real=real, _name=name):
            frames = [f for f in traceback.extract_stack()[:-1] if "/torch/" not in f.filename]
            if not any("collat" in f.filename or "collat" in f.name for f in frames):
                reads.append(f"{_name} at {frames[-1].filename}:{frames[-1].lineno}")
            return _real(self)

        monkeypatch.setattr(torch.Tensor, name, spy)
    config = _config(
        tmp_path, max_steps=3, per_device_train_batch_size=2, logging_steps=10**6, save_strategy="no"
    )
    assert config.logging_nan_inf_filter is False
    trainer = build_trainer(tiny_model_path, _rows(6), str(tmp_path), config)
    reads.clear()
    trainer.train()
    # masking_utils: the CPU sdpa path's packed-sequence check (varlen on CUDA skips it);
    # lm_head_loss: its vocabulary check, CPU tensors only
    in_steps = [r for r in reads if "masking_utils" not in r and "lm_head_loss" not in r]
    assert len(in_steps) <= 2, in_steps  # get_batch_samples' token count and the final loss average


@pytest.mark.parametrize(
    ("cuda", "started", "user_setting", "made"),
    [
        (True, False, None, True),  # the case it exists for: set before CUDA starts
        (False, False, None, False),  # no CUDA: nothing to configure
        (True, False, "garbage_collection_threshold:0.6", False),  # the user's setting wins
        (True, True, None, False),  # too late: the allocator has read its settings
    ],
)
def test_expandable_segments_are_preferred_only_where_they_can_take_effect(
    monkeypatch, cuda, started, user_setting, made
):
    from agentark_core.train import speed

    for var in speed.ALLOC_CONF_VARS:
        monkeypatch.delenv(var, raising=False)
    if user_setting:
        monkeypatch.setenv("PYTORCH_ALLOC_CONF", user_setting)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: started)
    assert speed.prefer_expandable_segments() is made
    want = "expandable_segments:True" if made else None
    assert speed.os.environ.get("PYTORCH_CUDA_ALLOC_CONF") == want
    assert speed.os.environ.get("PYTORCH_ALLOC_CONF") == user_setting


def test_sft_config_prefers_expandable_segments_before_cuda_starts(tmp_path, monkeypatch):
    """The SFT config is built before any model: it is where the allocator choice is made
    (its effect on a real allocator: tests/gpu)."""
    from agentark_core.train import sft_config

    calls = []
    monkeypatch.setattr(sft_config, "prefer_expandable_segments", lambda: calls.append("asked"))
    _config(tmp_path)
    assert calls == ["asked"]


def test_sft_config_leaves_the_matmul_precision_readable(tmp_path):
    """transformers switches TF32 through torch's generic ``fp32_precision`` (on GPUs with TF32), after
    which ``torch.get_float32_matmul_precision()`` raises and inductor's GEMM autotuning fails; the
    config restates the same choice so that it reads back."""
    before = torch.get_float32_matmul_precision()
    try:
        torch.backends.fp32_precision = "tf32"  # what transformers' enable_tf32(True) does
        with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
            torch.get_float32_matmul_precision()
        _config(tmp_path)
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    finally:
        torch.set_float32_matmul_precision(before)
