"""SFT and PRM on CUDA in bf16 with the default speed path (padding-free + varlen flash attention):
a few steps give finite losses and move the weights, and varlen attention matches padded sdpa."""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(autouse=True)
def _fresh_backward_choice(monkeypatch):
    """Each test starts from the default attention-backward choice and leaves none behind."""
    from agentark_core.train import varlen_attention

    monkeypatch.setattr(varlen_attention, "_CHOICE", {})


def _sft_rows(n=8):
    return [
        {
            "prompt": f"What is {i} + 7?" + " Think." * i,
            "reasoning": f"Step 1: {i} + 7 = {i + 7}." + " Check." * (3 * i),
            "answer": f"Final Answer: {i + 7}",
            "weight": 1.0,
        }
        for i in range(n)
    ]


def test_sft_bf16_padding_free_trains(tiny_model_path, tmp_path):
    from transformers import AutoModelForCausalLM

    from agentark_core.train.sft import train_sft
    from agentark_core.train.sft_config import AgentArkSFTConfig

    config = AgentArkSFTConfig(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-2,
        bf16=True, model_dtype="bfloat16", logging_steps=1, report_to="none", save_strategy="no",
    )  # fmt: skip
    metrics = train_sft(tiny_model_path, _sft_rows(), str(tmp_path / "out"), config)
    assert len(metrics["loss_curve"]) == 3 and all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    before = AutoModelForCausalLM.from_pretrained(tiny_model_path).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert [k for k in after if torch.equal(after[k].float(), before[k].float())] == []


def test_varlen_attention_matches_padded_sdpa(tiny_model_path):
    from transformers import AutoModelForCausalLM

    from agentark_core.train.speed import model_kwargs

    torch.manual_seed(0)
    lengths = [37, 5, 64]
    ids = [torch.randint(3, 400, (n,)) for n in lengths]
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model_path, **model_kwargs("sdpa", "bfloat16")).cuda()
    varlen = AutoModelForCausalLM.from_pretrained(
        tiny_model_path, **model_kwargs("varlen", "bfloat16")
    ).cuda()
    cu = torch.tensor([0, 37, 42, 106], dtype=torch.int32, device="cuda")
    flat = varlen(
        input_ids=torch.cat(ids)[None].cuda(),
        position_ids=torch.cat([torch.arange(n) for n in lengths])[None].cuda(),
        cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=64, max_length_k=64, use_cache=False,
    ).logits[0].float()  # fmt: skip
    for i, seq in enumerate(ids):
        ref = sdpa(input_ids=seq[None].cuda(), use_cache=False).logits[0].float()
        got = flat[cu[i] : cu[i + 1]]
        assert (got - ref).norm() / ref.norm() < 2e-2


def test_prm_bf16_padding_free_trains(tiny_model_path, tmp_path):
    from agentark_core.train.prm_model import PRM
    from agentark_core.train.prm_train import PRMConfig, train_prm

    rows = [
        {
            "question_id": f"q{q}", "trace_id": f"q{q}-{t}", "prompt": f"What is {q} + {t}?",
            "steps": [f"{q} + {t} = {q + t}.", f"Final Answer: {q + t + (t % 2)}"], "step_labels": [1, 1 - t % 2],
        }
        for q in range(3)
        for t in range(4)
    ]  # fmt: skip
    config = PRMConfig(stage1_max_steps=2, stage2_max_steps=2, traces_per_batch=8,
                       stage2_learning_rate=1e-3)  # fmt: skip
    metrics = train_prm(tiny_model_path, rows, str(tmp_path / "prm"), config)
    assert len(metrics["loss_curve"]) == 4 and all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    before = PRM.from_student(tiny_model_path).backbone.state_dict()
    after = PRM.load(tmp_path / "prm").backbone.state_dict()
    assert [k for k in after if torch.equal(after[k].float(), before[k].float())] == []


def test_lm_head_loss_on_cuda_matches_full_logits():
    """The compiled tile (CUDA) under bf16 autocast: loss and gradients close to fp32 full logits."""
    from agentark_core.train.lm_head_loss import weighted_lm_head_loss

    gen = torch.Generator(device="cuda").manual_seed(0)
    hidden = torch.randn(3000, 64, device="cuda", generator=gen).requires_grad_()
    weight = (0.1 * torch.randn(5000, 64, device="cuda", generator=gen)).requires_grad_()
    targets = torch.randint(0, 5000, (3000,), device="cuda", generator=gen)
    weights = torch.rand(3000, device="cuda", generator=gen)
    with torch.autocast("cuda", torch.bfloat16):
        ours = weighted_lm_head_loss(hidden, weight, targets, weights, chunk=1024)
    ours.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    log_probs = torch.log_softmax(hidden @ weight.t(), dim=-1)
    ref = -(log_probs.gather(1, targets[:, None]).squeeze(1) * weights).sum()
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-2)
    for got, want in zip(grads, (hidden.grad, weight.grad)):
        assert (got - want).norm() / want.norm() < 2e-2


@pytest.mark.parametrize("backward", ["flash", "cudnn"])
def test_sft_block_compile_trains(tiny_model_path, tmp_path, backward):
    from agentark_core.train import varlen_attention
    from agentark_core.train.sft import train_sft
    from agentark_core.train.sft_config import AgentArkSFTConfig

    if backward == "cudnn" and varlen_attention.cudnn_backward_status(0):
        pytest.skip(varlen_attention.cudnn_backward_status(0))

    config = AgentArkSFTConfig(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-2,
        bf16=True, model_dtype="bfloat16", logging_steps=1, report_to="none", save_strategy="no",
        torch_compile=True,
    )  # fmt: skip
    varlen_attention.set_backward(backward)
    metrics = train_sft(tiny_model_path, _sft_rows(), str(tmp_path / "out"), config)
    assert len(metrics["loss_curve"]) == 3 and all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])


@pytest.mark.parametrize("backward", ["flash", "cudnn", "auto"])
def test_varlen_attention_matches_fp32_reference(backward):
    """Output and all three gradients of the packed causal attention (GQA 8/2 heads) match fp32 math."""
    from agentark_core.train import varlen_attention

    if backward == "cudnn" and varlen_attention.cudnn_backward_status(0):
        pytest.skip(varlen_attention.cudnn_backward_status(0))
    lengths = [37, 5, 300, 129]
    gen = torch.Generator(device="cuda").manual_seed(0)
    total = sum(lengths)
    q, k, v = (
        torch.randn(total, h, 64, device="cuda", generator=gen, dtype=torch.bfloat16).requires_grad_()
        for h in (8, 2, 2)
    )
    grad = torch.randn(total, 8, 64, device="cuda", generator=gen, dtype=torch.bfloat16)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    varlen_attention.set_backward(backward)
    expected = (
        backward if backward != "auto" else "flash" if varlen_attention.cudnn_backward_status(0) else "cudnn"
    )
    assert varlen_attention.backward_kernel(q.device) == expected
    out = varlen_attention.varlen_causal_attention(q, k, v, cu, max(lengths))
    out.backward(grad)
    fp32 = [t.detach().float().requires_grad_() for t in (q, k, v)]
    ref = varlen_attention.reference_attention(*fp32, cu)
    ref.backward(grad.float())
    want = (ref.detach(), *(t.grad for t in fp32))
    for got, ref in zip((out, q.grad, k.grad, v.grad), want):
        assert (got.float() - ref).norm() / ref.norm() < 2e-2


_ALLOCATOR_PROBE = """
import json, os, tempfile, torch
from agentark_core.train.sft_config import AgentArkSFTConfig
from agentark_core.train.speed import prepare_training_process
AgentArkSFTConfig(output_dir=tempfile.mkdtemp(), bf16=True, report_to="none")  # starts CUDA, sets nothing
prepare_training_process()  # what the trainer builders call first
kept = [torch.empty(100 << 20, dtype=torch.uint8, device="cuda") for _ in range(3)]
print(json.dumps({"conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"), "segments": len(torch.cuda.memory_snapshot())}))
"""


def test_training_turns_on_expandable_segments_unless_the_user_set_the_allocator():
    """Made where training starts (after the config has started CUDA), the choice reaches the allocator:
    three 100 MB tensors share one growable segment; with the user's ``expandable_segments:False`` they
    take three."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    base = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    runs = {}
    for name, extra in (("ours", {}), ("user", {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"})):
        done = subprocess.run(
            [sys.executable, "-c", _ALLOCATOR_PROBE],
            env={**base, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["ours"] == {"conf": "expandable_segments:True", "segments": 1}
    assert runs["user"] == {"conf": "expandable_segments:False", "segments": 3}
