"""Benchmark: causal variable-length attention kernels on the training batches' shapes (forward + backward).

Attention is the slowest part of a training step once the matmuls are fused and launched back to
back (``profile_train_step.py``: ~20% of an SFT step, more for the PRM's longer traces). This compares,
on one packed batch of ``--batch`` sequences with lengths uniform in ``[--min-len, --max-len]``
(Qwen3-0.6B heads: 16 query heads, 8 kv heads, head dim 128, bf16):

- ``fa2_varlen``: torch's public ``torch.nn.attention.varlen.varlen_attn`` (causal as a window, which
  runs FlashAttention-2's local-attention kernel), native GQA;
- ``flex_document``: compiled FlexAttention over the packed row with a causal document mask;
- ``cudnn_frontend`` / ``_b256``: cuDNN forward + backward through the ``nvidia-cudnn-frontend`` package's
  differentiable varlen op (longest length exact / rounded up to 256);
- ``ours_flash_bwd`` / ``ours_cudnn_bwd``: :mod:`agentark_core.train.varlen_attention` (what
  ``attn_implementation="varlen"`` runs): FlashAttention-2's causal forward, then FlashAttention-2's
  or cuDNN's backward.

It prints the forward alone, the backward (forward + backward minus forward), achieved TFLOP/s
(``6 · heads · head_dim · Σ L²``, causal) and the largest differences of the output and the query
gradient from fp32 attention computed sequence by sequence (first three sequences).

Measured (H100 80GB HBM3, torch 2.11, cuDNN 9.19, nvidia-cudnn-frontend 1.32, session 4, one run):

    | 16 sequences, 400-2000 tokens | fwd ms | bwd ms | fwd+bwd ms | TFLOP/s | out / dq diff vs fp32 |
    | fa2_varlen                    | 0.61   | 1.70   | 2.31       | 130     | 0.0082 / 0.0116       |
    | flex_document                 | 0.53   | 1.95   | 2.47       | 121     | 0.0082 / 0.0116       |
    | cudnn_frontend                | 0.39   | 1.92   | 2.31       | 130     | 0.0082 / 0.0145       |
    | cudnn_frontend_b256           | 0.46   | 1.49   | 1.94       | 154     | 0.0082 / 0.0145       |
    | ours_flash_bwd                | 0.44   | 1.44   | 1.87       | 160     | 0.0082 / 0.0116       |
    | ours_cudnn_bwd                | 0.43   | 0.97   | 1.40       | 215     | 0.0082 / 0.0145       |

An earlier run (32 sequences of 200-1000 tokens): fa2_varlen 1.63 ms (0.53 fwd), FA2 causal forward
via aten 0.36 ms, FA2 forward + cuDNN backward 1.17 ms. Two routes tried before and dropped: aten's
``_cudnn_attention_forward`` rejects the packed 3-D layout ("Dimension out of range"), and SDPA on nested
jagged tensors with the cuDNN backend took 134-171 ms (and its dq differed from fp32 by ~4).

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
    import inspect

    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters  # causal: a window in newer versions
    options = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}
    if "enable_gqa" in params:
        options["enable_gqa"] = True
    else:
        k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
    return varlen_attn(q, k, v, cu_seq, cu_seq, max_len, max_len, **options)


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


def cudnn_frontend(q, k, v, cu_seq, max_len, bucket: int = 1):
    """cuDNN through the cudnn-frontend package's differentiable varlen op (``torch.ops.cudnn.sdpa_fwd``);
    ``bucket`` rounds the declared longest length up (one cuDNN graph per bucket instead of per length)."""
    from cudnn.sdpa.fwd.torch_op import sdpa

    max_len = -(-max_len // bucket) * bucket
    out, _ = sdpa(
        q, k, v, is_causal=True, cu_seqlens_q=cu_seq, cu_seqlens_kv=cu_seq,
        max_seqlen_q=max_len, max_seqlen_kv=max_len, return_lse=True,
    )  # fmt: skip
    return out


def cudnn_frontend_b256(q, k, v, cu_seq, max_len):
    return cudnn_frontend(q, k, v, cu_seq, max_len, bucket=256)


def ours(backward: str):
    """``agentark_core.train.varlen_attention`` (what ``attn_implementation="varlen"`` runs) with the
    given backward kernel."""
    from agentark_core.train.varlen_attention import set_backward, varlen_causal_attention

    def run(q, k, v, cu_seq, max_len):
        set_backward(backward)
        return varlen_causal_attention(q, k, v, cu_seq, max_len)

    return run


KERNELS = {
    "fa2_varlen": fa2_varlen,
    "flex_document": flex_document,
    "cudnn_frontend": cudnn_frontend,
    "cudnn_frontend_b256": cudnn_frontend_b256,
    "ours_flash_bwd": ours("flash"),
    "ours_cudnn_bwd": ours("cudnn"),
}


def reference(q, k, v, cu_seq, grad, n_seq: int = 3):
    """fp32 causal attention of the first ``n_seq`` sequences: output and dq rows, and their count."""
    from agentark_core.train.varlen_attention import reference_attention

    qs, ks, vs = (t.detach().float().requires_grad_() for t in (q, k, v))
    out = reference_attention(qs, ks, vs, cu_seq[: n_seq + 1])
    out.backward(grad[: out.shape[0]].float())
    return out.detach(), qs.grad[: out.shape[0]], out.shape[0]


def time_kernel(
    fn, q, k, v, cu_seq, max_len, iters: int, grad
) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """Mean ms of the forward alone and of forward + backward over ``iters`` runs (after 3 warm-ups);
    the output and dq of one run."""
    with torch.no_grad():
        for _ in range(3):
            fn(q, k, v, cu_seq, max_len)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn(q, k, v, cu_seq, max_len)
        end.record()
        torch.cuda.synchronize()
        fwd_ms = start.elapsed_time(end) / iters

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
    return fwd_ms, start.elapsed_time(end) / iters, out.detach().float(), q.grad.detach().float()


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
    grad = torch.randn_like(q)
    ref_out, ref_dq, ref_rows = reference(q, k, v, cu_seq, grad)
    rows = []
    for name, fn in KERNELS.items():
        try:
            fwd_ms, ms, out, dq = time_kernel(fn, q, k, v, cu_seq, max(lengths), args.iters, grad)
        except Exception as err:  # noqa: BLE001 -- a kernel this build or GPU lacks: report the row, go on
            rows.append(f"| {name} | failed: {str(err).splitlines()[0][:150]} |")
            continue
        d_out = (out[:ref_rows] - ref_out).abs().max().item()
        d_dq = (dq[:ref_rows] - ref_dq).abs().max().item()
        rows.append(
            f"| {name} | {fwd_ms:.2f} | {ms - fwd_ms:.2f} | {ms:.2f} | {flops / ms / 1e9:.0f} | {d_out:.3g} | {d_dq:.3g} |"
        )
    print(f"{args.batch} sequences, {sum(lengths)} tokens, lengths {args.min_len}-{args.max_len}")
    print("| kernel | fwd ms | bwd ms | fwd+bwd ms | TFLOP/s | out diff vs fp32 | dq diff vs fp32 |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
