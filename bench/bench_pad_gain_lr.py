"""Benchmark: PAD's GRPO with the norm gains' own learning rate on the toy student (issue 19 item 4).

Adam moves each weight by ~lr a step, so at one rate the toy student's norm gains (~1.3) move ~30x less relative
to their size than its matrices (rms ~0.04); the final norm's gain scales every logit, i.e. it is the policy's
sampling temperature (``agentark_core/train/gain_lr.py``). On one toy student (``--student``, e.g. a demo store's
``toy_models`` artifact's ``student``) and its PRM (``--prm``), on fresh training problems (seed 777), it runs
PAD's GRPO (PRM + verifiable reward, T = 1, beta 0, ``--grpo-steps`` x ``--prompts-per-step`` x ``--samples``
rollouts, ``--steps-per-generation``) once per ``--runs`` entry ``LR:GAIN_LR`` (``none`` = one rate), and, as
the control, the start model with only its final gain scaled to each run's trained value (no training: the
same model sampled sharper). Each model is evaluated on ``--eval-problems`` held-out problems, greedy and at
T = 1 (mean of ``--eval-seeds`` seeds). Prints one JSON object; ``--quick`` is a seconds-long smoke run.

Measured (session 13, CPU, 2 cores, 118 s; the demo store's student and PRM, defaults: 1600 problems, 40 steps
x 16 prompts x G 4, steps_per_generation 4; T = 1 is the mean of eval seeds 0-1, 500 problems):

    | run                          | final gain | T = 1 | greedy | its gain alone, no training: T = 1 / greedy |
    | student                      | 1.305      | 35.7  | 66.6   |                                             |
    | lr 2e-4, one rate            | 1.311      | 32.5  | 55.4   | 36.4 / 66.6                                 |
    | lr 2e-4, gains 1e-2          | 1.546      | 42.0  | 60.0   | 44.2 / 66.6                                 |
    | lr 2e-5, gains 1e-2 (demo)   | 1.557      | 42.8  | 64.8   | 44.6 / 66.6                                 |

So what GRPO gains in this budget is a sharper policy: the start model with only its final gain scaled as GRPO
scaled it does as well or better; the matrices' update costs greedy accuracy at lr 2e-4 (with ~25k rollouts a
one-rate GRPO lifts the student by itself: bench_grpo_vs_rft_toy.py). Earlier, with equivalent scripts (before
the CPU sampler changed which tokens are drawn): gains at 3e-3 gave 37.0 (gain 1.387), 80 steps x 128 rollouts
at lr 2e-4 + gains 1e-2 47.9 (gain 1.729), on a start of 34.7.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path


def final_gain(model_dir: str) -> float:
    """Mean of the final norm's gain of a saved model."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return round(model.model.norm.weight.mean().item(), 4)


def scaled_copy(start: str, out: str, gain: float) -> str:
    """``start`` saved at ``out`` with its final norm's gain scaled to mean ``gain`` (nothing else changed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(start)
    with torch.no_grad():
        model.model.norm.weight.mul_(gain / model.model.norm.weight.mean())
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(start).save_pretrained(out)
    return out


def run(args, lr: float, gain_lr: float | None, out: str) -> dict:
    from bench_grpo_vs_rft_toy import grpo  # run as a script: bench/ is on the path

    trained = grpo(args, lr, out, gain_learning_rate=gain_lr)
    return {"lr": lr, "gain_lr": gain_lr, "train_s": round(trained["train_s"], 1), "final_gain": final_gain(out),
            "rollout_accuracy": trained["rollout_accuracy"]}


def parse_runs(specs: list[str]) -> list[tuple[float, float | None]]:
    """``LR:GAIN_LR`` entries (``none`` = one rate); ValueError naming a malformed one."""
    runs = []
    for spec in specs:
        lr, _, gain = spec.partition(":")
        try:
            runs.append((float(lr), None if gain in ("", "none") else float(gain)))
        except ValueError:
            raise ValueError(f"--runs entry {spec!r} is not LR:GAIN_LR (e.g. 2e-5:1e-2 or 2e-4:none)") from None
    return runs


def main() -> None:
    from bench_grpo_vs_rft_toy import evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", required=True, help="HF folder of the toy student")
    parser.add_argument("--prm", default=None, help="folder of a trained PRM; none = verifiable reward only")
    parser.add_argument("--problems", type=int, default=1600)
    parser.add_argument("--samples", type=int, default=4, help="GRPO's G")
    parser.add_argument("--prompts-per-step", type=int, default=16)
    parser.add_argument("--grpo-steps", type=int, default=40)
    parser.add_argument("--steps-per-generation", type=int, default=4)
    parser.add_argument("--runs", nargs="+", default=["2e-4:none", "2e-4:1e-2", "2e-5:1e-2"])
    parser.add_argument("--eval-problems", type=int, default=500)
    parser.add_argument("--eval-seeds", type=int, default=2)
    parser.add_argument("--out", default="/tmp/bench_pad_gain_lr")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few problems and steps")
    args = parser.parse_args()
    runs = parse_runs(args.runs)
    if args.quick:
        args.problems, args.grpo_steps, args.prompts_per_step, args.steps_per_generation = 16, 2, 4, 1
        args.eval_problems, args.eval_seeds = 16, 1
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    result = {"student": evaluate(args.student, args) | {"final_gain": final_gain(args.student)}, "runs": {}}
    for lr, gain_lr in runs:
        name = f"lr{lr:g}_gains{gain_lr:g}" if gain_lr is not None else f"lr{lr:g}"
        out = str(Path(args.out) / name)
        trained = run(args, lr, gain_lr, out)
        control = scaled_copy(args.student, f"{out}_gain_only", trained["final_gain"])
        result["runs"][name] = trained | evaluate(out, args)
        result["runs"][f"{name}_gain_only"] = {"final_gain": trained["final_gain"]} | evaluate(control, args)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
