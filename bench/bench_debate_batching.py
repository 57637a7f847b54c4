"""Benchmark: debate batched by round across questions vs the same protocol called once per question.

Why (paper §3.2): a debate round over Q questions x n agents should be ONE
``generate`` call. This script runs ``run_protocol("debate", ...)`` over all questions at once
and then question by question, with the same tiny real model (``make_tiny_model``) behind the
transformers backend, and prints both wall times and their ratio (goal >= 5x).

Run:
    PYTHONPATH=. python bench/bench_debate_batching.py   # CPU, 24 questions x 3 agents x 2 rounds
    PYTHONPATH=. python bench/bench_debate_batching.py --device cuda --questions 64 --agents 5 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
import time

from agentark_core.data.question import Question
from agentark_core.llm.hf_backend import TransformersGenerator
from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.mas import DebateConfig, run_protocol
from agentark_core.toy.tiny import make_tiny_model


def toy_questions(n: int) -> list[Question]:
    """n distinct one-step arithmetic questions."""
    queries = [f"Tom has {i} apples and buys {i + 3} more. How many apples?" for i in range(n)]
    return [Question("bench", "test", "math", query, str(2 * i + 3)) for i, query in enumerate(queries)]


def timed(label: str, fn) -> tuple[float, int]:
    """Run ``fn`` once; print wall time, turns and generated tokens; return (seconds, turns)."""
    start = time.perf_counter()
    turns = fn()
    seconds = time.perf_counter() - start
    tokens = sum(t.completion_tokens for t in turns)
    print(
        f"{label:>14}: {seconds:8.2f} s  ({len(turns)} turns, {tokens} generated tokens, "
        f"{tokens / seconds:.0f} tok/s)"
    )
    return seconds, len(turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hidden", type=int, default=32, help="tiny model width")
    args = parser.parse_args()

    questions = toy_questions(args.questions)
    # consensus_stop off so both modes do exactly the same calls on a random model
    config = DebateConfig(
        n_agents=args.agents,
        rounds=args.rounds,
        consensus_stop=False,
        temperature=0.7,
        max_tokens=args.max_tokens,
        seed=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = make_tiny_model(f"{tmp}/tiny", hidden=args.hidden)
        gen = TransformersGenerator(
            model=path, device=args.device, micro_batch_size=args.questions * args.agents, show_progress=False
        )
        gen.generate([ChatRequest.user("warm up")], SamplingParams(max_tokens=2))
        print(
            f"device {gen.device}, {args.questions} questions x {args.agents} agents x "
            f"{args.rounds} rounds, max_tokens {args.max_tokens}"
        )
        batched, n_batched = timed("batched", lambda: run_protocol("debate", questions, gen, config))
        looped, n_looped = timed(
            "per-question",
            lambda: [t for q in questions for t in run_protocol("debate", [q], gen, config)],
        )
    if n_batched != n_looped:
        raise RuntimeError(f"modes produced different row counts: {n_batched} vs {n_looped}")
    print(f"speed-up (per-question / batched): {looped / batched:.1f}x")


if __name__ == "__main__":
    main()
