"""Benchmark: multi-GPU R-SFT through the project's launch path (issue #6, scale-out; paper §3.3.1).

Trains the same SFT run (Qwen3-0.6B-shaped random-init student, synthetic variable-length rows)
once on one GPU in-process and then under ``accelerate launch`` with each ``infra/accelerate``
config named in ``--configs`` (``ddp``, ``zero2``, ``zero3``) on ``--gpus`` processes, each with
the same per-device batch, exactly as :func:`agentark_core.train.launch.launch` runs it for a
training stage. Per run it prints wall time, the trainer's runtime, examples/s, the scaling
ratio against the one-GPU run (ideal = number of GPUs), the final loss, and whether the saved
checkpoint reloads with ``from_pretrained`` and gives finite logits.

Measured (2x H200, 2026-11-23; deepspeed 0.19.8 built here with DS_BUILD_OPS=0, carried as a wheel;
Qwen3-0.6B shape, 30 steps, 8 examples of 100-700 words per device, bf16 autocast, padding-free):

    | run      | GPUs | train s | examples/s | scaling | final loss | reloads |
    | 1 GPU    | 1    | 8.9     | 26.8       | 1.00    | 8.171      | True    |
    | ddp x2   | 2    | 7.7     | 62.2       | 2.32    | 8.100      | True    |
    | zero2 x2 | 2    | 7.7     | 62.6       | 2.33    | 8.207      | True    |

(each process trains on its own examples, so two GPUs see twice the examples in about the same time;
above 2.0 because 30 steps include the first, slow ones, more of which the one-GPU run counts.)

Run (2+ GPUs; ZeRO needs ``deepspeed``):
    PYTHONPATH=. python bench/bench_multi_gpu.py --gpus 2 --configs ddp,zero2
    PYTHONPATH=. python bench/bench_multi_gpu.py --tiny --gpus 1 --configs ""   # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from agentark_core.train.launch import launch
from bench.bench_grpo_step import build_student
from bench.train_workload import sft_rows

logger = logging.getLogger("bench_multi_gpu")


def run_config(tag: str, run_file: Path, gpus: int, accelerate_config: str | None) -> dict:
    """Train once; wall time, metrics and a reload check of the saved checkpoint."""
    from transformers import AutoModelForCausalLM

    args = json.loads(run_file.read_text())
    start = time.perf_counter()
    try:
        if gpus > 1:
            metrics = launch("sft", str(run_file), num_gpus=gpus, accelerate_config=accelerate_config)
        else:  # one process on the first GPU (in this process the Trainer would wrap every visible GPU in DataParallel)
            metrics = single_gpu(run_file)
    except Exception as err:  # noqa: BLE001 - a failed launch is a row of the report, not the end
        logger.warning("%s failed: %s", tag, err)
        return {"run": tag, "gpus": gpus, "error": f"{type(err).__name__}: {str(err)[:300]}"}
    wall = time.perf_counter() - start
    model = AutoModelForCausalLM.from_pretrained(args["output_dir"])
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3, 4]])).logits
    examples = metrics["global_step"] * args["config"]["per_device_train_batch_size"] * max(gpus, 1)
    return {
        "run": tag,
        "gpus": gpus,
        "wall_s": wall,
        "train_runtime_s": metrics["train_runtime"],
        "examples_per_s": examples / metrics["train_runtime"],
        "global_step": metrics["global_step"],
        "final_loss": metrics["loss_curve"][-1]["loss"] if metrics["loss_curve"] else float("nan"),
        "reloads_finite": bool(torch.isfinite(logits).all()),
    }


def single_gpu(run_file: Path) -> dict:
    """The launch module's own entry point in a child process that sees one GPU."""
    metrics = run_file.with_suffix(".metrics.json")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
    command = [sys.executable, "-m", "agentark_core.train.launch", "--route", "sft", "--args", str(run_file)]
    subprocess.run([*command, "--metrics", str(metrics)], check=True, env=env)
    return json.loads(metrics.read_text())


def write_run_file(folder: Path, model: str, rows: list[dict], args, tag: str) -> Path:
    """A launch run file (model, examples as JSONL, output folder, SFT config) for one run."""
    import pandas as pd

    examples = folder / "examples.jsonl"
    if not examples.exists():
        pd.DataFrame(rows).to_json(examples, orient="records", lines=True)
    cuda = torch.cuda.is_available() and not args.tiny
    config = {
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch,
        "learning_rate": 1e-5,
        "bf16": cuda,
        "use_cpu": not cuda,
        "padding_free": cuda,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": max(args.steps // 4, 1),
        "seed": 0,
        "resume": False,
    }
    run_file = folder / f"{tag}.json"
    run_file.write_text(
        json.dumps(
            {
                "model_path": model,
                "examples": str(examples),
                "output_dir": str(folder / tag),
                "config": config,
            }
        )
    )
    return run_file


def print_table(rows: list[dict]) -> None:
    """Markdown table; ``scaling`` = examples/s ÷ the one-GPU run's (ideal: the number of GPUs)."""
    base = next((r["examples_per_s"] for r in rows if r["gpus"] <= 1 and "error" not in r), math.nan)
    print("| run | GPUs | wall s | train s | examples/s | scaling | steps | final loss | reloads |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['run']} | {r['gpus']} | failed: {r['error']} |")
            continue
        print(
            f"| {r['run']} | {r['gpus']} | {r['wall_s']:.1f} | {r['train_runtime_s']:.1f} | {r['examples_per_s']:.1f} |"
            f" {r['examples_per_s'] / base:.2f} | {r['global_step']} | {r['final_loss']:.3f} | {r['reloads_finite']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=2, help="processes of the multi-GPU runs")
    parser.add_argument("--configs", default="ddp,zero2", help="infra/accelerate configs, comma-separated")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    parser.add_argument("--batch", type=int, default=8, help="per-device batch")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke test)")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_student("tiny" if args.tiny else "qwen3-0.6b", folder / "student")
        rows_needed = args.steps * args.batch * max(args.gpus, 1)
        data = sft_rows(rows_needed, 10 if args.tiny else 100, 60 if args.tiny else 700)
        runs = [run_config("1 GPU", write_run_file(folder, model, data, args, "single"), 1, None)]
        for name in filter(None, args.configs.split(",")):
            run_file = write_run_file(folder, model, data, args, name)
            runs.append(run_config(f"{name} x{args.gpus}", run_file, args.gpus, name))
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=2))
    print_table(runs)


if __name__ == "__main__":
    main()
