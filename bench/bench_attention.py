"""Benchmark: causal variable-length attention kernels on the training batches' shapes (forward + backward).

The speed of training a small student is bounded by attention once the matmuls are fused and
launched back to back (``profile_train_step.py``: PyTorch's varlen FlashAttention-2 runs at
~170-200 TFLOP/s on an H100 and takes a fifth of an SFT step). This compares, on one packed batch
of ``--batch`` sequences with lengths uniform in ``[--min-len, --max-len]`` (Qwen3-0.6B heads:
16 query heads, 8 kv heads, head dim 128, bf16):

- ``fa2_varlen``: ``torch.nn.attention.varlen.varlen_attn`` (what ``attn_implementation="varlen"`` runs),
  native GQA;
- ``cudnn_ragged``: cuDNN's fused attention on the same packed (ragged) layout through
  ``aten._cudnn_attention_forward/backward`` with sequence offsets (kv heads repeated: no GQA there);
- ``sdpa_nested_cudnn``: ``scaled_dot_product_attention`` on nested jagged tensors with only the cuDNN
  backend allowed (the public route to cuDNN for packed sequences; not yet run on a GPU);
- ``flex_document``: compiled FlexAttention over the packed row with a causal document mask.

It prints time per forward + backward, achieved TFLOP/s (``6 · heads · head_dim · Σ L²``, causal) and the
largest difference of outputs and query gradients from FA2 (a wrong kernel shows up there).

Measured (H100 80GB HBM3, torch 2.11, session 3):

    | lengths (batch)  | fa2_varlen            | cudnn_ragged                    | flex_document              |
    | 200-1000 (32)    | 1.64 ms, 99 TFLOP/s   | failed: "Dimension out of range" | 1.87 ms, 87 TFLOP/s, diff 6.4 |
    | 400-2000 (16)    | 2.05 ms, 146 TFLOP/s  | failed: same                     | 2.48 ms, 121 TFLOP/s, diff 8.0 |

FA2 varlen is the one validated against padded sdpa (``tests/gpu``); the flex outputs differ from it
(this wiring of the document mask is not verified) and the aten cuDNN op rejects the packed 3-D layout,
so neither is a drop-in yet. Both measured slower anyway; the way up is a Hopper kernel (FA3).

Run (H100): ``PYTHONPATH=. python bench/bench_attention.py``
"""

from __future__ import annotations

import argparse
import random

import torch


def packed_batch(lengths: list[int], heads: int, kv_heads: int, head_dim: int, device: str):
    """Random q/k/v ``(total, heads, head_dim)`` (bf16, requiring grad) and int32 ``cu_seq`` offsets."""
    total = sum(lengths)
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(h):
        return torch.randn(
            total, h, head_dim, device=device, dtype=torch.bfloat16, generator=gen
        ).requires_grad_()

    offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device)
    return rand(heads), rand(kv_heads), rand(kv_heads), offsets


def fa2_varlen(q, k, v, cu_seq, max_len):
    from torch.nn.attention.varlen import varlen_attn

    from agentark_core.train.speed import _varlen_options

    support = _varlen_options()
    options = dict(support["causal"])
    if support["gqa"]:
        options["enable_gqa"] = True
    else:
        k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
    return varlen_attn(q, k, v, cu_seq, cu_seq, max_len, max_len, **options)


class CudnnRagged(torch.autograd.Function):
    """cuDNN fused attention over packed sequences (causal), forward and backward through the aten ops."""

    @staticmethod
    def forward(ctx, q, k, v, cu_seq, max_len):
        out = torch.ops.aten._cudnn_attention_forward(
            q, k, v, None, cu_seq, cu_seq, max_len, max_len, True, 0.0, True, False
        )
        output, lse, seed, offset = out[0], out[1], out[6], out[7]
        ctx.save_for_backward(q, k, v, output, lse, seed, offset, cu_seq)
        ctx.max_len = max_len
        return output

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, output, lse, seed, offset, cu_seq = ctx.saved_tensors
        empty = torch.empty(0, device=q.device)
        dq, dk, dv = torch.ops.aten._cudnn_attention_backward(
            grad_out.contiguous(), q, k, v, output, lse, seed, offset, empty,
            cu_seq, cu_seq, ctx.max_len, ctx.max_len, 0.0, True,
        )  # fmt: skip
        return dq, dk, dv, None, None


def cudnn_ragged(q, k, v, cu_seq, max_len):
    groups = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(groups, dim=1) for t in (k, v))
    return CudnnRagged.apply(q, k, v, cu_seq, max_len)


_FLEX: dict = {}


def flex_document(q, k, v, cu_seq, max_len):
    """FlexAttention (compiled) with a causal document mask; the mask is built once per batch (a
    training step would share it across layers), so it is not timed."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    if "fn" not in _FLEX:
        _FLEX["fn"] = torch.compile(flex_attention, dynamic=False)
    if _FLEX.get("key") is not cu_seq:
        total = q.shape[0]
        doc = torch.searchsorted(cu_seq[1:], torch.arange(total, device=q.device), right=True)

        def causal_document(b, h, q_idx, kv_idx):
            return (doc[q_idx] == doc[kv_idx]) & (q_idx >= kv_idx)

        _FLEX["mask"] = create_block_mask(causal_document, 1, None, total, total, device=q.device)
        _FLEX["key"] = cu_seq
    q4, k4, v4 = (t.transpose(0, 1)[None] for t in (q, k, v))
    out = _FLEX["fn"](q4, k4, v4, block_mask=_FLEX["mask"], enable_gqa=True)
    return out[0].transpose(0, 1)


def sdpa_nested_cudnn(q, k, v, cu_seq, max_len):
    """Public route to cuDNN on packed sequences: SDPA over nested jagged tensors, cuDNN backend only."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    groups = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(groups, dim=1) for t in (k, v))
    offsets = cu_seq.long()
    q, k, v = (torch.nested.nested_tensor_from_jagged(t, offsets).transpose(1, 2) for t in (q, k, v))
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return out.transpose(1, 2).values()


KERNELS = {
    "fa2_varlen": fa2_varlen,
    "cudnn_ragged": cudnn_ragged,
    "sdpa_nested_cudnn": sdpa_nested_cudnn,
    "flex_document": flex_document,
}


def time_kernel(fn, q, k, v, cu_seq, max_len, iters: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mean ms of forward + backward over ``iters`` runs (after 3 warm-ups); the output and dq of one run."""
    grad = torch.randn_like(q)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = fn(q, k, v, cu_seq, max_len)
        out.backward(grad)
        return out

    for _ in range(3):
        out = step()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        step()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters, out.detach().float(), q.grad.detach().float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--min-len", type=int, default=200)
    parser.add_argument("--max-len", type=int, default=1000)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_attention needs a CUDA device")
    rng = random.Random(0)
    lengths = [rng.randint(args.min_len, args.max_len) for _ in range(args.batch)]
    q, k, v, cu_seq = packed_batch(lengths, args.heads, args.kv_heads, args.head_dim, "cuda")
    flops = 6 * args.heads * args.head_dim * sum(n * n for n in lengths)
    rows, reference = [], None
    for name, fn in KERNELS.items():
        try:
            ms, out, dq = time_kernel(fn, q, k, v, cu_seq, max(lengths), args.iters)
        except Exception as err:  # noqa: BLE001 -- a kernel this build or GPU lacks: report the row, go on
            rows.append(f"| {name} | failed: {str(err).splitlines()[0][:150]} |")
            continue
        reference = reference or (out, dq)
        diff = max((out - reference[0]).abs().max().item(), (dq - reference[1]).abs().max().item())
        rows.append(f"| {name} | {ms:.2f} | {flops / ms / 1e9:.0f} | {diff:.3g} |")
    print(f"{args.batch} sequences, {sum(lengths)} tokens, lengths {args.min_len}-{args.max_len}")
    print("| kernel | fwd+bwd ms | TFLOP/s | max diff vs first |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
