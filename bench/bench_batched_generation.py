"""Benchmark: one batched ``generate`` call vs one call per request, on the transformers backend.

Why: every stage hands a whole round to the generator at once; this measures
what that buys on the backend itself. N distinct questions go through a tiny real model
(``make_tiny_model``) once as a single call (micro-batched, left-padded) and once request by
request; both decode greedily for exactly ``--max-tokens`` tokens (a random model rarely emits
EOS), so both modes do the same work. Prints both wall times and their ratio (goal >= 5x).

Measured on a shared 2-core CPU (hidden 32, 64 questions, 32 tokens): 11-19x with ``--threads 1``.
With torch's default 2 threads, OpenMP spin-waits under load from other processes make both
modes slow and the ratio noisy.

Run:
    PYTHONPATH=. python bench/bench_batched_generation.py --threads 1      # CPU, 64 questions
    PYTHONPATH=. python bench/bench_batched_generation.py --device cuda --questions 512 --hidden 256
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from agentark_core.llm.hf_backend import TransformersGenerator
from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.toy.tiny import make_tiny_model


def questions(n: int) -> list[ChatRequest]:
    """n distinct questions of varied length (so padding is part of the cost)."""
    return [
        ChatRequest.user(f"Tom has {i} apples and buys {i + 3} more. " * (1 + i % 4) + "How many apples?")
        for i in range(n)
    ]


def timed(label: str, fn) -> float:
    """Run ``fn`` once and print wall time, generated tokens and throughput; return seconds."""
    start = time.perf_counter()
    completions = fn()
    seconds = time.perf_counter() - start
    tokens = sum(c.completion_tokens for c in completions)
    rate = tokens / seconds
    print(f"{label:>10}: {seconds:7.2f} s  ({len(completions)} requests, {tokens} tokens, {rate:.0f} tok/s)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--micro-batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hidden", type=int, default=32, help="tiny model width")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's). On a busy small CPU, 1 avoids OpenMP spin-waits",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    requests = questions(args.questions)
    params = SamplingParams(temperature=0, max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_tiny_model(f"{tmp}/tiny", hidden=args.hidden, initializer_range=0.3)
        gen = TransformersGenerator(
            model=path, device=args.device, micro_batch_size=args.micro_batch_size, show_progress=False
        )
        gen.generate(requests[:2], params)  # warm up kernels and caches
        print(
            f"device {gen.device}, {torch.get_num_threads()} CPU threads, "
            f"{args.questions} questions, max_tokens {args.max_tokens}"
        )
        batched = timed("batched", lambda: gen.generate(requests, params))
        looped = timed("one-by-one", lambda: [gen.generate([r], params)[0] for r in requests])
    print(f"speed-up (one-by-one / batched): {looped / batched:.1f}x")


if __name__ == "__main__":
    main()
