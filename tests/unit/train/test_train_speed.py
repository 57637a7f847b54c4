"""Speed options on a tiny real Qwen3 (CPU): padding-free batches give the same weighted SFT loss and the
same PRM step scores as padded ones; option checks name the valid choices."""

from __future__ import annotations

import pytest
import torch

from agentark_core.train.prm_config import PRMConfig
from agentark_core.train.prm_model import PRM, collate_traces, encode_trace
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
    assert flat["input_ids"].shape == (1, sum(len(ids) for ids, *_ in traces))
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
    ("cuda", "started", "user_setting", "changeable", "made"),
    [
        (True, False, None, True, True),  # before CUDA starts: the environment variable does it
        (False, False, None, True, False),  # no CUDA: nothing to configure
        (True, False, "garbage_collection_threshold:0.6", True, False),  # the user's setting wins
        (True, True, None, True, True),  # CUDA started (a TrainingArguments did it): torch's settings call
        (True, True, None, False, False),  # ... unless this torch has no such call
    ],
)
def test_expandable_segments_are_preferred_only_where_they_can_take_effect(
    monkeypatch, cuda, started, user_setting, changeable, made
):
    from agentark_core.train import speed

    for var in speed.ALLOC_CONF_VARS:
        monkeypatch.delenv(var, raising=False)
    if user_setting:
        monkeypatch.setenv("PYTORCH_ALLOC_CONF", user_setting)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: started)
    changed = []
    if changeable:
        monkeypatch.setattr(torch._C, "_accelerator_setAllocatorSettings", changed.append, raising=False)
    else:
        monkeypatch.delattr(torch._C, "_accelerator_setAllocatorSettings", raising=False)
    assert speed.prefer_expandable_segments() is made
    want = "expandable_segments:True" if made else None
    assert speed.os.environ.get("PYTORCH_CUDA_ALLOC_CONF") == want
    assert speed.os.environ.get("PYTORCH_ALLOC_CONF") == user_setting
    assert changed == (["expandable_segments:True"] if made and started else [])


_PRECISION_SWITCHES = (
    (torch.backends, "fp32_precision"),
    (torch.backends.cuda.matmul, "fp32_precision"),
    (torch.backends.mkldnn.matmul, "fp32_precision"),
)


@pytest.fixture
def mixed_matmul_precision():
    """The state transformers' ``enable_tf32(True)`` leaves on GPUs with TF32 in a fresh process: torch's
    generic ``fp32_precision`` set, after which ``torch.get_float32_matmul_precision()`` raises (and
    inductor's GEMM autotuning with it). The switches are put back afterwards."""
    saved = [getattr(obj, name) for obj, name in _PRECISION_SWITCHES]
    for obj, name in reversed(_PRECISION_SWITCHES):
        setattr(obj, name, "none")  # the leaves inherit the generic switch again, as in a fresh process
    torch.backends.fp32_precision = "tf32"
    with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
        torch.get_float32_matmul_precision()
    yield
    for obj, name in reversed(_PRECISION_SWITCHES):
        setattr(obj, name, "none")
    for (obj, name), value in zip(_PRECISION_SWITCHES, saved):
        setattr(obj, name, value)


def test_configs_change_nothing_in_the_process(tmp_path, monkeypatch, mixed_matmul_precision):
    """Building a config (as recipe validation does for every planned stage) sets no environment
    variable and leaves the matmul precision as it is, even where CUDA could be configured."""
    from agentark_core.train import speed
    from agentark_core.train.grpo_config import AgentArkGRPOConfig
    from agentark_core.train.ppo_config import AgentArkPPOConfig

    for var in speed.ALLOC_CONF_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _config(tmp_path)
    AgentArkGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    AgentArkPPOConfig()
    PRMConfig()
    with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
        torch.get_float32_matmul_precision()  # not restated by any constructor
    assert not any(var in speed.os.environ for var in speed.ALLOC_CONF_VARS)


@pytest.mark.parametrize("entry", ["sft", "prm", "grpo", "ppo"])
def test_every_trainer_prepares_the_process_before_it_loads_anything(entry, tmp_path, monkeypatch):
    """Each trainer makes the process-wide settings first (before any model or tokenizer is loaded)."""
    from agentark_core.train import grpo, ppo, prm_train, sft, speed
    from agentark_core.train.grpo_config import AgentArkGRPOConfig
    from agentark_core.train.ppo_config import AgentArkPPOConfig

    class Prepared(Exception):
        pass

    def prepare():
        raise Prepared

    monkeypatch.setattr(speed, "prepare_training_process", prepare)
    missing = str(tmp_path / "no-model")  # loading it would fail with another error
    calls = {
        "sft": lambda: sft.train_sft(missing, _rows(), str(tmp_path), _config(tmp_path)),
        "prm": lambda: prm_train.train_prm(missing, [], str(tmp_path), PRMConfig()),
        "grpo": lambda: grpo.train_grpo(missing, [], str(tmp_path), AgentArkGRPOConfig(
            output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none")),
        "ppo": lambda: ppo.train_ppo(missing, [], str(tmp_path), AgentArkPPOConfig()),
    }
    with pytest.raises(Prepared):
        calls[entry]()


def test_training_restates_the_matmul_precision_readably(tiny_model_path, tmp_path, mixed_matmul_precision):
    """Where training starts, a TF32 choice made through the generic switch is restated through
    ``set_float32_matmul_precision`` so that it reads back (inductor's autotuning reads it)."""
    build_trainer(tiny_model_path, _rows(), str(tmp_path), _config(tmp_path))
    assert torch.get_float32_matmul_precision() == "high"
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"


@pytest.mark.parametrize("pin_memory, non_blocking", [(True, True), (False, False)])
def test_non_blocking_copies_only_with_pinned_memory(tmp_path, pin_memory, non_blocking):
    # unpinned batches cannot be copied asynchronously: transformers would warn on every run
    config = AgentArkSFTConfig(output_dir=str(tmp_path), dataloader_pin_memory=pin_memory, bf16=False)
    assert config.accelerator_config.non_blocking is non_blocking
