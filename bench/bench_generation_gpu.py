"""Benchmark: debate-round generation on one GPU — raw vLLM vs our vllm backend vs the debate protocol
vs the transformers backend, on the same prompts, against the memory-bandwidth floor (issue 18).

Setting P1: a random-init Qwen3-0.6B-shaped model in bf16 (vLLM's ``load_format="dummy"``: no checkpoint
written), the toy word-level tokenizer padded to the model's 151,936-token vocabulary (so every sampled id
decodes and re-encodes), 32 questions x 5 agents = 160 round-1 debate requests whose rendered prompts are
exactly 609 tokens, 256 new tokens each, temperature 0.7, top-p 1. A random model almost never samples its
one EOS id, so every path generates ~160 x 256 tokens; tokens/s counts the tokens each path reports.

Rows (every vLLM row on one engine, every path warmed up once, its prefix cache reset before each run;
median of ``--reps`` interleaved repetitions):
- ``raw LLM.generate``: pre-tokenized prompts in the protocol's order, one shared ``SamplingParams`` — the
  engine's own speed, the denominator of the ratio column;
- ``raw LLM.generate, per-request seeds``: the same with ``seed=i`` per request (what the backend sends);
- ``raw LLM.chat, per-request seeds``: the previous backend's path (vLLM renders each chat);
- ``vllm backend (Generator.generate)``: ``VLLMGenerator.generate`` on ChatRequests, seeded: batched
  chat rendering + tokenization, per-request seeds;
- ``debate protocol, 1 round``: ``run_protocol("debate", rounds=1)`` through the backend — what the
  ``debate`` stage's ``run_shard`` calls (slots, prompts, answer extraction, Turn rows) — minus the time of
  its aggregator call (timed separately by a wrapper), so it covers the same 160 requests. The stage
  itself (``tasks.runner``) needs prefect/pandera, which the GPU image lacks; only the parquet write is
  left out;
- ``transformers backend, micro-batch 16 / 160``: the HF backend's plain path (dynamic cache, uncompiled)
  for reference, and ``transformers backend, auto micro-batch, static cache, compiled``: its CUDA default
  (``--skip-hf`` skips them; bench_hf_generation_gpu.py compares these paths greedily).

Floor: per decode step the weights (all parameters, bf16; the tied embedding is read once as the LM
head) plus every request's KV cache up to its current length are read once; summed over the 256 steps
and divided by the GPU's bandwidth, measured here as a device-to-device copy (bytes read + written).

Run (on the GPU machine, vLLM installed; ~4 min, ~6 with the transformers rows):
    PYTHONPATH=. python bench/bench_generation_gpu.py [--skip-hf] [--reps 12]

Measured 2026-11-27 on NVIDIA H200s (vLLM 0.26.0, its model runner V2; torch 2.11): runs A-C on one
machine, run D (the shipped code) on a fresh one. Run D, vLLM rows, 4 interleaved reps (median, min-max),
copy bandwidth 3.84 TB/s, floor 41.7k tok/s:

| path | tokens/s | share of floor | ratio to raw vLLM | min-max tokens/s |
|---|---|---|---|---|
| raw LLM.generate | 28,669 | 68.7% | 1.000 | 28,317-31,118 |
| raw LLM.generate, per-request seeds | 29,496 | 70.7% | 1.029 | 25,084-30,398 |
| raw LLM.chat, per-request seeds (old backend) | 25,972 | 62.2% | 0.906 | 22,509-27,998 |
| vllm backend (Generator.generate) | 28,754 | 68.9% | 1.003 | 27,858-29,291 |
| debate protocol, 1 round (stage's run_shard) | 28,196 | 67.6% | 0.983 | 26,704-30,888 |

Run B, every row in one run (5 interleaved reps, medians; copy bandwidth 4.25 TB/s, floor 46.3k tok/s,
nominal 4.8 TB/s: 52.2k; the staggered rows it also had are below):

| path | tokens/s | share of floor | ratio to raw vLLM |
|---|---|---|---|
| raw LLM.generate | 26,616 | 57.5% | 1.000 |
| raw LLM.generate, per-request seeds | 24,477 | 52.9% | 0.920 |
| raw LLM.chat, per-request seeds (old backend) | 24,076 | 52.1% | 0.905 |
| vllm backend (Generator.generate) | 22,052 | 47.7% | 0.829 |
| debate protocol, 1 round (stage's run_shard) | 25,255 | 54.6% | 0.949 |
| transformers backend, micro-batch 16 | 643 | 1.4% | 0.024 |
| transformers backend, micro-batch 160 | 4,430 | 9.6% | 0.166 |

Run C, vLLM rows only, 12 interleaved reps (median, min-max): raw 21,607 (12,602-28,960), 46.7% of
the floor; per-request seeds 1.019x raw; old backend 1.053x; vllm backend 23,581 (16,591-27,923),
1.091x, 51.0%; debate protocol 23,182 (17,918-27,632), 1.073x, 50.1%. Run A (3 reps, only the backend
path warmed up first): raw 30,966 (74.6% of 41.5k at 3.81 TB/s); seeds 0.936x, old backend 0.872x,
backend 0.848x, protocol 0.832x.

Reading. Every vLLM path is at 47-75% of the floor (goal >= 40%). On the first machine the same path's
speed varied more than the paths differ (raw 12.6k-29.0k tok/s within run C; times drifted upward through
each run): the debate protocol measured 0.83x, 0.95x, 1.07x raw in runs A, B, C, the backend 0.85x,
0.83x, 1.09x; on the quieter fresh machine (run D) 0.98x and 1.00x, with LLM.chat (old backend) 0.91x.
What could be timed directly is small: rendering + tokenizing the 160 chats takes 0.02 s of a ~1.5 s
round; per-request seeds are one batched kernel on runner V2 (0.92x-1.02x, within the noise); the
protocol's own work (slots, answer extraction, Turn rows) does not show (protocol vs backend). Handing
the agents to vLLM staggered (each question's first agent, then the second ones...) for prefix-cache
hits measured 1.02x / 1.01x raw-with-seeds and 0.95x / 1.02x the backend (runs C / B): nothing, since
vLLM caches a prompt's blocks when it schedules them, so the backend keeps input order. An engine
start took 143 s cold (compile + CUDA graphs) and 57-65 s with the compile cache: one per shard would
cost 40-100 rounds, so ``tasks.stages.common.generator_for`` keeps one engine per process.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass

QUESTIONS, AGENTS, PROMPT_TOKENS, NEW_TOKENS = 32, 5, 609, 256  # the P1 setting (issue 18)
log = logging.getLogger("bench_generation_gpu")


@dataclass
class Row:
    """One measured path: generated tokens and wall seconds of each repetition."""

    path: str
    tokens: list[int]
    seconds: list[float]

    @property
    def rate(self) -> float:
        return statistics.median(t / s for t, s in zip(self.tokens, self.seconds))


def build_model_folder(path: str, with_weights: bool, shape: dict | None = None):
    """Save a Qwen3 config (``shape``: its fields; default Qwen3-0.6B's) and the toy tokenizer padded to its
    vocabulary (and random weights if asked)."""
    from transformers import Qwen3Config

    from agentark_core.toy.tiny import save_random_init
    from agentark_core.toy.tokenizer import build_toy_tokenizer
    from bench.bench_grpo_step import QWEN3_06B

    config = Qwen3Config(**(shape or QWEN3_06B))
    tokenizer = build_toy_tokenizer(vocab_size=config.vocab_size)
    if with_weights:
        save_random_init(path, tokenizer, config)
    else:
        config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        config.architectures = ["Qwen3ForCausalLM"]  # else vLLM cannot tell a causal LM (runner "generate")
        config.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return config, tokenizer


def debate_questions(tokenizer, n: int, prompt_tokens: int):
    """n distinct math questions whose round-1 debate prompt renders to exactly ``prompt_tokens`` ids."""
    from agentark_core.data.question import Question
    from agentark_core.mas import prompts

    def rendered_length(question) -> int:
        chat = [{"role": "user", "content": prompts.first_prompt(question)}]
        text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    out = []
    for i in range(n):
        numbers = [str((i * 7919 + j * 104729) % 4000) for j in range(prompt_tokens)]
        opening = f"Tom has {i} apples . "
        k = prompt_tokens - (rendered_length(Question("toy", "test", "math", opening + numbers[0], "1")) - 1)
        question = Question("toy", "test", "math", opening + " ".join(numbers[:k]), "1")  # a number is a token
        if rendered_length(question) != prompt_tokens:
            raise RuntimeError(f"question {i} renders to {rendered_length(question)} tokens, not {prompt_tokens}")
        out.append(question)
    return out


def floor_seconds(config, prompt_lengths: list[int], new_tokens: int, bandwidth: float) -> float:
    """Seconds to read the weights plus every request's KV cache once per decode step, at ``bandwidth``."""
    h, hd, layers = config.hidden_size, config.head_dim, config.num_hidden_layers
    attention = h * hd * (2 * config.num_attention_heads + 2 * config.num_key_value_heads)
    per_layer = attention + 3 * h * config.intermediate_size + 2 * h + 2 * hd
    params = config.vocab_size * h * (1 if config.tie_word_embeddings else 2) + layers * per_layer + h
    kv_per_token = layers * 2 * config.num_key_value_heads * hd * 2
    total = sum(2 * params + kv_per_token * sum(p + t for p in prompt_lengths) for t in range(new_tokens))
    return total / bandwidth


def copy_bandwidth(gib: int = 2, reps: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    import torch

    src = torch.empty(gib << 30, dtype=torch.uint8, device="cuda").random_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        dst.copy_(src)
    end.record()
    torch.cuda.synchronize()
    rate = 2 * src.numel() * reps / (start.elapsed_time(end) / 1e3)
    del src, dst
    torch.cuda.empty_cache()
    return rate


class CallTimer:
    """A Generator wrapper recording (requests, completion tokens, seconds) of every ``generate`` call."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def generate(self, requests, params):
        start = time.perf_counter()
        out = self.inner.generate(requests, params)
        self.calls.append((len(requests), sum(c.completion_tokens for c in out), time.perf_counter() - start))
        return out


def vllm_paths(gen, questions, agents: int, params) -> dict:
    """Name -> zero-argument function returning (generated tokens, seconds) for every vLLM row."""
    import vllm

    from agentark_core.llm.types import ChatRequest
    from agentark_core.mas import prompts

    requests = [ChatRequest.user(prompts.first_prompt(q)) for q in questions for _ in range(agents)]
    ids = [{"prompt_token_ids": p} for p in gen.render(requests)]
    start = time.perf_counter()
    gen.render(requests)
    print(f"render (chat template + tokenization) of {len(requests)} requests: {time.perf_counter() - start:.3f} s")
    convs = [list(r.messages) for r in requests]
    one = vllm.SamplingParams(temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens)
    seeded = [vllm.SamplingParams(temperature=params.temperature, top_p=params.top_p,
                                  max_tokens=params.max_tokens, seed=i) for i in range(len(requests))]

    def engine(call):
        start = time.perf_counter()
        outputs = call()
        return sum(len(o.outputs[0].token_ids) for o in outputs), time.perf_counter() - start

    def backend():
        start = time.perf_counter()
        out = gen.generate(requests, params)
        return sum(c.completion_tokens for c in out), time.perf_counter() - start

    protocol = debate_round(gen, questions, agents, params)
    return {
        "raw LLM.generate": lambda: engine(lambda: gen.llm.generate(ids, one, use_tqdm=False)),
        "raw LLM.generate, per-request seeds": lambda: engine(lambda: gen.llm.generate(ids, seeded, use_tqdm=False)),
        "raw LLM.chat, per-request seeds (old backend)": lambda: engine(lambda: gen.llm.chat(convs, seeded, use_tqdm=False)),
        "vllm backend (Generator.generate)": backend,
        "debate protocol, 1 round (stage's run_shard)": protocol,
    }



def debate_round(gen, questions, agents: int, params):
    """A callable timing one debate round of the protocol through ``gen`` (the stage's ``run_shard`` path):
    ``() -> (round tokens, seconds)``, the aggregator's call left out."""
    from agentark_core.mas import DebateConfig, run_protocol

    def protocol():
        timer = CallTimer(gen)
        config = DebateConfig(n_agents=agents, rounds=1, consensus_stop=False, temperature=params.temperature,
                              top_p=params.top_p, max_tokens=params.max_tokens, seed=params.seed)
        start = time.perf_counter()
        run_protocol("debate", questions, timer, config)
        (_, round_tokens, _), (_, _, aggregator_s) = timer.calls
        return round_tokens, time.perf_counter() - start - aggregator_s

    return protocol

def run_vllm_rows(path: str, questions, agents: int, params, reps: int) -> tuple[list[Row], float]:
    """Start one engine, warm it up, time every vLLM path ``reps`` times (interleaved); close it."""
    from agentark_core.llm.vllm_backend import VLLMGenerator

    start = time.perf_counter()
    gen = VLLMGenerator(model=path, load_format="dummy", dtype="bfloat16", gpu_memory_utilization=0.8,
                        show_progress=False)
    engine_start = time.perf_counter() - start
    paths = vllm_paths(gen, questions, agents, params)
    for run in paths.values():  # warm-up: every path once (chat-template compile, first-call costs)
        gen.llm.reset_prefix_cache()
        run()
    rows = {name: Row(name, [], []) for name in paths}
    for _ in range(reps):
        for name, run in paths.items():
            gen.llm.reset_prefix_cache()
            tokens, seconds = run()
            rows[name].tokens.append(tokens)
            rows[name].seconds.append(seconds)
            log.info("%s: %d tokens in %.2f s", name, tokens, seconds)
    gen.close()
    return list(rows.values()), engine_start


def run_hf_rows(path: str, questions, agents: int, params, micro_batches: list[int]) -> list[Row]:
    """The transformers backend over the same 160 requests: the plain path (dynamic cache, uncompiled) once
    per micro-batch size, then its CUDA default (auto micro-batch, static cache, compiled decode step; its
    first call, the compile, untimed). bench_hf_generation_gpu.py compares the two paths in detail."""
    import torch

    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.llm.types import ChatRequest
    from agentark_core.mas import prompts

    requests = [ChatRequest.user(prompts.first_prompt(q)) for q in questions for _ in range(agents)]
    plain = {"static_cache": False, "compile_decode": False}
    runs = [(f"transformers backend, micro-batch {size}", {"micro_batch_size": size, **plain}, requests[:4])
            for size in micro_batches]  # fmt: skip
    runs.append(("transformers backend, auto micro-batch, static cache, compiled", {}, requests))
    rows = []
    for name, options, warm_up in runs:
        gen = TransformersGenerator(model=path, dtype="bfloat16", show_progress=False, **options)
        gen.generate(warm_up, params)
        start = time.perf_counter()
        out = gen.generate(requests, params)
        rows.append(Row(name, [sum(c.completion_tokens for c in out)], [time.perf_counter() - start]))
        del gen
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def print_table(rows: list[Row], floor_rate: float | None, device: str) -> None:
    """The markdown table: path | tokens/s | share of floor | ratio to raw vLLM."""
    raw = rows[0].rate
    print(f"\ndevice: {device}")
    print("| path | tokens/s (median) | share of floor | ratio to raw vLLM | min-max tokens/s |")
    print("|---|---|---|---|---|")
    for row in rows:
        share = f"{row.rate / floor_rate:.1%}" if floor_rate else "-"
        rates = [t / s for t, s in zip(row.tokens, row.seconds)]
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        print(f"| {row.path} | {row.rate:,.0f} | {share} | {row.rate / raw:.3f} | {spread} |")


def report(rows: list[Row], config, prompt_lengths: list[int], new_tokens: int) -> None:
    """Measure the copy bandwidth (CUDA only), print the floor and the table."""
    import torch

    if not torch.cuda.is_available():
        print_table(rows, None, "cpu (no floor)")
        return
    device, bandwidth = torch.cuda.get_device_name(), copy_bandwidth()
    tokens = len(prompt_lengths) * new_tokens
    floor_rate = tokens / floor_seconds(config, prompt_lengths, new_tokens, bandwidth)
    print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s (read + write); floor {floor_rate:,.0f} tok/s")
    for name, nominal in {"H100": 3.35e12, "H200": 4.8e12}.items():
        if name in device:
            at_nominal = tokens / floor_seconds(config, prompt_lengths, new_tokens, nominal)
            print(f"at the nominal {nominal / 1e12:.2f} TB/s the floor is {at_nominal:,.0f} tok/s")
    print_table(rows, floor_rate, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=12)
    parser.add_argument("--skip-hf", action="store_true", help="leave out the transformers rows")
    parser.add_argument("--hf-micro-batches", type=int, nargs="+", default=[16, 160])
    parser.add_argument("--questions", type=int, default=QUESTIONS)
    parser.add_argument("--agents", type=int, default=AGENTS)
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS)
    parser.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from agentark_core.llm.types import SamplingParams

    params = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=args.new_tokens, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        config, tokenizer = build_model_folder(tmp, with_weights=not args.skip_hf)
        questions = debate_questions(tokenizer, args.questions, args.prompt_tokens)
        # the engine starts before this process touches CUDA (else vLLM must spawn, not fork, its workers)
        rows, engine_start = run_vllm_rows(tmp, questions, args.agents, params, args.reps)
        print(f"vLLM engine start (load, compile, CUDA graphs): {engine_start:.1f} s")
        if not args.skip_hf:
            rows += run_hf_rows(tmp, questions, args.agents, params, args.hf_micro_batches)
    report(rows, config, [args.prompt_tokens] * args.questions * args.agents, args.new_tokens)


if __name__ == "__main__":
    main()
