"""Benchmark: SFT (paper §3.3.1-3.3.2) and PRM (§3.3.3) train-step throughput and MFU, ours vs plain HF, one run.

Variants (all on the same synthetic variable-length examples, same model, same device):

- ``sft/plain_hf``: a vanilla ``transformers.Trainer`` (``bf16=True`` autocast over fp32 weights, default
  ``sdpa`` attention, padded batches of ``--plain-batch`` examples, the model's own cross-entropy);
- ``sft/ours_*``: :func:`agentark_core.train.sft.build_trainer` with the speed options of each row
  (padding-free weighted batches, varlen flash attention, bf16 weights, micro-batch size);
- ``prm/plain``: the PRM stage-II loop with padded batches and ``sdpa`` (the plain PyTorch + HF loop);
- ``prm/ours_*``: the same loop with padding-free batches / varlen attention / bf16 weights.

MFU = achieved model FLOP/s ÷ peak dense bf16 FLOP/s (``--peak-tflops``, 989 for an H100 SXM). Model FLOPs
of one trained example with ``L`` tokens of which ``C`` are scored by the LM head (completion tokens)::

    6·N_body·L  +  6·V·d·C  +  6·n_layers·(n_heads·head_dim)·L²

``N_body`` = parameters of the transformer blocks (embeddings excluded), ``V·d`` the LM-head projection
(only for SFT, only on scored tokens), the last term causal self-attention (QKᵀ and AV, forward + 2×
backward, half of the L² score matrix). Padding never counts, so a padded run pays for work that
earns nothing. The same formula is used for every variant, so the MFU ratio is the throughput ratio.
Timing: ``--warmup`` steps, then ``--steps`` timed steps between two CUDA syncs (none in between, as in
real training). Each variant runs in its own process (Liger patches the model classes globally, so a
later variant of the same process would silently run with Liger kernels).

Measured (H100 80GB HBM3, Qwen3-0.6B shape, completions of 100-700 words; MFU of 989 TFLOP/s).

Session 5 (defaults now: attention backward ``auto`` = cuDNN on Hopper, the allocator's expandable
segments turned on by the training configs; each call a fresh machine, compare within a run):

    | variant (run)                                          | MFU   | vs plain | step ms | tokens/step | peak GiB |
    | run H: sft/plain_hf (batch 4)                          |  5.3% |  1.0x    |  416.0  |   5,408     | 47.8     |
    | run H: sft/ours_pf_bf16_b32_compile (defaults)         | 40.3% |  7.6x    |  279.9  |  29,568     | 48.3     |
    | run H: prm/plain (padded, sdpa)                        |  8.1% |  1.0x    |  455.8  |  11,356     | 46.6     |
    | run H: prm/ours_pf_bf16_b32_compile (defaults)         | 40.2% |  5.0x    |  353.4  |  44,227     | 66.6     |
    | run H: prm/ours b32 compile, fixed segments            | 38.9% |  4.8x    |  365.6  |  44,227     | 66.6     |
    | run E: sft/ours b32 compile, FA2 / cuDNN bwd            | 39.6% / 40.4% |  | 284.9 / 279.4 | 29,568 | 47.7 / 48.3 |
    | run E: prm/ours b32 compile, FA2 / cuDNN bwd            | 38.0% / 40.1% |  | 374.3 / 354.3 | 44,227 | 63.0 / 66.6 |
    | run F: sft plain / cuDNN / FA2 / cuDNN + expandable     | 5.7% / 40.7% / 39.8% / 40.5% | 7.1x | 277.1 (cuDNN) | 29,568 | 48.3 |
    | run G: prm plain / cuDNN / FA2 / cuDNN + expandable     | 8.1% / out of memory / 37.7% / 40.3% | 5.0x | 352.5 | 44,227 | 66.6 |
    | run I: prm/ours b32 compile, defaults / max-autotune    | 40.0% / 40.4% |  | 355.0 / 351.8 | 44,227 | 66.6 |
    | run I: sft/ours b32 compile, defaults                   | 39.9% |          |  282.5  |  29,568     | 48.3     |
    | run J: sft/ours b32 compile, defaults / max-autotune    | 38.7% / 37.6% |  | 291.5 / 300.0 | 29,568 | 48.3 |

Run E ran every variant with ``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True``; runs F and G
without it (before the configs set it), where PRM with the cuDNN backward ran out of memory: 65 GiB
allocated and 12 GiB reserved but fragmented (padded token buckets add ~3.6 GiB at the peak). Run H is
the code as shipped. The cuDNN backward (token-bucketed) gains 0.8-0.9 points of MFU on SFT and 2.1-2.6
on PRM over FA2's; expandable segments are neutral for speed on SFT (40.5 vs 40.7) and make PRM fit.
The plain HF SFT baseline varies by machine (2.4-5.7%): its padded steps depend on the allocator more.
Over the five machines of session 5 the defaults gave SFT 38.7-40.7% (median 40.3%) and PRM 40.0-40.3%
(cuDNN backward + expandable segments); run J's machine was slow for every variant. ``max-autotune``
(``torch_compile_mode="max-autotune-no-cudagraphs"``, ~5 min of autotuning per compile) is not worth it:
SFT 1.1 points slower, PRM 0.4 faster, so the default mode stays. In run I it failed for SFT until the
configs restated transformers' TF32 switch (``speed.readable_matmul_precision``).

Earlier sessions' rows (session 2-4: Liger, compile scopes, batch sizes, FA2 vs cuDNN before the
token buckets): ``bench/results_train_mfu.md``.

Where the step goes (``profile_train_step.py``, session 4, SFT b32 block compile, nan check off, per
step): GEMMs ~137 ms, attention ~65 ms (FA2 backward 39 ms, forward 17 ms, its dq/dO helpers 9 ms),
norm/RoPE/SwiGLU/copies ~60 ms, the LM-head tile (log-sum-exp + gradient over ~25k x 152k logits) ~16 ms,
AdamW ~5 ms; the GPU is ~98% busy outside the profiler. Since then the attention backward runs on cuDNN
(``auto``; 1.5x faster than FA2's on its own: +0.8 MFU points on SFT, +2.1 on PRM). The next gains are
a one-pass LM-head tile and fewer memory-bound elementwise kernels.

Run:
    PYTHONPATH=. python bench/bench_train_mfu.py --tiny                      # CPU smoke test
    PYTHONPATH=. python bench/bench_train_mfu.py --out results.json          # H100, Qwen3-0.6B shape
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.bench_grpo_step import build_student
from bench.train_variants import PRM_VARIANTS, SFT_VARIANTS
from bench.train_workload import example_flops, model_shape, prm_rows, sft_rows

logger = logging.getLogger("bench_train_mfu")


class StepClock:
    """Records each optimizer step's wall time and the examples collated for it.

    Only the steps in ``sync_at`` (indices) end with a CUDA sync: a sync after every step would
    drain the GPU queue and expose the next step's host-side launch time, which real training
    overlaps. The sum of the times between two synced steps is exact; single steps are not.
    """

    def __init__(self, sync: bool, on_step=None, sync_at: frozenset[int] | None = None) -> None:
        self.sync, self.times, self.batches, self._start = sync, [], [], 0.0
        self.sync_at = sync_at  # None: sync after every step
        self.on_step = on_step  # called after each step's time is taken (e.g. ``profiler.step``)

    def begin(self) -> None:
        if self.sync and not self.times:
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def end(self) -> None:
        if self.sync and (self.sync_at is None or len(self.times) in self.sync_at):
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)
        if self.on_step is not None:
            self.on_step()

    def wrap_collator(self, collate):
        def recording(examples):
            self.batches.append([(len(ex["input_ids"]), _scored(ex)) for ex in examples])
            return collate(examples)

        return recording


def _scored(example: dict) -> int:
    labels = example.get("labels")
    return len(example["input_ids"]) - 1 if labels is None else sum(1 for x in labels[1:] if x != -100)


def summarize(name: str, clock: StepClock, shape: dict, args, lm_head: bool) -> dict:
    """tokens/s and MFU over the timed steps (the ones after ``args.warmup``)."""
    timed = slice(args.warmup, args.warmup + args.steps)
    seconds = sum(clock.times[timed])
    batches = clock.batches[timed]
    tokens = sum(length for batch in batches for length, _ in batch)
    flops = sum(
        example_flops(shape, length, scored, lm_head) for batch in batches for length, scored in batch
    )
    row = {
        "variant": name,
        "tokens_per_s": tokens / seconds,
        "tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / (args.peak_tflops * 1e12),
        "step_ms": 1000 * seconds / len(clock.times[timed]),
        "tokens_per_step": tokens / len(batches),
    }
    if torch.cuda.is_available():
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        row["alloc_retries"] = torch.cuda.memory_stats().get("num_alloc_retries", 0)
        torch.cuda.reset_peak_memory_stats()
    logger.info("%s", row)
    return row


def clock_callback(clock: StepClock):
    """A TrainerCallback that ticks ``clock`` at the end of every optimizer step."""
    from transformers import TrainerCallback

    class Tick(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            clock.begin()

        def on_step_end(self, args, state, control, **kwargs):
            clock.end()
            clock.begin()

    return Tick()


def run_sft(path: str, rows: list[dict], args, options: dict | None, clock: StepClock, out: str) -> None:
    """Train ``warmup + steps`` SFT steps with one variant, ticking ``clock``."""
    cuda = args.device == "cuda"
    common = {
        "output_dir": out,
        "max_steps": args.warmup + args.steps,
        "bf16": cuda,
        "use_cpu": not cuda,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 10**6,
        "seed": 0,
    }
    if options is None:
        trainer = plain_sft_trainer(path, rows, args, common)
    else:
        from agentark_core.train.sft import build_trainer
        from agentark_core.train.sft_config import AgentArkSFTConfig

        options = dict(options)
        batch, liger = options.pop("batch"), options.pop("liger", False)
        config = AgentArkSFTConfig(
            **common, **options, per_device_train_batch_size=batch, use_liger_kernel=liger
        )
        trainer = build_trainer(path, rows, out, config)
    trainer.data_collator = clock.wrap_collator(trainer.data_collator)
    trainer.add_callback(clock_callback(clock))
    trainer.train()


def plain_sft_trainer(path: str, rows: list[dict], args, common: dict):
    """Vanilla HF: ``Trainer`` + ``DataCollatorForSeq2Seq`` padding + the model's own loss, all defaults."""
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from agentark_core.train.sft import build_dataset

    tokenizer = AutoTokenizer.from_pretrained(path)
    dataset = build_dataset(tokenizer, rows, 1.0, None).remove_columns(["token_weights"])
    return Trainer(
        model=AutoModelForCausalLM.from_pretrained(path),
        args=TrainingArguments(**common, per_device_train_batch_size=args.plain_batch),
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
    )


def run_prm(path: str, rows: list[dict], args, options: dict, clock: StepClock) -> None:
    """Train ``warmup + steps`` PRM stage-II steps with one variant, ticking ``clock`` per step."""
    from agentark_core.train import prm_train

    config = prm_train.PRMConfig(**options, stage2_max_steps=args.warmup + args.steps, warmup_ratio=0.0)
    prm = prm_train.build_prm(path, config, args.device)
    traces = prm_train.load_traces(rows, prm.tokenizer, config)
    collate = prm_train.batch_tensors

    def recording(batch, pad_token_id, padding_free=False):
        if clock.batches:
            clock.end()
        clock.begin()
        clock.batches.append([(len(t["input_ids"]), 0) for t in batch])
        return collate(batch, pad_token_id, padding_free)

    prm_train.batch_tensors = recording
    try:
        prm_train.run_stage(prm, traces, config, stage=2)
        clock.end()
    finally:
        prm_train.batch_tensors = collate


PROCESS_OPTIONS = ("varlen_backward", "cuda_alloc_conf")  # set for the whole process, not the trainer


def variant_options(kind: str, name: str) -> tuple[dict | None, dict]:
    """A variant's trainer options (None: the plain HF trainer) and its process-wide settings
    (``varlen_backward``; ``cuda_alloc_conf``, which only a fresh process can take: :func:`run_isolated`)."""
    options = (SFT_VARIANTS if kind == "sft" else PRM_VARIANTS)[name]
    if options is None:
        return None, {}
    process = {key: options[key] for key in PROCESS_OPTIONS if key in options}
    return {key: value for key, value in options.items() if key not in PROCESS_OPTIONS}, process


def run_variant(
    kind: str, name: str, path: str, rows: list[dict], args, shape: dict, on_step=None
) -> dict | None:
    """Run one variant in a fresh temp dir; a failure (OOM, missing package) is reported, not fatal."""
    boundaries = frozenset({args.warmup - 1, args.warmup + args.steps - 1})
    clock = StepClock(sync=args.device == "cuda", on_step=on_step, sync_at=boundaries)
    options, process = variant_options(kind, name)
    if "varlen_backward" in process:  # the attention backward kernel is a process-wide choice
        from agentark_core.train.varlen_attention import set_backward

        set_backward(process["varlen_backward"])
    try:
        with tempfile.TemporaryDirectory() as out:
            if kind == "sft":
                run_sft(path, rows, args, options, clock, out)
            else:
                run_prm(path, rows, args, options, clock)
        return summarize(f"{kind}/{name}", clock, shape, args, lm_head=kind == "sft")
    except (RuntimeError, ImportError, ValueError) as err:  # OOM, missing package: report the row, go on
        logger.warning("%s/%s failed: %s: %s", kind, name, type(err).__name__, str(err)[:300])
        return {"variant": f"{kind}/{name}", "error": f"{type(err).__name__}: {str(err)[:200]}"}
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def print_table(rows: list[dict]) -> None:
    """Markdown table; ``ratio`` = this row's MFU ÷ the plain baseline of its kind."""
    base = {
        r["variant"].split("/")[0]: r["mfu"]
        for r in rows
        if r["variant"] in ("sft/plain_hf", "prm/plain") and "mfu" in r
    }
    print("| variant | tokens/s | TFLOP/s | MFU | ratio vs plain | step ms | tokens/step | peak GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['variant']} | failed: {r['error']} |")
            continue
        ratio = (
            r["mfu"] / base[r["variant"].split("/")[0]]
            if r["variant"].split("/")[0] in base
            else float("nan")
        )
        print(
            f"| {r['variant']} | {r['tokens_per_s']:.0f} | {r['tflops']:.1f} | {100 * r['mfu']:.1f}% | {ratio:.2f} |"
            f" {r['step_ms']:.1f} | {r['tokens_per_step']:.0f} | {r.get('peak_mem_gib', 0):.1f} |"
        )


def run_isolated(kind: str, name: str, args) -> dict:
    """One variant in a child process of this script (same data, same settings); its row, or the error."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [
            sys.executable,
            __file__,
            "--no-isolate",
            f"--{kind}",
            name,
            f"--{'prm' if kind == 'sft' else 'sft'}",
            "",
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--plain-batch",
            str(args.plain_batch),
            "--min-words",
            str(args.min_words),
            "--max-words",
            str(args.max_words),
            "--peak-tflops",
            str(args.peak_tflops),
            "--out",
            str(out),
            *(["--tiny"] if args.tiny else []),
        ]
        env = dict(os.environ)
        process = variant_options(kind, name)[1]
        if "cuda_alloc_conf" in process:  # read when CUDA starts: only a fresh process can take it
            env["PYTORCH_CUDA_ALLOC_CONF"] = process["cuda_alloc_conf"]
        done = subprocess.run(cmd, check=False, env=env)
        if done.returncode or not out.exists():
            return {"variant": f"{kind}/{name}", "error": f"child process exited {done.returncode}"}
        return json.loads(out.read_text())["rows"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny Qwen3 on CPU (smoke test)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--plain-batch", type=int, default=4, help="per-device batch of the plain HF run (8 OOMs on 80 GB)"
    )
    parser.add_argument("--min-words", type=int, default=100)
    parser.add_argument("--max-words", type=int, default=700)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    parser.add_argument("--sft", default=",".join(SFT_VARIANTS), help="SFT variants, comma-separated")
    parser.add_argument("--prm", default=",".join(PRM_VARIANTS), help="PRM variants, comma-separated")
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument(
        "--no-isolate",
        action="store_true",
        help="run all variants in this process (by default each runs in its own: liger patches model classes globally)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    variants = [("sft", n) for n in args.sft.split(",") if n] + [("prm", n) for n in args.prm.split(",") if n]
    if not args.no_isolate and len(variants) > 1:
        rows = [run_isolated(kind, name, args) for kind, name in variants]
        if args.out:
            Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
        print_table(rows)
        return
    args.device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    if args.tiny:
        args.steps, args.warmup, args.min_words, args.max_words = min(args.steps, 2), 1, 10, 60
    with tempfile.TemporaryDirectory() as tmp:
        path = build_student("tiny" if args.tiny else "qwen3-0.6b", Path(tmp) / "student")
        shape = model_shape(path)
        n_examples = 64 * (args.warmup + args.steps)  # enough for the largest batch
        sft, prm = (
            sft_rows(n_examples, args.min_words, args.max_words),
            prm_rows(n_examples // 4 + 8, args.min_words, args.max_words),
        )
        rows = [run_variant("sft", name, path, sft, args, shape) for name in args.sft.split(",") if name]
        rows += [run_variant("prm", name, path, prm, args, shape) for name in args.prm.split(",") if name]
    if args.out:
        Path(args.out).write_text(json.dumps({"shape": shape, "args": vars(args), "rows": rows}, indent=2))
    print_table(rows)


if __name__ == "__main__":
    main()
