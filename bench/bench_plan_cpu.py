"""Benchmark: the CPU rates ``agentark plan`` prices the toy world with (issue 20: plan vs the measured demo).

Measures, on this machine's CPU, with the project's own code paths and the demo preset's toy world:

- **rows**: mean tokens of a toy training row (chat-rendered prompt + solution) for the single-agent
  rows and the teacher's debate-phase mix (revision / aggregation prompts carry 5 answers);
- **training**: ``train_sft`` steps on random-init toy models of the demo preset's teacher and student
  shapes, batch 32 -> seconds per step and effective FLOP/s (6·params per trained token, padding and
  the trainer's per-step work included);
- **generation** (``--models``, a folder with trained ``teacher/`` and ``student/``): the
  ``transformers`` backend at micro-batch 64 on held-out toy questions, one agent (cot) and a
  5-agent x 2-round debate, T = 1, max 64 tokens -> seconds per generated token and reply length.

Prints each part as it ends, with the load average before and after (other processes share the cores).

Measured 2026-11-27, this 2-core machine shared with 2-3 other jobs (load average 2.4-7.6 throughout: no
quiet time was found), toy models of the demo preset (teacher d=96 687k params, student d=64 397k):

    rows (chat-rendered tokens)          single-agent 91.2, teacher debate-phase mix 237.7
    train_sft, batch 32, s / step        min / 25th pct / median over 37 steps
      teacher, single rows (2,915 tok)     0.37-0.41 / 1.1-2.6 / 2.2-3.2     (load 2.4-7.6)
      student, single rows (2,915 tok)     0.069 / 0.085 / 0.090 (quiet), 0.23-1.2 / 0.31-2.6 / 0.35-3.0
      teacher, mix rows (7,663 tok)        1.0-1.2 / 1.8-3.0 / 2.4-4.9
    (a quiet machine: the 12:20 cold demo's bootstrap recorded 0.132 s / step for the teacher, 0.103 s the student)
    generation, micro-batch 64, one thread, process CPU s over two runs (wall s at load 3.4-4.5)
      teacher one agent, 200 questions     5,295 new + 12,339 prompt tokens   1.30-1.37 (1.30-1.51)
      student one agent, 200 questions     5,055 new + 12,339 prompt tokens   1.36-1.39 (1.38-1.50)
      teacher debate 5 x 2, 50 questions   11,175 new + 72,281 prompt tokens  4.61-4.76 (5.17-5.43)
    (replies: 26.5 tokens one agent, 23 in the debate)
    GRPO (demo's train.grpo, 16 completions / step, no PRM, no held-out), s / step: 1.42 min, 3.4-7.1 median
    (load 3.3-5.7)

Under load the two torch threads of training wait for each other (3-25x slower steps); generation runs on
one thread and its CPU time is an idle machine's wall time. agentark_core/plan/cpu.py takes its rates
from these numbers and says which.

Run (after one cold demo, its toy models from the store):
    PYTHONPATH=. python bench/bench_plan_cpu.py --models DIR   # DIR: teacher/ + student/ from a store's toy_models/<key>/files/
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _row_tokens(tokenizer, rows: list[dict]) -> float:
    """Mean tokens of rows as ``train_sft`` renders them (one user turn + the assistant's solution)."""
    from agentark_core.train.sft import tokenize_example

    return sum(len(tokenize_example(tokenizer, r["prompt"], r["reasoning"], r["answer"], 1.0, 1.0)["input_ids"])
               for r in rows) / len(rows)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed_training(init: str, rows: list[dict], out: str, steps: int, batch: int) -> dict:
    """``train_sft``'s trainer for ``steps`` steps with each step timed (the first 3 are warm-up)."""
    import torch
    from transformers import TrainerCallback

    from agentark_core.train.sft import build_trainer
    from agentark_core.train.sft_config import AgentArkSFTConfig

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.seconds, self.t0 = [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.t0)

    config = AgentArkSFTConfig(  # as agentark_core.toy.bootstrap._train builds it on a CPU
        output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=3e-3,
        lr_scheduler_type="cosine", warmup_steps=1, weight_decay=0.01, bf16=False, logging_steps=10,
        report_to="none", save_strategy="no", seed=0, dataloader_pin_memory=False, padding_free=False)
    start = time.perf_counter()
    trainer = build_trainer(init, rows, out, config)
    built = time.perf_counter()
    times = StepTimes()
    trainer.add_callback(times)
    cpu_start = time.process_time()
    trainer.train()
    cpu_s = time.process_time() - cpu_start  # all threads' CPU time
    trainer.save_model(out)
    done = time.perf_counter()
    steady = times.seconds[3:] or times.seconds
    return {"build_s": round(built - start, 2), "train_and_save_s": round(done - built, 2),
            "step_s_min": round(min(steady), 4), "step_s_p25": round(_percentile(steady, 0.25), 4),
            "step_s_median": round(_percentile(steady, 0.5), 4), "first_steps_s": [round(t, 3) for t in
                                                                                times.seconds[:3]],
            "cpu_s_per_step": round(cpu_s / steps, 4), "threads": torch.get_num_threads(),
            "trained_tokens": int(trainer._total_train_tokens)}


def measure_training(steps: int) -> dict:
    """Timed ``train_sft`` steps of both demo shapes on single rows, and of the teacher on mix rows."""
    from agentark_core.mas.prompts import TEMPLATES
    from agentark_core.plan.shapes import model_shape
    from agentark_core.toy.bootstrap import ToyBootstrapConfig, _init_model, sft_rows
    from agentark_core.toy.problems import generate_problems
    from agentark_core.toy.revision import build_examples
    from agentark_core.toy.tokenizer import build_toy_tokenizer

    config = ToyBootstrapConfig.preset("demo")
    tokenizer = build_toy_tokenizer(TEMPLATES)
    problems = generate_problems(config.train_problems, "train", 0, config.toy)
    kinds = {"single": sft_rows(tokenizer, build_examples(problems, config.single_mix, 1)),
             "teacher_mix": sft_rows(tokenizer, build_examples(problems, config.teacher_mix, 0))}
    out: dict = {"row_tokens": {k: round(_row_tokens(tokenizer, rows), 1) for k, rows in kinds.items()}, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for role, spec, kind in (("teacher", config.teacher, "single"), ("student", config.student, "single"),
                                 ("teacher", config.teacher, "teacher_mix")):
            init = _init_model(Path(tmp) / f"{role}_init", tokenizer, spec, 0)
            run = _timed_training(init, kinds[kind], str(Path(tmp) / f"{role}_{kind}"), steps, spec.batch_size)
            params = model_shape(init).params
            per_step = run["trained_tokens"] / steps
            out["runs"].append({"role": role, "rows": kind, "params": params, "steps": steps,
                                "batch": spec.batch_size, "tokens_per_step": round(per_step), **run,
                                "effective_flops_at_p25": round(6 * params * per_step / run["step_s_p25"])})
    return out


def measure_generation(models: Path, questions: int) -> list[dict]:
    """Seconds per generated token of the trained toy models, one agent and a debate, at micro-batch 64."""
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.mas import CotConfig, DebateConfig, run_protocol
    from agentark_core.plan.shapes import model_shape
    from agentark_core.toy.problems import ToyConfig, generate_problems
    from agentark_core.toy.revision import toy_question

    toy = ToyConfig(n_steps=(1, 3), number_range=(1, 9), operations=("+", "-"))
    qs = [toy_question(p, "test") for p in generate_problems(questions, "test", 0, toy)]
    runs = []
    for role, protocol in (("teacher", "cot"), ("student", "cot"), ("teacher", "debate")):
        generator = TransformersGenerator(model=str(models / role), micro_batch_size=64, show_progress=False)
        config = CotConfig(temperature=1.0, max_tokens=64, seed=0) if protocol == "cot" else \
            DebateConfig(n_agents=5, rounds=2, temperature=1.0, aggregator_temperature=0.0, max_tokens=64, seed=0)
        batch = qs if protocol == "cot" else qs[: max(1, questions // 4)]
        start, cpu_start = time.perf_counter(), time.process_time()
        turns = run_protocol(protocol, batch, generator, config)
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        new = sum(t.completion_tokens for t in turns)
        runs.append({"role": role, "protocol": protocol, "params": model_shape(str(models / role)).params,
                     "questions": len(batch), "calls": len(turns), "generated_tokens": new,
                     "prompt_tokens": sum(t.prompt_tokens for t in turns), "seconds": round(seconds, 2),
                     "cpu_s": round(cpu_s, 2),  # one thread: CPU time is the idle machine's wall time
                     "reply_tokens": round(new / len(turns), 1), "s_per_token": round(seconds / new, 6),
                     "threads": generator.threads})
    return runs


def measure_grpo(models: Path, steps: int) -> dict:
    """Seconds per step of the demo's GRPO (``train.grpo`` of recipes/demo.yaml) on the trained toy student,
    verifiable reward only (no PRM: its 2·params per token is small beside TRL's per-step work), no held-out
    evaluation."""
    import pandas as pd
    from transformers import TrainerCallback

    from agentark_core.mas.prompts import first_prompt
    from agentark_core.recipe import load_recipe
    from agentark_core.toy.problems import ToyConfig, generate_problems
    from agentark_core.toy.revision import toy_question
    from agentark_core.train.grpo import build_grpo_trainer
    from tasks.stages.train import rl_config

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.seconds, self.cpu, self.t0, self.c0 = [], [], 0.0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.t0)
            self.cpu.append(time.process_time() - self.c0)  # all threads' CPU time

    toy = ToyConfig(n_steps=(1, 3), number_range=(1, 9), operations=("+", "-"))
    questions = [toy_question(p) for p in generate_problems(200, "train", 0, toy)]
    prompts = pd.DataFrame([{"question_id": q.question_id, "prompt": first_prompt(q), "gt": q.gt,
                             "task_type": "math", "choices": []} for q in questions])
    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml",
                         [f"train.grpo.max_steps={steps}", "train.grpo.heldout_prompts=0",
                          "train.grpo.eval_strategy='no'", "train.grpo.eval_on_start=false",
                          "train.grpo.verifiable_weight=1.0", "train.grpo.prm_weight=0.0"])
    with tempfile.TemporaryDirectory() as tmp:
        config = rl_config(recipe, tmp)
        start = time.perf_counter()
        trainer, _ = build_grpo_trainer(str(models / "student"), prompts, tmp, config)
        built = time.perf_counter()
        times = StepTimes()
        trainer.add_callback(times)
        trainer.train()
        done = time.perf_counter()
    steady = times.seconds[1:] or times.seconds
    return {"steps": steps, "completions_per_step": config.per_device_train_batch_size,
            "max_completion_length": config.max_completion_length, "build_s": round(built - start, 2),
            "train_s": round(done - built, 2), "step_s": [round(t, 3) for t in times.seconds],
            "step_s_min": round(min(steady), 3), "step_s_median": round(_percentile(steady, 0.5), 3),
            "step_cpu_s": [round(t, 3) for t in times.cpu]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, help="folder with trained toy teacher/ and student/")
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--grpo-steps", type=int, default=6)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    result: dict = {"cpu_count": os.cpu_count()}
    parts = {"training": lambda: measure_training(args.train_steps)} if not args.skip_training else {}
    if args.models:
        parts |= {"generation": lambda: measure_generation(args.models, args.questions),
                  "grpo": lambda: measure_grpo(args.models, args.grpo_steps)}
    for name, measure in parts.items():  # each part printed as it ends, with the load around it
        before = os.getloadavg()
        result[name] = {"loadavg_before": before, "result": measure(), "loadavg_after": os.getloadavg()}
        print(json.dumps({name: result[name]}), flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
