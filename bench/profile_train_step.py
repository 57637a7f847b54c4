"""Profile SFT / PRM train steps on the GPU: where each step's time goes (companion of bench_train_mfu.py).

Runs the named variants of ``bench_train_mfu`` under ``torch.profiler`` (steps ``--wait`` +
``--warmup`` skipped, ``--active`` recorded) and prints, per variant, the GPU time by kernel family
(matmul, attention, cross-entropy/LM head, optimizer, norm/activation/elementwise, copies) as a
share of the recorded wall time, the GPU-idle share (wall time no kernel covers) and the top
kernels. The MFU target of issue #6 is met or missed on the kernels this table names.

Run (H100):
    PYTHONPATH=. python bench/profile_train_step.py --sft ours_pf_bf16_b16_liger --prm ours_pf_bf16_b16
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

from bench.bench_grpo_step import build_student
from bench.bench_train_mfu import run_variant
from bench.train_workload import model_shape, prm_rows, sft_rows

FAMILIES = (  # (family, substrings of kernel names), first match wins
    ("attention", ("flash", "fmha", "varlen", "attn", "sdpa")),  # sdpa: cuDNN's fused attention kernels
    ("cross_entropy", ("cross_entropy", "log_softmax", "logsumexp", "softmax", "nll")),
    ("optimizer", ("multi_tensor", "adam", "foreach")),
    ("matmul", ("gemm", "nvjet", "cutlass", "sm90_", "sm80_", "xmma", "matmul", "mm_")),
    ("copy", ("memcpy", "memset", "copy", "cat", "index")),
)


ANNOTATIONS = ("ProfilerStep", "Optimizer.")  # user ranges the profiler also puts on the GPU timeline
SYNCS = (
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaEventSynchronize",
    "aten::_local_scalar_dense",
)


def family(name: str) -> str:
    """The kernel family of a CUDA kernel name (``elementwise/other`` when none matches)."""
    low = name.lower()
    return next((fam for fam, keys in FAMILIES if any(k in low for k in keys)), "elementwise/other")


def busy_us(events) -> float:
    """Microseconds covered by at least one GPU kernel (overlaps counted once)."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in events)
    total, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def summarize(prof, label: str, top: int) -> None:
    """Print the family table, idle share and top kernels of one profiled variant."""
    events = prof.events()
    kernels = [
        e
        for e in events
        if e.device_type == torch.autograd.DeviceType.CUDA and not e.name.startswith(ANNOTATIONS)
    ]
    if not kernels:
        print(f"## {label}: no CUDA kernels recorded")
        return
    wall = max(e.time_range.end for e in kernels) - min(e.time_range.start for e in kernels)
    by_family, by_name = defaultdict(float), defaultdict(float)
    for e in kernels:
        by_family[family(e.name)] += e.device_time
        by_name[e.name] += e.device_time
    print(f"\n## {label}: {wall / 1e3:.1f} ms recorded, GPU busy {100 * busy_us(kernels) / wall:.1f}%")
    print("| family | ms | share of wall |\n|---|---|---|")
    for fam, us in sorted(by_family.items(), key=lambda kv: -kv[1]):
        print(f"| {fam} | {us / 1e3:.1f} | {100 * us / wall:.1f}% |")
    print(f"\ntop {top} kernels:")
    for name, us in sorted(by_name.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e3:8.2f} ms  {family(name):18s} {name[:110]}")
    host = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
    launches = sum(1 for e in host if e.name in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
    print(f"\nhost: {launches} kernel launches, {len(kernels)} kernels; syncs (count, where):")
    stacks = defaultdict(int)
    for e in host:
        if e.name in SYNCS:
            frames = [f for f in (e.stack or []) if "site-packages/torch/" not in f][:3]
            stacks[(e.name, " <- ".join(frames) or "?")] += 1
    for (name, where), count in sorted(stacks.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {count:5d}  {name}  {where[:230]}")
    print(f"\ntop {top} host ops by self CPU time:")
    self_cpu = defaultdict(float)
    for e in host:
        self_cpu[e.name] += e.self_cpu_time_total
    for name, us in sorted(self_cpu.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e3:8.2f} ms  {name[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", default="ours_pf_bf16_b16_liger")
    parser.add_argument("--prm", default="ours_pf_bf16_b16")
    parser.add_argument("--wait", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--active", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--min-words", type=int, default=100)
    parser.add_argument("--max-words", type=int, default=700)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke test)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    args.peak_tflops, args.plain_batch = 989.0, 4
    args.steps = args.active + 1
    args.warmup_steps = args.wait + args.warmup
    with tempfile.TemporaryDirectory() as tmp:
        path = build_student("tiny" if args.tiny else "qwen3-0.6b", Path(tmp) / "student")
        shape = model_shape(path)
        total = args.wait + args.warmup + args.active + 2
        data = {
            "sft": sft_rows(32 * total, args.min_words, args.max_words),
            "prm": prm_rows(8 * total + 8, args.min_words, args.max_words),
        }
        for kind in ("sft", "prm"):
            for name in filter(None, getattr(args, kind).split(",")):
                activities = [torch.profiler.ProfilerActivity.CPU]
                if args.device == "cuda":
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                schedule = torch.profiler.schedule(wait=args.wait, warmup=args.warmup, active=args.active)
                run_args = argparse.Namespace(**vars(args))
                run_args.warmup, run_args.steps = args.wait + args.warmup, args.active + 1
                with torch.profiler.profile(
                    activities=activities, schedule=schedule, with_stack=True
                ) as prof:
                    row = run_variant(kind, name, path, data[kind], run_args, shape, on_step=prof.step)
                print(f"\n# {kind}/{name}: {row}")
                summarize(prof, f"{kind}/{name}", args.top)


if __name__ == "__main__":
    main()
