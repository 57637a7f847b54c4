"""Benchmark: where one GRPO step's time goes (paper §3.3.3 PAD) — rollout vs reward vs log-probs vs update.

Builds the trainer exactly as ``train_grpo`` does (:func:`agentark_core.train.grpo.build_grpo_trainer`,
PRMVR reward with a PRM initialised from the student) and wraps, on the trainer instance:

- ``_generate``: rollout (tokenise prompts + ``generate`` G completions per prompt);
- each reward callable (``prm_score``: PRM forward over the steps; ``verifiable``: ``grade()``);
- ``_generate_and_score_completions``: the above + old/reference log-probs + advantages
  (the remainder is reported as ``ref logprobs + advantages``);
- the whole optimiser step, from a callback's ``on_step_begin`` to ``on_step_end``; ``update`` = step −
  generate-and-score (policy forward/backward + optimiser step).

Step 1 includes warm-up; the table reports the mean of the later steps.

Run:
    PYTHONPATH=. python bench/bench_grpo_step.py                                   # CPU, tiny Qwen3
    PYTHONPATH=. python bench/bench_grpo_step.py --model-config qwen3-0.6b --device cuda --prompts 8 \\
        --num-generations 8 --max-completion-length 256
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

QWEN3_06B = {
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}


def build_student(kind: str, path: Path) -> str:
    """Save a random-init student (tiny, or Qwen3-0.6B-shaped with the toy tokenizer) and return its folder."""
    from transformers import Qwen3Config

    from agentark_core.toy.tiny import make_tiny_model, save_random_init, train_tokenizer

    if kind == "tiny":
        return make_tiny_model(path)
    return save_random_init(path, train_tokenizer(), Qwen3Config(**QWEN3_06B))


def timed(fn, name: str, times: dict, sync: bool):
    """Wrap ``fn`` so each call adds its wall time (after a CUDA sync) to ``times[name]``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        times[name] += time.perf_counter() - start
        return out

    return wrapper


def make_config(args, out: str):
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    on_cpu = args.device == "cpu"
    return AgentArkGRPOConfig(
        output_dir=out,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.prompts * args.num_generations,
        max_steps=args.steps,
        max_completion_length=args.max_completion_length,
        learning_rate=1e-5,
        beta=0.001,
        bf16=not on_cpu,
        use_cpu=on_cpu,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        max_prompt_length=256,
        dataloader_pin_memory=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-config", choices=["tiny", "qwen3-0.6b"], default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--num-generations", type=int, default=4, help="group size G")
    parser.add_argument("--max-completion-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    from agentark_core.train.grpo import build_grpo_trainer
    from agentark_core.train.prm_model import PRM

    with tempfile.TemporaryDirectory() as tmp:
        student = build_student(args.model_config, Path(tmp) / "student")
        PRM.from_student(student).save(Path(tmp) / "prm")
        rows = [
            {"question_id": f"q{i}", "prompt": f"Tom has {i} apples and buys {i + 3} more. How many apples?",
             "gt": str(2 * i + 3), "task_type": "math", "choices": []}
            for i in range(args.prompts * args.steps)
        ]  # fmt: skip
        trainer, _ = build_grpo_trainer(
            student, rows, str(Path(tmp) / "out"), make_config(args, tmp), str(Path(tmp) / "prm")
        )
        sync = args.device == "cuda"
        per_step, times = [], defaultdict(float)
        trainer._generate = timed(trainer._generate, "rollout", times, sync)
        trainer._generate_and_score_completions = timed(
            trainer._generate_and_score_completions, "generate_and_score", times, sync
        )
        trainer.reward_funcs = [timed(f, f"reward: {f.__name__}", times, sync) for f in trainer.reward_funcs]
        trainer.add_callback(step_timer_class()(times, per_step, sync))
        trainer.train()
        report(per_step[1:] or per_step, args)


def step_timer_class():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Per optimiser step: reset the wrapped timers at its start, store them with the step time at its end."""

        def __init__(self, times: dict, per_step: list, sync: bool) -> None:
            self.times, self.per_step, self.sync, self.start = times, per_step, sync, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.times.clear()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.sync:
                torch.cuda.synchronize()
            self.per_step.append(dict(self.times, step=time.perf_counter() - self.start))

    return StepTimer


def report(steps: list[dict], args) -> None:
    """Print the mean split of the given steps in seconds and as fractions of the step."""
    keys = sorted({k for s in steps for k in s})
    mean = {k: sum(s.get(k, 0.0) for s in steps) / len(steps) for k in keys}
    rewards = {k: v for k, v in mean.items() if k.startswith("reward: ")}
    parts = {
        "rollout (generate)": mean.get("rollout", 0.0),
        **rewards,
        "ref logprobs + advantages": mean["generate_and_score"] - mean["rollout"] - sum(rewards.values()),
        "update (fwd/bwd + optimiser)": mean["step"] - mean["generate_and_score"],
    }
    print(f"GRPO step on {args.model_config} / {args.device}: {args.prompts} prompts x G={args.num_generations}, "
          f"{args.max_completion_length} new tokens max, mean of {len(steps)} step(s)")  # fmt: skip
    for name, seconds in parts.items():
        print(f"  {name:>32}: {seconds:8.3f} s  {seconds / mean['step']:6.1%}")
    print(f"  {'total step':>32}: {mean['step']:8.3f} s")


if __name__ == "__main__":
    main()
