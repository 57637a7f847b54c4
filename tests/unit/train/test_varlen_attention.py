"""The varlen attention op's choices and checks that hold without a GPU (kernels: tests/gpu)."""

from __future__ import annotations

import pytest
import torch

from agentark_core.train import varlen_attention


@pytest.fixture(autouse=True)
def _fresh_choice(monkeypatch):
    monkeypatch.setattr(varlen_attention, "_CHOICE", {})


def test_unknown_backward_is_named():
    with pytest.raises(ValueError, match="'fast' unknown.*flash.*cudnn"):
        varlen_attention.set_backward("fast")


def test_default_is_auto_and_env_var_chooses_and_bad_value_fails(monkeypatch):
    monkeypatch.delenv(varlen_attention.ENV_VAR, raising=False)
    assert varlen_attention.requested_backward() == "auto"
    monkeypatch.setattr(varlen_attention, "_CHOICE", {})
    monkeypatch.setenv(varlen_attention.ENV_VAR, "cudnn")
    assert varlen_attention.requested_backward() == "cudnn"
    monkeypatch.setattr(varlen_attention, "_CHOICE", {})
    monkeypatch.setenv(varlen_attention.ENV_VAR, "cuDNN")
    with pytest.raises(ValueError, match="'cuDNN' unknown"):
        varlen_attention.requested_backward()


def test_off_cuda_the_backward_is_flash_and_the_op_refuses():
    varlen_attention.set_backward("cudnn")
    assert varlen_attention.backward_kernel(torch.device("cpu")) == "flash"
    q = torch.zeros(4, 2, 8, dtype=torch.bfloat16)
    cu = torch.tensor([0, 4], dtype=torch.int32)
    with pytest.raises(ValueError, match="CUDA only"):
        varlen_attention.varlen_causal_attention(q, q[:, :1], q[:, :1], cu, 4)


@pytest.mark.parametrize(
    ("requested", "reason", "expected"),
    [
        ("auto", None, "cudnn"),
        ("auto", "needs a Hopper or newer GPU (this is sm80)", "flash"),
        ("flash", None, "flash"),
        ("cudnn", None, "cudnn"),
        ("cudnn", "needs a Hopper or newer GPU (this is sm80)", RuntimeError),
    ],
)
def test_backward_kernel_resolves_the_choice_against_the_gpu(monkeypatch, requested, reason, expected):
    """``auto`` takes cuDNN where it can run and FlashAttention-2 elsewhere; an explicit ``cudnn`` that
    cannot run is an error naming the reason. The answer is kept until the choice changes."""
    monkeypatch.setattr(varlen_attention, "cudnn_backward_status", lambda index: reason)
    varlen_attention.set_backward(requested)
    gpu = torch.device("cuda", 0)
    if expected is RuntimeError:
        with pytest.raises(RuntimeError, match="AGENTARK_VARLEN_BACKWARD=cudnn: needs a Hopper"):
            varlen_attention.backward_kernel(gpu)
        return
    assert varlen_attention.backward_kernel(gpu) == expected
    monkeypatch.setattr(varlen_attention, "cudnn_backward_status", lambda index: "gone")
    assert varlen_attention.backward_kernel(gpu) == expected  # kept, not re-probed
    varlen_attention.set_backward("auto")  # a new choice resolves again, against the new status
    assert varlen_attention.backward_kernel(gpu) == "flash"


def test_shape_functions_describe_the_kernels_outputs():
    """The fake (meta) implementations compile traces rely on: output like q, (heads, tokens) fp32
    log-sum-exp, and gradients shaped like their inputs (grouped kv heads included)."""
    q = torch.empty(10, 4, 8, dtype=torch.bfloat16, device="meta")
    k = torch.empty(10, 2, 8, dtype=torch.bfloat16, device="meta")
    cu = torch.empty(3, dtype=torch.int32, device="meta")
    out, lse = varlen_attention._forward_shape(q, k, k, cu, 6, 0.35, 10)
    assert out.shape == q.shape and out.dtype == q.dtype
    assert lse.shape == (4, 10) and lse.dtype == torch.float32
    dq, dk, dv = varlen_attention._backward_shape(out, q, k, k, out, lse, cu, 6, 0.35, 10)
    assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, k.shape)


def test_the_ops_are_registered_with_torch():
    assert hasattr(torch.ops.agentark, "varlen_attn_fwd") and hasattr(torch.ops.agentark, "varlen_attn_bwd")


def test_registering_the_attention_fails_early_on_a_bad_choice(monkeypatch):
    from agentark_core.train.speed import register_varlen_attention

    monkeypatch.setenv(varlen_attention.ENV_VAR, "fa3")
    with pytest.raises(ValueError, match="'fa3' unknown"):
        register_varlen_attention()


def test_reference_attention_matches_sdpa_sequence_by_sequence():
    """The fp32 reference the GPU kernels are checked against: causal sdpa per sequence, shared kv heads."""
    torch.manual_seed(0)
    lengths = [3, 7, 1]
    q, k, v = (torch.randn(sum(lengths), h, 8) for h in (4, 2, 2))
    cu = torch.tensor([0, 3, 10, 11], dtype=torch.int32)
    out = varlen_attention.reference_attention(q, k, v, cu)
    for start, end in zip(cu[:-1].tolist(), cu[1:].tolist()):
        qs, ks, vs = (t[start:end].transpose(0, 1) for t in (q, k, v))
        want = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)
        torch.testing.assert_close(out[start:end], want.transpose(0, 1))
