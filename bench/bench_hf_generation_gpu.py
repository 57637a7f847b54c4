"""Benchmark: the ``transformers`` backend's old vs new decode path in one process (issue 18, deliverable 4).

Setting P1 (as ``bench_generation_gpu.py``): a random-init Qwen3-0.6B-shaped model in bf16, the toy
word-level tokenizer padded to its 151,936-token vocabulary, 32 questions x 5 agents = 160 round-1
debate requests of exactly 609 prompt tokens, 256 new tokens each. Decoding is greedy here (the issue
asks for identical greedy outputs), so the rows can be compared token by token; a random model almost
never emits its one EOS id, so every row generates ~160 x 256 tokens.

Rows, all through ``TransformersGenerator.generate`` on the same requests, one model load each:
- ``old``: ``micro_batch_size=16``, dynamic KV cache, uncompiled (the backend before this change);
- ``static, uncompiled``: ``micro_batch_size="auto"``, static cache, no compile (what the cache alone buys;
  ``--skip-uncompiled`` leaves it out);
- ``new``: ``micro_batch_size="auto"``, static cache, compiled decode step (inductor, CUDA graphs) — the
  backend's CUDA default now. Its first call (compile + CUDA-graph capture) is timed apart and not in
  the rate.
Printed: the auto micro-batch and cache length, first-call seconds, tokens/s per repetition and median,
share of the bandwidth floor (``bench_generation_gpu.floor_seconds`` at the measured copy bandwidth),
ratio to ``old``, greedy agreement with ``old`` (rows with identical token ids; where they differ, the
first differing position — bf16 at different batch sizes can flip near-tied argmaxes of a random model),
dynamo's compile counters, and the device.

Measured (H200, 2026-11-27, one process; copy bandwidth 4.27 TB/s, floor 46,506 tok/s):

    | path                                           | tokens/s | share of floor | ratio to old | greedy vs old |
    | old (micro-batch 16, dynamic cache)            |      430 |  0.9%          |  1.00        | 160/160       |
    | static cache, uncompiled, auto micro-batch     |    2,783 |  6.0%          |  6.48        | 27/160        |
    | new (auto micro-batch 160, static, compiled)   |    5,542 | 11.9%          | 12.90        | 23/160        |

The new default is 12.9x the old (goal >= 5x); compile + capture took 54 s on the first call (one graph,
dynamo ``unique_graphs`` 1). In bf16 the 160-row batches flip near-tied argmaxes of the random model
against the 16-row ones (first difference at token ~30); token-for-token identity is what the fp32 GPU
test ``tests/gpu/test_hf_static_gpu.py`` asserts (4 passed on the same H200).

Run on the GPU machine (torch + transformers; no vLLM; ~3-4 min: ~20 s model build, 65-95 s the old row
(one timed call), ~60-90 s the compile, ~20 s the uncompiled-static row, which ``--skip-uncompiled`` drops):
    PYTHONPATH=. python bench/bench_hf_generation_gpu.py
CPU smoke (a tiny model, 10 requests of 40 tokens, 8 new tokens; compiled with dynamo's eager backend):
    PYTHONPATH=. python bench/bench_hf_generation_gpu.py --quick
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

from bench.bench_generation_gpu import AGENTS, NEW_TOKENS, PROMPT_TOKENS, QUESTIONS, Row, debate_questions

log = logging.getLogger("bench_hf_generation_gpu")


def build_tiny_folder(path: str):
    """The --quick model: a tiny random Qwen3 with the toy word-level tokenizer (its own vocabulary size)."""
    from agentark_core.toy.tiny import save_random_init, tiny_qwen3_config
    from agentark_core.toy.tokenizer import build_toy_tokenizer

    tokenizer = build_toy_tokenizer()
    config = tiny_qwen3_config(len(tokenizer), hidden=64, layers=2, initializer_range=0.3)
    save_random_init(path, tokenizer, config)
    return config, tokenizer


def variants(quick: bool, skip_uncompiled: bool) -> dict[str, dict]:
    """Row name -> ``TransformersGenerator`` options."""
    compiled = {"micro_batch_size": "auto", "static_cache": True, "compile_decode": True}
    if quick:  # inductor on a CPU needs a C++ toolchain and minutes: capture with dynamo, run eagerly
        compiled["compile_options"] = {"backend": "eager", "mode": None}
    size = 2 if quick else 16
    rows = {f"old (micro-batch {size}, dynamic cache)": {"micro_batch_size": size, "static_cache": False,
                                                         "compile_decode": False}}
    if not skip_uncompiled:
        rows["static cache, uncompiled, auto micro-batch"] = {"micro_batch_size": "auto", "static_cache": True,
                                                              "compile_decode": False}
    rows["new (auto micro-batch, static cache, compiled)"] = compiled
    return rows


def time_variant(path: str, dtype: str, requests, params, options: dict, reps: int):
    """Load a generator with ``options``, run a first call (timed apart: on the compiled path the whole
    request set, so the timed calls meet compiled shapes; else 4 requests), then ``reps`` timed calls.

    Returns:
        (Row, token ids per request of the last call, first-call seconds).
    """
    import torch

    from agentark_core.llm.hf_backend import TransformersGenerator

    gen = TransformersGenerator(model=path, dtype=dtype, show_progress=False, **options)
    rows, cache_len = gen._generation_rows(list(range(len(requests))), [gen._prompt_ids(r) for r in requests],
                                           params.max_tokens)  # fmt: skip
    print(f"  options {options}: {rows} rows per micro-batch, cache length {cache_len}, "
          f"static cache {gen.static_cache}, compiled {gen.compile_config is not None}", flush=True)
    start = time.perf_counter()
    out = gen.generate(requests if gen.compile_config is not None else requests[:4], params)
    first = time.perf_counter() - start
    row = Row("", [], [])
    for _ in range(reps):
        start = time.perf_counter()
        out = gen.generate(requests, params)
        row.seconds.append(time.perf_counter() - start)
        row.tokens.append(sum(c.completion_tokens for c in out))
        log.info("%d tokens in %.2f s", row.tokens[-1], row.seconds[-1])
    if options.get("compile_decode") and gen.compile_config is None:
        print("  !! the compiled path fell back to uncompiled decoding (see the warning above)")
    ids = [c.extra["token_ids"] for c in out]
    del gen
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    return row, ids, first


def agreement(ids: list[list[int]], reference: list[list[int]]) -> str:
    """How many rows equal the reference token for token; the median first differing position of the rest."""
    same = sum(a == b for a, b in zip(ids, reference))
    firsts = [next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
              for a, b in zip(ids, reference) if a != b]  # fmt: skip
    tail = f", first difference at token {statistics.median(firsts):.0f} (median)" if firsts else ""
    return f"{same}/{len(ids)} identical{tail}"


def floor_rate(config, prompt_tokens: int, requests: int, new_tokens: int) -> float | None:
    """The bandwidth floor in tokens/s at the measured copy bandwidth (None off CUDA)."""
    import torch

    from bench.bench_generation_gpu import copy_bandwidth, floor_seconds

    if not torch.cuda.is_available():
        return None
    bandwidth = copy_bandwidth()
    rate = requests * new_tokens / floor_seconds(config, [prompt_tokens] * requests, new_tokens, bandwidth)
    print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s (read + write); floor {rate:,.0f} tok/s")
    return rate


def dynamo_counters() -> str:
    """Dynamo's compile statistics (graphs compiled, frames captured) and any CUDA-graph skips."""
    from torch._dynamo.utils import counters

    stats = dict(counters["stats"])
    skips = {k: v for k, v in counters["inductor"].items() if "cudagraph" in k}
    return f"dynamo stats {stats}; inductor cudagraph counters {skips or 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke: tiny model, few short requests")
    parser.add_argument("--reps", type=int, default=2, help="timed calls per new-path row (the old row: 1)")
    parser.add_argument("--skip-uncompiled", action="store_true", help="leave out the static-uncompiled row")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    import torch

    from agentark_core.llm.types import ChatRequest, SamplingParams
    from agentark_core.mas import prompts
    from bench.bench_generation_gpu import build_model_folder

    questions_n, agents, prompt_tokens, new_tokens = (5, 2, 40, 8) if args.quick else (
        QUESTIONS, AGENTS, PROMPT_TOKENS, NEW_TOKENS)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    import importlib.util

    import transformers

    triton = "installed" if importlib.util.find_spec("triton") else "missing"
    print(f"device: {device}; torch {torch.__version__}, transformers {transformers.__version__}, triton {triton}")
    params = SamplingParams(temperature=0, max_tokens=new_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        config, tokenizer = build_tiny_folder(tmp) if args.quick else build_model_folder(tmp, with_weights=True)
        questions = debate_questions(tokenizer, questions_n, prompt_tokens)
        requests = [ChatRequest.user(prompts.first_prompt(q)) for q in questions for _ in range(agents)]
        rows, outputs = [], {}
        for k, (name, options) in enumerate(variants(args.quick, args.skip_uncompiled).items()):
            print(f"{name}:", flush=True)
            row, ids, first = time_variant(tmp, "float32" if args.quick else "bfloat16", requests, params,
                                           options, 1 if k == 0 else args.reps)  # fmt: skip
            row.path = name
            rows.append(row)
            outputs[name] = ids
            print(f"  first call {first:.1f} s; timed {[round(s, 2) for s in row.seconds]} s, {row.rate:,.0f} tok/s",
                  flush=True)  # fmt: skip
    floor = floor_rate(config, prompt_tokens, len(requests), new_tokens)
    print_table(rows, outputs, floor, device)
    print(dynamo_counters())


def print_table(rows: list[Row], outputs: dict, floor: float | None, device: str) -> None:
    """path | tokens/s | share of floor | ratio to old | greedy agreement with old."""
    old = rows[0]
    print(f"\ndevice: {device}")
    print("| path | tokens/s (median) | share of floor | ratio to old | greedy tokens vs old |")
    print("|---|---|---|---|---|")
    for row in rows:
        share = f"{row.rate / floor:.1%}" if floor else "-"
        print(f"| {row.path} | {row.rate:,.0f} | {share} | {row.rate / old.rate:.2f} | "
              f"{agreement(outputs[row.path], outputs[old.path])} |")


if __name__ == "__main__":
    main()
