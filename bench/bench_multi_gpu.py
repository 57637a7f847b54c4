"""Benchmark: every training route on 1 GPU vs N GPUs through the project's launch path (issue 20 item 4;
paper §3.3: R-SFT/DA, the PRM, GRPO).

For each route in ``--routes`` (``sft``, ``prm``, ``grpo``, ``ppo``) the same run (Qwen3-0.6B-shaped random-init
student, synthetic rows) trains once on one GPU (a child process that sees one) and then under
``accelerate launch`` on ``--gpus`` processes with each ``infra/accelerate`` config of ``--configs`` the
route can run under (every route: ddp, zero2, zero3), each process with the same per-device batch, exactly as
:func:`agentark_core.train.launch.launch` runs a training stage with ``train.launch.<section>.num_gpus``.
Per run: wall time, the trainer's runtime, throughput, **scaling efficiency** = N-GPU throughput ÷
(N x 1-GPU throughput) (issue goal >= 0.85), steps, final loss, peak GPU memory (max over processes)
and whether the saved model reloads and gives finite outputs.

Throughput: SFT examples/s (steps x per-device batch x GPUs / train_runtime); PRM tokens/s (tokens of
all processes / ``steps_runtime``, the two curriculum stages without loading); GRPO completions/s
(steps x per-device completions x GPUs / train_runtime, rollouts by HF generate or, with
``--grpo-rollout vllm``, TRL's colocated vLLM engine in every process; PRM + verifiable reward, each
process scoring with its own PRM copy); PPO completions/s the same way (our own loop, fp32, one completion per
prompt, ``2 x --generations`` prompts per process and step, each process its own rollouts, DDP).

``--zero3-8b``: SFT of a Qwen3-8B-shaped student (random bf16 weights written first, ~16 GB) under
ZeRO-3 on ``--gpus`` processes (full fine-tuning needs ~128 GB of weights, grads and Adam state: no
single 80 GB card holds it; ZeRO-3 shards all three), reporting its time, throughput and peak memory.

Measured (2x H200, 2026-11-23; deepspeed 0.19.8 built here with DS_BUILD_OPS=0, carried as a wheel;
Qwen3-0.6B shape, 30 steps, 8 examples of 100-700 words per device, bf16 autocast, padding-free):

    | run      | GPUs | train s | examples/s | scaling | final loss | reloads |
    | 1 GPU    | 1    | 8.9     | 26.8       | 1.00    | 8.171      | True    |
    | ddp x2   | 2    | 7.7     | 62.2       | 2.32    | 8.100      | True    |
    | zero2 x2 | 2    | 7.7     | 62.6       | 2.33    | 8.207      | True    |

(each process trains on its own examples, so two GPUs see twice the examples in about the same time;
above 2.0 because 30 steps include the first, slow ones, more of which the one-GPU run counts.)

PRM (2x H200, 2026-11-27; same student, 13 Stage-I + 40 Stage-II steps, 8 traces per device and step):

    | run    | GPUs | steps s | tokens/s | efficiency | final loss | peak GiB | reloads |
    | 1 GPU  | 1    | 14.5    | 36,257   | 1.00       | 0.828      | 38.96    | True    |
    | ddp x2 | 2    | 16.7    | 63,369   | 0.87       | 0.877      | 41.18    | True    |

GRPO (4x H200 host, GPUs 2-3, 2026-11-27; 8 steps, 2 prompts x G=8 per device, 128 new tokens, PRM +
verifiable reward; throughput from step 2 on, TRL's ``step_time``; other benches ran on GPUs 0-1 at the same time):

    | rollout | run      | GPUs | train s | completions/s | efficiency | peak GiB | reloads |
    | hf      | 1 GPU    | 1    | 49.4    | 2.3           | 1.00       | 18.41    | True    |
    | hf      | ddp x2   | 2    | 54.3    | 4.1           | 0.91       | 20.63    | True    |
    | hf      | zero2 x2 | 2    | 43.1    | 5.2           | 1.14       | 14.01    | True    |
    | vllm    | 1 GPU    | 1    | 6.9     | 16.1          | 1.00       | 59.45    | True    |
    | vllm    | ddp x2   | 2    | 6.6     | 34.2          | 1.06       | 61.67    | True    |

(HF ``generate`` is bound by kernel launches on the host's CPU, so the hf rows move with what else the host runs:
zero2 above 1.0 is that noise, not a gain. With vLLM rollouts, each process's colocated engine at 0.3 of its GPU.)

PPO (2x H200, 2026-11-27; ``--routes ppo --configs ddp``: our own loop, fp32, 16 prompts x 128 new tokens per
process and step, HF ``generate``, PRM + verifiable reward; from step 2 on; peak 26.1 GiB per GPU):

    | DDP                          | steps | 1 GPU completions/s | ddp x2 completions/s | efficiency |
    | find_unused_parameters=True  | 8     | 3.2                 | 4.9                  | 0.76       |
    | find_unused_parameters=False | 6     | 3.4                 | 7.0                  | 1.03       |

PPO's losses read every weight, so its DDP now skips the unused-parameter graph walk (the PRM keeps it: a head
its configured loss may not read); above 1.0 is the launch-bound ``generate``'s noise over 5 steps.

PRM and PPO under ZeRO (4x H200 host, GPUs 0-1 and 2-3 at the same time, 2026-11-27, session 10; our own loops through
``agentark_core/train/engine.py``: fp32 weights under ZeRO as under DDP, bf16 autocast). PRM ``--routes prm --configs
ddp,zero2,zero3 --steps 20`` (6 Stage-I + 20 Stage-II steps, 8 traces per device and step; the 1-GPU run sees half
the traces, hence its other loss):

    | run      | GPUs | steps s | tokens/s | efficiency | final loss | peak GiB | reloads |
    | 1 GPU    | 1    | 7.9     | 32,801   | 1.00       | 0.892      | 36.94    | True    |
    | ddp x2   | 2    | 12.0    | 43,110   | 0.66       | 0.788      | 41.18    | True    |
    | zero2 x2 | 2    | 25.8    | 20,137   | 0.31       | 0.787      | 49.71    | True    |
    | zero3 x2 | 2    | 30.2    | 17,187   | 0.26       | 0.786      | 74.18    | True    |

(ddp, zero2 and zero3 train the same numbers: final losses within 0.002. This short run counts the first, slow
steps: ddp's 0.66 here against 0.87 over 13 + 40 steps above. ZeRO pays off in memory only past what one card
holds, e.g. an 8B PRM's fp32 weights + AdamW (~128 GB); at 0.6B its fp32 buckets cost zero2 more memory than DDP.
The zero3 peak was measured with an interim one-call LM head for the likelihood features (all of a batch's
response-token logits at once); the head now keeps its 1,024-token chunks, the processes agreeing on how many:
not re-measured.)
PPO ``--routes ppo --configs ddp,zero2,zero3 --grpo-steps 6`` (HF ``generate``; under ZeRO-3 on the policy gathered
once per rollout, ``TrainEngine.generating``: 65 s a step before, gathering every layer at every token):

    | run      | GPUs | completions/s | efficiency | peak GiB | reloads |
    | 1 GPU    | 1    | 3.1           | 1.00       | 23.91    | True    |
    | ddp x2   | 2    | 6.3           | 1.01       | 26.13    | True    |
    | zero2 x2 | 2    | 6.6           | 1.06       | 23.91    | True    |
    | zero3 x2 | 2    | 4.4           | 0.71       | 24.66    | True    |

PPO with vLLM rollouts under ZeRO-3 (``--routes ppo --configs zero3 --grpo-rollout vllm``, the weights synced into
each process's engine one gathered submodule at a time): 1 GPU 16.2 completions/s, zero3 x2 10.7 (0.33), peak
65.5 / 68.6 GiB (each engine at 0.3 of its GPU), reloads True.

8B ZeRO-3 (4x H200, 2026-11-27; ``--gpus 4 --routes "" --zero3-8b --steps-8b 4``, Qwen3-8B shape, random bf16
weights): 4 steps in 6.5 s of training (78.5 s wall with the load and the save), 4.9 examples/s, peak 51.35 GiB per
GPU, the gathered model saved (15.3 GiB). No one-GPU baseline: full fine-tuning of 8B does not fit one card.

Run (2+ GPUs; ZeRO needs ``deepspeed``: ``pip install --no-deps .whl/ds/*.whl``; GRPO needs trl +
datasets: ``pip install --no-deps .whl/*.whl``):
    PYTHONPATH=. python bench/bench_multi_gpu.py --gpus 2 --routes sft,prm,grpo --configs ddp,zero2
    PYTHONPATH=. python bench/bench_multi_gpu.py --gpus 2 --routes prm,ppo --configs ddp,zero2,zero3 --steps 20 --grpo-steps 6
    PYTHONPATH=/tmp/vsite:. python bench/bench_multi_gpu.py --gpus 2 --routes grpo --configs ddp --grpo-rollout vllm
    PYTHONPATH=. python bench/bench_multi_gpu.py --gpus 4 --routes "" --zero3-8b      # 4 GPUs
    PYTHONPATH=. python bench/bench_multi_gpu.py --tiny --gpus 2 --configs ddp       # CPU smoke (gloo)
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

from agentark_core.train.launch import ROUTES, launch
from bench.bench_grpo_step import LARGER, build_student, prompt_rows, rollout_student
from bench.train_workload import prm_rows, sft_rows

logger = logging.getLogger("bench_multi_gpu")
UNITS = {"sft": "examples/s", "prm": "tokens/s", "grpo": "completions/s", "ppo": "completions/s"}
RL = ("grpo", "ppo")


def run_config(route: str, tag: str, run_file: Path, gpus: int, accelerate_config: str | None, tiny: bool,
               reload: bool = True) -> dict:
    """Train once; wall time, metrics, throughput and a reload check of the saved model (``reload``
    False: the saved weights' size only, for the 8B run)."""
    args = json.loads(run_file.read_text())
    start = time.perf_counter()
    try:
        if gpus > 1:
            metrics = launch(route, str(run_file), num_gpus=gpus, accelerate_config=accelerate_config,
                             devices=gpus if tiny else None)  # --tiny: the processes share the CPU (gloo)
        else:  # one process on the first GPU (in this process the Trainer would wrap every visible GPU in DataParallel)
            metrics = single_gpu(route, run_file)
    except Exception as err:  # noqa: BLE001 - a failed launch is a row of the report, not the end
        logger.warning("%s failed: %s", tag, err)
        return {"route": route, "run": tag, "gpus": gpus, "error": f"{type(err).__name__}: {str(err)[:300]}"}
    wall = time.perf_counter() - start
    curve = metrics.get("loss_curve") or []
    seconds, amount = work_done(route, metrics, args["config"], max(gpus, 1))
    return {
        "route": route,
        "run": tag,
        "gpus": gpus,
        "wall_s": wall,
        "train_runtime_s": seconds,
        "throughput": amount / seconds,
        "global_step": metrics.get("global_step", len(curve)),
        "final_loss": curve[-1]["loss"] if curve else float("nan"),
        "peak_gib": metrics.get("peak_gpu_memory_gib"),
        "reloads_finite": reloads(route, args["output_dir"]) if reload else saved_size(args["output_dir"]),
    }


def work_done(route: str, metrics: dict, config: dict, gpus: int) -> tuple[float, float]:
    """(seconds, work) of a run: SFT examples, PRM tokens, GRPO completions (see the module docstring)."""
    if route == "prm":
        return metrics["steps_runtime"], metrics["num_tokens"]
    per_step = config["batch_size" if route == "ppo" else "per_device_train_batch_size"] * gpus
    step_times = [row["step_time"] for row in metrics.get("loss_curve", []) if "step_time" in row]
    if route in RL and len(step_times) >= 2:  # steady state: the first step carries kernel compiles and caches
        return sum(step_times[1:]), (len(step_times) - 1) * per_step
    return metrics["train_runtime"], metrics["global_step"] * per_step


def reloads(route: str, output_dir: str) -> bool:
    """The saved model loads (PRM: ``PRM.load``; else ``from_pretrained``) and gives finite outputs."""
    with torch.no_grad():
        if route == "prm":
            from agentark_core.train.prm_model import PRM

            scores = PRM.load(output_dir).score_steps(["What is 1 + 1?"], [["1 + 1 = 2", "Final Answer: 2"]])
            return all(math.isfinite(p) for p in scores[0]) and len(scores[0]) == 2
        from transformers import AutoModelForCausalLM

        logits = AutoModelForCausalLM.from_pretrained(output_dir).float()(torch.tensor([[1, 2, 3, 4]])).logits
        return bool(torch.isfinite(logits).all())


def saved_size(output_dir: str) -> str:
    """``saved N GiB``: the safetensors files a run wrote (a reload of 8B weights on the CPU takes minutes)."""
    size = sum(f.stat().st_size for f in Path(output_dir).glob("*.safetensors"))
    return f"saved {size / 2**30:.1f} GiB"


def single_gpu(route: str, run_file: Path) -> dict:
    """The launch module's own entry point in a child process that sees one GPU."""
    metrics = run_file.with_suffix(".metrics.json")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
    command = [sys.executable, "-m", "agentark_core.train.launch", "--route", route, "--args", str(run_file)]
    subprocess.run([*command, "--metrics", str(metrics)], check=True, env=env)
    return json.loads(metrics.read_text())


def route_config(route: str, args) -> dict:
    """The trainer config fields of one route's runs (the pipeline's defaults where it has them)."""
    cuda = torch.cuda.is_available() and not args.tiny
    trainer = {"bf16": cuda, "use_cpu": not cuda, "report_to": "none", "save_strategy": "no", "seed": 0,
               "logging_steps": 1, "max_steps": args.grpo_steps if route in RL else args.steps,
               "dataloader_pin_memory": False}
    if route == "sft":
        return trainer | {"per_device_train_batch_size": args.batch, "learning_rate": 1e-5, "padding_free": cuda,
                          "resume": False, "logging_steps": max(args.steps // 4, 1)}
    if route == "ppo":  # our own loop: fp32 policy + value head, one completion per prompt, each process its own
        return {"max_steps": args.grpo_steps, "batch_size": 2 * args.generations, "ppo_epochs": 1, "seed": 0,
                "max_completion_length": 16 if args.tiny else args.completion_tokens, "max_prompt_length": 256,
                "learning_rate": 1e-6, "kl_coef": 0.05, "use_vllm": args.grpo_rollout == "vllm"}
    if route == "grpo":
        vllm = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3} \
            if args.grpo_rollout == "vllm" else {}  # each process its own colocated engine (TRL)
        return trainer | vllm | {"num_generations": args.generations, "learning_rate": 1e-6, "beta": 0.001,
                                 "per_device_train_batch_size": 2 * args.generations, "max_prompt_length": 256,
                                 "max_completion_length": 16 if args.tiny else args.completion_tokens,
                                 "disable_tqdm": True}
    return {"stage1_max_steps": max(args.steps // 3, 1), "stage2_max_steps": args.steps, "traces_per_batch": 8,
            "heldout_fraction": 0.0, "resume": False, "warmup_ratio": 0.0}


def route_data(route: str, args) -> list[dict]:
    """Enough rows for every process's batches (PRM batches cycle through the questions)."""
    gpus = max(args.gpus, 1)
    if route == "sft":
        return sft_rows(args.steps * args.batch * gpus, 10 if args.tiny else 100, 60 if args.tiny else 700)
    if route == "grpo":  # 2 fresh prompts per device and step
        return prompt_rows(2 * args.grpo_steps * gpus)
    if route == "ppo":  # every step draws its 2 x G prompts per process from these
        return prompt_rows(2 * args.generations * gpus)
    return prm_rows(8 if args.tiny else 64, 10 if args.tiny else 100, 60 if args.tiny else 600)


def write_run_file(folder: Path, route: str, model: str, args, tag: str, helpers: dict) -> Path:
    """A launch run file (model, examples as parquet like the pipeline's launcher writes them, output
    folder, config, helpers) for one run."""
    import pandas as pd

    examples = folder / f"{route}-examples.parquet"
    if not examples.exists():
        pd.DataFrame(route_data(route, args)).to_parquet(examples)
    run_file = folder / f"{route}-{tag}.json"
    run_file.write_text(json.dumps({"model_path": model, "examples": str(examples), "output_dir": str(folder / tag),
                                    "config": route_config(route, args), "helpers": helpers}))
    return run_file


def run_route(route: str, folder: Path, model: str, args) -> list[dict]:
    """The 1-GPU run and one N-GPU run per accelerate config the route's trainer takes."""
    helpers = {}
    if route in RL and args.grpo_rollout == "vllm":  # vLLM wants the tokenizer's vocabulary = the embedding's
        model = rollout_student("tiny" if args.tiny else "qwen3-0.6b", folder / "rollout-student")
    if route in RL:
        from agentark_core.train.prm_model import PRM

        torch.manual_seed(0)
        PRM.from_student(model).save(folder / "prm")
        helpers = {"prm_path": str(folder / "prm")}
    rows = [run_config(route, "1 GPU", write_run_file(folder, route, model, args, f"{route}-single", helpers), 1,
                       None, args.tiny)]
    for name in filter(None, args.configs.split(",")):
        if name not in ROUTES.get(route).strategies:
            logger.info("%s: skipping %s (the trainer runs under %s)", route, name, ROUTES.get(route).strategies)
            continue
        run_file = write_run_file(folder, route, model, args, f"{route}-{name}", helpers)
        rows.append(run_config(route, f"{name} x{args.gpus}", run_file, args.gpus, name, args.tiny))
    return rows


def build_8b_student(path: Path) -> str:
    """A Qwen3-8B-shaped student with random bf16 weights (initialised on the GPU: seconds, not CPU minutes)."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    from agentark_core.toy.tiny import train_tokenizer

    tokenizer = train_tokenizer()
    config = Qwen3Config(**LARGER["Qwen3-8B"], pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, dtype="bfloat16")
    start = time.perf_counter()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    torch.cuda.empty_cache()
    logger.info("8B student written in %.0f s", time.perf_counter() - start)
    return str(path)


def zero3_8b(folder: Path, args) -> dict:
    """SFT of the 8B-shaped student under ZeRO-3 on ``args.gpus`` processes (no 1-GPU run: it does not fit)."""
    model = build_8b_student(folder / "student-8b")
    small = argparse.Namespace(**{**vars(args), "steps": args.steps_8b, "batch": 2})
    run_file = write_run_file(folder, "sft", model, small, "sft-8b-zero3", {})
    row = run_config("sft", f"8B zero3 x{args.gpus}", run_file, args.gpus, "zero3", False, reload=False)
    return {**row, "route": "sft 8B"}  # its own table group: no 1-GPU run to compare with


def print_table(rows: list[dict]) -> None:
    """One markdown table; efficiency = throughput ÷ (GPUs x the route's one-GPU throughput)."""
    print("| route | run | GPUs | wall s | train s | throughput | efficiency | steps | final loss | peak GiB | reloads |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['route']} | {r['run']} | {r['gpus']} | failed: {r['error']} |")
            continue
        base = next((b["throughput"] for b in rows if b["route"] == r["route"] and b["gpus"] <= 1
                     and "error" not in b), math.nan)
        efficiency = r["throughput"] / (max(r["gpus"], 1) * base)
        print(f"| {r['route']} | {r['run']} | {r['gpus']} | {r['wall_s']:.1f} | {r['train_runtime_s']:.1f} |"
              f" {r['throughput']:,.1f} {UNITS[r['route'].split()[0]]} | {efficiency:.2f} | {r['global_step']} |"
              f" {r['final_loss']:.3f} | {r['peak_gib'] if r['peak_gib'] is not None else '-'} |"
              f" {r['reloads_finite']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=2, help="processes of the multi-GPU runs")
    parser.add_argument("--routes", default="sft,prm,grpo", help="trainers to measure, comma-separated")
    parser.add_argument("--configs", default="ddp,zero2", help="infra/accelerate configs, comma-separated")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (PRM: its Stage II)")
    parser.add_argument("--batch", type=int, default=8, help="SFT per-device batch")
    parser.add_argument("--grpo-steps", type=int, default=8, help="GRPO / PPO optimizer steps per run")
    parser.add_argument("--generations", type=int, default=8, help="GRPO group size (2 prompts per device)")
    parser.add_argument("--completion-tokens", type=int, default=128, help="GRPO completion length")
    parser.add_argument("--grpo-rollout", choices=("hf", "vllm"), default="hf",
                        help="GRPO rollouts: HF generate, or TRL's colocated vLLM engine in every process")
    parser.add_argument("--zero3-8b", action="store_true", help="also SFT an 8B-shaped student under ZeRO-3")
    parser.add_argument("--steps-8b", type=int, default=6, help="optimizer steps of the 8B run")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU processes (smoke test)")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'} x "
          f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}; torch {torch.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_student("tiny" if args.tiny else "qwen3-0.6b", folder / "student")
        for route in filter(None, args.routes.split(",")):
            rows += run_route(route, folder, model, args)
            print_table(rows)  # so far, in case a later route takes the machine down
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=2))
        if args.zero3_8b:
            rows.append(zero3_8b(folder, args))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    print_table(rows)


if __name__ == "__main__":
    main()
