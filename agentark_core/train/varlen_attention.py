"""Causal attention over packed variable-length sequences for training (the ``"varlen"`` attention).

Padding-free batches pack every example of a micro-batch into one row; attention must stay inside
each example. The forward is PyTorch's FlashAttention-2 kernel for variable-length sequences
(``aten._flash_attention_forward`` with its causal specialisation, grouped-query heads native; torch's
public ``varlen_attn`` expresses causality as a window and runs the slower local-attention kernel:
0.61 vs 0.44 ms on 16 sequences of 400-2000 tokens on an H100). The backward runs on one of two
kernels, both reading the forward's output and log-sum-exp as they are:

- ``"cudnn"``: cuDNN's fused attention backward through the ``nvidia-cudnn-frontend`` package
  (``torch.ops.cudnn.sdpa_bwd`` on the packed layout; Hopper or newer; the ``gpu`` extra installs it).
  On its own it is ~1.5x faster than FlashAttention-2's on training-length sequences
  (``bench/bench_attention.py``, H100: 0.97 vs 1.44 ms for 16 sequences of 400-2000 tokens). The
  frontend builds one execution graph per packed total, so the packed rows are padded to token
  buckets and the declared longest length rounded up to a power of two: a few graphs serve a whole
  run (built per batch instead, it made training slower: SFT 33.0% vs 38.5% MFU). Bucketed, in
  training on an H100 (Qwen3-0.6B shape, same run): SFT 40.4% vs 39.6% MFU, PRM 40.1% vs 38.0%.
- ``"flash"``: FlashAttention-2's backward (any GPU torch's flash kernels support).
- ``"auto"`` (default): ``cudnn`` where it can run, else ``flash``.

The environment variable ``AGENTARK_VARLEN_BACKWARD`` (``auto|flash|cudnn``) or :func:`set_backward`
chooses; asking for ``"cudnn"`` where it cannot run is an error that names why, not a fallback.

Both halves are registered as PyTorch custom ops (``agentark::varlen_attn_fwd`` / ``_bwd``) with shape
functions, so compiled transformer blocks trace through them without graph breaks.

Example:
    >>> out = varlen_causal_attention(q, k, v, cu_seq, max_len)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import itertools
import logging
import os

import torch

logger = logging.getLogger(__name__)

BACKWARDS = ("auto", "flash", "cudnn")
ENV_VAR = "AGENTARK_VARLEN_BACKWARD"
# cuDNN builds (and may compile) one execution graph per (batch, longest length, packed total). So that
# variable-length batches share a few graphs, the longest length is declared rounded up to a power of
# two (at least CUDNN_MIN_LENGTH; the kernel skips the tiles past each sequence's real length) and the
# packed rows are padded to a multiple of CUDNN_TOKEN_BUCKET (rows outside every sequence are never read)
CUDNN_MIN_LENGTH = 256
CUDNN_TOKEN_BUCKET = 8192

_CHOICE: dict = {}


def set_backward(kind: str) -> None:
    """Choose the backward kernel for this process (``auto``, ``flash`` or ``cudnn``).

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in BACKWARDS:
        raise ValueError(f"varlen attention backward {kind!r} unknown; valid: {list(BACKWARDS)}")
    _CHOICE.clear()
    _CHOICE["backward"] = kind


def requested_backward() -> str:
    """The chosen backward (read from ``AGENTARK_VARLEN_BACKWARD`` the first time, ``auto`` when unset)."""
    if "backward" not in _CHOICE:
        set_backward(os.environ.get(ENV_VAR, "auto"))
    return _CHOICE["backward"]


@functools.cache
def cudnn_backward_status(device_index: int) -> str | None:
    """Why cuDNN's backward cannot run on this GPU (a sentence), or None when it can."""
    major, minor = torch.cuda.get_device_capability(device_index)
    if major < 9:
        return f"cuDNN's packed-sequence attention backward needs a Hopper or newer GPU (this is sm{major}{minor})"
    try:
        import cudnn.sdpa.fwd.torch_op  # noqa: F401  (registers torch.ops.cudnn.sdpa_bwd)
    except Exception as err:  # noqa: BLE001 -- missing package or library: the reason is reported
        return f"the cuDNN frontend is not usable ({type(err).__name__}: {err}); pip install nvidia-cudnn-frontend"
    return None


def backward_kernel(device: torch.device) -> str:
    """The backward kernel (``flash`` or ``cudnn``) attention on ``device`` runs with the current choice.

    Resolved once per choice on CUDA and kept (the attention's registration resolves it, so compiled
    code only reads the stored answer); ``auto`` logs which kernel it took and why.

    Raises:
        RuntimeError: ``cudnn`` was asked for but cannot run here (the reason is named).
    """
    requested = requested_backward()
    if device.type != "cuda":
        return "flash"
    if "kernel" in _CHOICE:
        return _CHOICE["kernel"]
    kernel = "flash"
    if requested != "flash":
        reason = cudnn_backward_status(
            device.index if device.index is not None else torch.cuda.current_device()
        )
        if reason is not None and requested == "cudnn":
            raise RuntimeError(f"{ENV_VAR}=cudnn: {reason}")
        kernel = "flash" if reason else "cudnn"
        if requested == "auto":
            logger.info("varlen attention backward: %s (auto; %s)", kernel, reason or f"{ENV_VAR} forces one")
    _CHOICE["kernel"] = kernel
    return kernel


@torch.library.custom_op("agentark::varlen_attn_fwd", mutates_args=())
def _forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seq: torch.Tensor,
    max_len: int,
    scale: float,
    total: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    out, lse, _rng, _, _ = torch.ops.aten._flash_attention_forward(
        q, k, v, cu_seq, cu_seq, max_len, max_len, 0.0, True, False, scale=scale
    )
    return out, lse


@_forward.register_fake
def _forward_shape(q, k, v, cu_seq, max_len, scale, total):
    return torch.empty_like(q), q.new_empty((q.shape[1], q.shape[0]), dtype=torch.float32)


@torch.library.custom_op("agentark::varlen_attn_bwd", mutates_args=())
def _backward_op(
    grad: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    cu_seq: torch.Tensor,
    max_len: int,
    scale: float,
    total: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grad = grad.contiguous()
    if backward_kernel(q.device) == "cudnn":
        from cudnn.sdpa.fwd.torch_op import thd_lse_to_padded

        n = max(CUDNN_MIN_LENGTH, 1 << (max_len - 1).bit_length())
        # FlashAttention's (heads, tokens) log-sum-exp of the real rows -> cuDNN's (batch, heads, n, 1)
        lse_padded = thd_lse_to_padded(lse[:, :total].transpose(0, 1), cu_seq, n)
        return torch.ops.cudnn.sdpa_bwd(
            grad, q, k, v, out, lse_padded, scale, is_causal=True,
            cu_seqlens_q=cu_seq, cu_seqlens_kv=cu_seq, max_seqlen_q=n, max_seqlen_kv=n,
            is_deterministic=torch.are_deterministic_algorithms_enabled(),
        )  # fmt: skip
    rng = torch.zeros(2, dtype=torch.uint64, device=q.device)  # no dropout: the seed is never read
    unused = torch.empty(0, device=q.device)
    dq, dk, dv = torch.ops.aten._flash_attention_backward(
        grad, q, k, v, out, lse, cu_seq, cu_seq, max_len, max_len, 0.0, True, rng, unused, scale=scale
    )
    return dq, dk, dv


@_backward_op.register_fake
def _backward_shape(grad, q, k, v, out, lse, cu_seq, max_len, scale, total):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _save(ctx, inputs, output):
    q, k, v, cu_seq, max_len, scale, total = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, cu_seq)
    ctx.max_len, ctx.scale, ctx.total = max_len, scale, total


def _differentiate(ctx, grad_out, _grad_lse):
    q, k, v, out, lse, cu_seq = ctx.saved_tensors
    dq, dk, dv = _backward_op(grad_out, q, k, v, out, lse, cu_seq, ctx.max_len, ctx.scale, ctx.total)
    return dq, dk, dv, None, None, None, None


_forward.register_autograd(_differentiate, setup_context=_save)


def varlen_causal_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seq: torch.Tensor,
    max_len: int,
    scale: float | None = None,
) -> torch.Tensor:
    """Causal attention within each packed sequence (CUDA, bf16/fp16).

    Args:
        q: ``(tokens, heads, head_dim)``; k, v: ``(tokens, kv_heads, head_dim)`` with ``kv_heads``
            dividing ``heads`` (grouped-query attention without copies).
        cu_seq: int32 ``(n_sequences + 1,)`` sequence boundaries on the same device.
        max_len: the longest sequence's length.
        scale: softmax scale; ``head_dim ** -0.5`` when None.

    Returns:
        ``(tokens, heads, head_dim)``, differentiable in q, k and v.

    Raises:
        ValueError: not on CUDA, a dtype the kernels lack, or mismatched shapes (named).
    """
    if q.device.type != "cuda":
        raise ValueError(f"varlen attention runs on CUDA only; got a {q.device.type} tensor")
    if q.dtype not in (torch.bfloat16, torch.float16) or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(
            f"varlen attention needs bf16/fp16 q, k, v of one dtype; got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.dim() != 3 or k.shape != v.shape or k.shape[0] != q.shape[0] or q.shape[1] % k.shape[1]:
        raise ValueError(
            f"varlen attention: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} are not "
            "(tokens, heads, dim) / (tokens, kv_heads, dim) with kv_heads dividing heads"
        )
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    total = q.shape[0]
    if backward_kernel(q.device) == "cudnn":  # resolved at registration: compiled code sees a constant
        pad = -(-total // CUDNN_TOKEN_BUCKET) * CUDNN_TOKEN_BUCKET - total
        q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, 0, 0, pad)) for t in (q, k, v))
    out, _ = torch.ops.agentark.varlen_attn_fwd(q, k, v, cu_seq, int(max_len), scale, total)
    return out[:total]


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seq: torch.Tensor, scale: float | None = None
) -> torch.Tensor:
    """The same causal attention in plain PyTorch, one sequence at a time, in the inputs' dtype (any
    device; slow): the reference the kernels are checked against. Rows past ``cu_seq[-1]`` are left out."""
    bounds = cu_seq.tolist()
    groups = q.shape[1] // k.shape[1]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    outs = []
    for start, end in itertools.pairwise(bounds):
        ks, vs = (t[start:end].repeat_interleave(groups, dim=1) for t in (k, v))
        scores = torch.einsum("qhd,khd->hqk", q[start:end], ks) * scale
        causal = torch.ones(end - start, end - start, dtype=torch.bool, device=q.device).tril()
        outs.append(torch.einsum("hqk,khd->qhd", scores.masked_fill(~causal, float("-inf")).softmax(-1), vs))
    return torch.cat(outs)
