"""Benchmark: why PAD's GRPO does not lift the toy student, while SFT on its own samples does (issue 19 item 4).

On one toy student (``--student``, e.g. a demo store's ``toy_models`` artifact's ``student``) and fresh
training problems (``--problems``, seed 777: not the bootstrap's), it measures:

* ``rft``: rejection-sampling fine-tuning. The student samples ``--samples`` answers per problem at T = 1;
  the answer-correct ones (``all``), or only those whose every step is right (``clean``, checked by
  :func:`clean_solution`), train the student with the project's SFT (``--rft-steps`` x 32, constant lr);
  ``clean_grouped``: the clean rows in GRPO's batch layout (each problem's samples in one batch).
* ``grpo``: the project's ``train_grpo`` on the same problems (16 prompts x G = ``--samples`` per step,
  T = 1, beta 0, ``--grpo-steps``), verifiable reward, plus the PRM when ``--prm`` is given.
* ``snr``: cosine between the policy gradients of ``--snr-batches`` independent 128-rollout batches, between
  SFT gradients of batches of clean correct samples, and between the summed PG and the summed SFT gradient:
  ~0 means a step's update is mostly noise.
* the share of answer-correct samples with a wrong step, and the PRM's reward on each kind (with ``--prm``).

Every trained model is evaluated on ``--eval-problems`` held-out toy problems, greedy and at T = 1 (mean of
``--eval-seeds`` seeds). Prints one JSON object; ``--quick`` is a seconds-long smoke run (not accurate).

Measured, CPU (2 shared cores, 442 s), the demo store's 500-step student, 1600 fresh problems x 8 samples:
37.1% answer-correct, of all samples 30.9% correct with every step right and 6.2% correct through a wrong
step (PRM reward 0.984 vs 0.689; wrong answers 0.578-0.884). Held-out accuracy after each run (500 problems):

    | run                                              | T = 1 (seeds 0-2) | greedy |
    | student                                          | 36.1              | 66.6   |
    | RFT, all correct samples, lr 1e-3, 100 x 32      | 36.7              | 52.6   |
    | RFT, clean correct samples, lr 1e-3, 100 x 32    | 48.7              | 65.2   |
    | GRPO PRM+VR, lr 1e-4, 40 x 16 prompts x G 8      | 34.6              | 60.2   |
    |   its weight change with random signs            | 36.7              | 66.4   |
    | GRPO PRM+VR, lr 3e-4                             | 30.9              | 47.6   |
    |   its weight change with random signs            | 35.1              | 64.6   |

So the direction of GRPO's update, not its size, costs the greedy accuracy. S10A traced that direction to the
data GRPO hands the optimizer, not to its trainer (the SFT trainer replaying GRPO's batches made the same
updates): a step's rows are G samples of a few problems, and RFT on clean samples laid out so (``clean_grouped``,
lr 1e-3) lost 5.8 points at T = 1 (greedy 43.2) where shuffled it gained 12.6; GRPO's advantage weights cost
more on top (recipes/demo.yaml's train.grpo comment). Gradient cosines between 4
batches do not separate PG from SFT (this run: PG pairs 0.02..0.32, SFT 0.03..0.34, PG vs SFT 0.18; a run
with other rollouts: PG -0.29..0.33, SFT -0.01..0.31, PG vs SFT -0.07). recipes/demo.yaml's train.grpo
comment has the other variants; RFT on clean samples in another data order gave 46.9 / 60.6.

Why GRPO at lr 1e-3 collapses (S11A, measured with equivalent scripts on the same student and problems, not a
run of this bench): Adam's first steps move every weight by ~lr. Clean RFT dips too (``..._first8``: after 8
steps T = 1 29.3, greedy 46.6) and recovers because its rows stay the start model's samples; GRPO's rollouts come
from the dipped policy. ``--adam-epsilons 1e-2`` removes the dip (8 steps 36.9 / 66.6, 100 steps 42.2 / 65.6)
and GRPO's collapse at lr 1e-3 without making it lift (strict VR 33.0 / 57.0); recipes/demo.yaml's
train.grpo comment has the runs that ruled the other causes out.

GRPO lifts with enough rollouts, and keeps the greedy accuracy when each step mixes many problems (session 12;
the demo student and PRM, PRM + VR reward, 1600 fresh problems, 32 prompts x G 4 = 128 rollouts a step, T = 1,
beta 0; ``spg 8``: ``--steps-per-generation 8``, one round of 1024 rollouts shuffled across 8 steps, so a step
holds ~110 problems instead of 32; change from the start on the same eval seeds, 0-2 unless marked; spg rows on
one H200, the others on CPU):

    | run                                   | T = 1  | greedy |
    | lr 2e-4, 200 steps, spg 8             | +5.9   | 63.8   |
    |   the same, no spg                    | +5.3   | 55.8   |
    |   spg 8, the demo's 400 problems (CPU)| +4.8   | 59.2   |
    | lr 1e-4, 300 steps, spg 8             | +4.5   | 63.8   |
    | lr 1e-3, adam_epsilon 1e-2, 200, spg 8| +3.6   | 62.2   |
    | lr 3e-4, adam_epsilon 1e-2, 200, spg 8| +0.5   | 63.0   |
    | lr 1e-4, 100 steps, spg 8 (seeds 0-1) | +3.5   | 63.8   |
    | lr 1e-3, eps 1e-2, 60, spg 8 (0-1)    | +2.8   | 62.4   |
    | the same, VR only (seeds 0-1)         | +0.8   | 62.4   |
    | lr 1e-3, eps 1e-2, 40 steps, no spg   | -1.2   | 59.4   |
    |   the same, positive advantages only  | -2.6   | 58.8   |

The best run's 25,600 rollouts take ~100 s on the H200; on two idle CPU cores a step of it takes 1.6 s (TRL's LM
head compacted, train/fused_head.py; 24 steps timed) and a pipeline run with its held-out checks 349-371 s
(recipes/pad_lift.yaml), three runs in the demo (pad, pad_vr, pad_prm): more than the 15-minute demo holds. The
demo's PAD instead gives the norm gains their own learning rate (bench_pad_gain_lr.py). Reproduce::

    python bench/bench_grpo_vs_rft_toy.py --student STORE/toy_models/KEY/files/student \
        --prm STORE/train_prm/KEY/files/model --grpo-lrs 2e-4 --grpo-steps 200 --prompts-per-step 32 --samples 4 \
        --steps-per-generation 8
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from itertools import combinations

from agentark_core.toy.problems import compute

STEP = re.compile(r"Step \d+: (-?\d+) ([-+*/]) (-?\d+) = (-?\d+)")
DIFFICULTY = {"n_steps": [1, 3], "number_range": [1, 9], "operations": ["+", "-"]}


def clean_solution(text: str) -> bool:
    """True when every ``Step k: a op b = c`` line is right arithmetic, each step starts from the previous
    result, and the last line is ``Final Answer: <last result>``.

    Example:
        >>> clean_solution("Step 1: 2 + 5 = 7\\nStep 2: 7 - 1 = 6\\nFinal Answer: 6")
        True
        >>> clean_solution("Step 1: 2 + 5 = 8\\nFinal Answer: 7")
        False
    """
    lines, previous = text.strip().split("\n"), None
    if len(lines) < 2:
        return False
    for line in lines[:-1]:
        match = STEP.fullmatch(line)
        if not match:
            return False
        a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
        if (previous is not None and a != previous) or (op == "/" and b == 0) or compute(a, op, b) != c:
            return False
        previous = c
    return lines[-1] == f"Final Answer: {previous}"


def questions(n: int, split: str, seed: int):
    from agentark_core.data.loader import load_questions

    return load_questions("toy", split=split, limit=n, seed=seed, **DIFFICULTY)


def evaluate(model: str, args) -> dict:
    """Greedy and T = 1 (mean over ``--eval-seeds``) accuracy on the held-out problems."""
    from bench_toy_world import single

    from agentark_core.llm.hf_backend import TransformersGenerator

    qs = questions(args.eval_problems, "test", 0)
    gen = TransformersGenerator(model=model, micro_batch_size=256, show_progress=False)
    t1 = [single(gen, qs, 1.0, 64, seed)["acc"] for seed in range(args.eval_seeds)]
    return {"greedy": single(gen, qs, 0.0, 64, 0)["acc"], "t1": sum(t1) / len(t1), "t1_seeds": t1}


def sample(args) -> list[dict]:
    """``--samples`` T = 1 answers of the student per fresh training problem, graded and step-checked."""
    from agentark_core.answers import grade
    from agentark_core.extract import student_prompt
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.mas import CotConfig, run_protocol

    qs = questions(args.problems, "train", 777)
    by_id = {q.question_id: q for q in qs}
    gen = TransformersGenerator(model=args.student, micro_batch_size=512, show_progress=False)
    rows = []
    for s in range(args.samples):
        for turn in run_protocol("cot", qs, gen, CotConfig(temperature=1.0, max_tokens=64, seed=100 + s)):
            q = by_id[turn.question_id]
            correct = turn.answer is not None and grade(turn.answer, q.gt, "math").correct
            rows.append({"question_id": q.question_id, "prompt": student_prompt(q), "gt": q.gt,
                         "response": turn.response, "correct": correct, "clean": clean_solution(turn.response)})
    return rows


def rft(args, rows: list[dict], kind: str, lr: float, out: str, eps: float = 1e-8, steps: int | None = None) -> dict:
    """SFT of the student on its own answer-correct samples (``kind`` all | clean | clean_grouped). ``clean_grouped``
    lays the clean rows out as GRPO's batches are: each problem's samples together, problems in random order.
    ``eps``: Adam's epsilon; ``steps``: stop early (default ``--rft-steps``), e.g. to see the first steps' dip."""
    import random

    from agentark_core.train.sft import train_sft
    from agentark_core.train.sft_config import AgentArkSFTConfig

    keep = [r for r in rows if r["correct"] and (kind == "all" or r["clean"]) and "\nFinal Answer" in r["response"]]
    random.Random(0).shuffle(keep)
    if kind == "clean_grouped":
        order = sorted({r["question_id"] for r in keep})
        random.Random(0).shuffle(order)
        rank = {qid: i for i, qid in enumerate(order)}
        keep.sort(key=lambda r: rank[r["question_id"]])
    examples = [{"prompt": r["prompt"], "reasoning": r["response"].rsplit("\n", 1)[0],
                 "answer": r["response"].rsplit("\n", 1)[1], "weight": 1.0} for r in keep]
    config = AgentArkSFTConfig(output_dir=out, max_steps=steps or args.rft_steps, per_device_train_batch_size=32,
                               learning_rate=lr, adam_epsilon=eps, lr_scheduler_type="constant", report_to="none",
                               save_strategy="no", logging_steps=1 if steps else 10, bf16=False, dataloader_pin_memory=False, seed=0,
                               train_sampling_strategy="sequential" if kind == "clean_grouped" else "random")
    metrics = train_sft(args.student, examples, out, config)
    return {"rows": len(examples), "loss": [round(r["loss"], 4) for r in metrics["loss_curve"]]}


def grpo_config(args, out: str, lr: float, steps: int, use_prm: bool, **extra):
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    return AgentArkGRPOConfig(
        output_dir=out, report_to="none", save_strategy="no", logging_steps=1, dataloader_pin_memory=False, bf16=False,
        max_steps=steps, num_generations=args.samples, per_device_train_batch_size=args.prompts_per_step * args.samples,
        max_completion_length=64, learning_rate=lr, beta=0.0, temperature=1.0, seed=0, warmup_steps=min(5, steps),
        lr_scheduler_type="constant_with_warmup", prm_weight=1.0 if use_prm else 0.0,
        steps_per_generation=args.steps_per_generation, **extra)


def prompt_frame(n: int, seed: int):
    import pandas as pd

    from agentark_core.extract import student_prompt

    qs = questions(n, "train", seed)
    return pd.DataFrame({"question_id": [q.question_id for q in qs], "prompt": [student_prompt(q) for q in qs],
                         "gt": [q.gt for q in qs], "task_type": [q.task_type for q in qs], "choices": [[] for _ in qs]})


def grpo(args, lr: float, out: str, eps: float = 1e-8, **extra) -> dict:
    """The project's ``train_grpo`` on ``args.problems`` fresh problems (``extra``: more config fields)."""
    from agentark_core.train.grpo import train_grpo

    config = grpo_config(args, out, lr, args.grpo_steps, args.prm is not None, adam_epsilon=eps, **extra)
    metrics = train_grpo(args.student, prompt_frame(args.problems, 777), out, config, prm_path=args.prm)
    curve = metrics["loss_curve"]
    accuracy = "rewards/verifiable/mean"  # logged at rollout rounds only (steps_per_generation)
    return {"rollout_accuracy": [round(r[accuracy], 3) for r in curve if accuracy in r],
            "entropy": [round(r.get("entropy", float("nan")), 3) for r in curve], "train_s": metrics["train_runtime"]}


def random_sign_copy(start: str, trained: str, out: str) -> str:
    """``start`` + the trained model's weight change with every element's sign drawn at random (same magnitudes),
    saved at ``out``: is the accuracy change due to the update's direction or only to its size?"""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    before, after = load_file(f"{start}/model.safetensors"), load_file(f"{trained}/model.safetensors")
    generator = torch.Generator().manual_seed(0)
    shutil.copytree(trained, out, dirs_exist_ok=True)
    flipped = {}
    for name, weight in before.items():
        signs = torch.randint(0, 2, weight.shape, generator=generator).to(weight.dtype) * 2 - 1
        flipped[name] = weight + (after[name] - weight) * signs
    save_file(flipped, f"{out}/model.safetensors", metadata={"format": "pt"})
    return out


def gradient_cosines(args, rows: list[dict]) -> dict:
    """Pairwise cosines of per-batch policy gradients (``--snr-batches`` batches of rollouts, lr 0) and of SFT
    gradients on as many batches of clean correct samples, and cos(sum PG, sum SFT)."""
    import torch
    from trl import GRPOTrainer

    from agentark_core.train.grpo import build_grpo_trainer
    from agentark_core.train.progress import show_loss_progress

    k = args.snr_batches
    config = grpo_config(args, f"{args.out}/snr", 0.0, k, False, shuffle_dataset=False)
    trainer, _ = build_grpo_trainer(args.student, prompt_frame(args.prompts_per_step * k, 99), f"{args.out}/snr", config)
    show_loss_progress(trainer, "rollouts")  # a bar, not log dicts on stdout
    batches, compute_loss = [], GRPOTrainer._compute_loss
    GRPOTrainer._compute_loss = lambda self, model, inputs: batches.append(dict(inputs)) or compute_loss(self, model, inputs)
    try:
        trainer.train()
    finally:
        GRPOTrainer._compute_loss = compute_loss
    model, tok = trainer.model.train(), trainer.processing_class
    params = [p for p in model.parameters() if p.requires_grad]

    def gradient(loss) -> torch.Tensor:
        model.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in params]).clone()

    def sft_loss(batch: list[dict]) -> torch.Tensor:
        total = 0
        for row in batch:
            prompt = tok.apply_chat_template([{"role": "user", "content": row["prompt"]}], add_generation_prompt=True,
                                             tokenize=True, return_dict=True)["input_ids"]
            target = tok(row["response"], add_special_tokens=False).input_ids + [tok.eos_token_id]
            logits = model(torch.tensor([list(prompt) + target])).logits[0, len(prompt) - 1:-1]
            total = total - logits.log_softmax(-1).gather(-1, torch.tensor(target)[:, None]).sum()
        return total / len(batch)

    pg = [gradient(compute_loss(trainer, model, b)) for b in batches]
    clean = [r for r in rows if r["correct"] and r["clean"]]
    size = max(1, min(45, len(clean) // k))
    sft = [gradient(sft_loss(clean[i * size:(i + 1) * size])) for i in range(k)]

    def cos(a, b) -> float:
        return round(torch.nn.functional.cosine_similarity(a, b, dim=0).item(), 3)

    return {"pg_pairs": [cos(pg[i], pg[j]) for i, j in combinations(range(len(pg)), 2)],
            "sft_pairs": [cos(sft[i], sft[j]) for i, j in combinations(range(k), 2)],
            "pg_vs_sft": cos(sum(pg), sum(sft))}


def reward_kinds(rows: list[dict], prm_path: str | None) -> dict:
    """Share of each sample kind (answer right/wrong x steps clean/dirty) and, with a PRM, its mean reward."""
    kinds: dict[str, list[dict]] = {}
    for row in rows:
        kinds.setdefault(f"{'correct' if row['correct'] else 'wrong'}/{'clean' if row['clean'] else 'dirty'}", []).append(row)
    result = {name: {"share": round(len(group) / len(rows), 3)} for name, group in sorted(kinds.items())}
    if prm_path:
        import torch

        from agentark_core.train.prm_model import PRM
        from agentark_core.train.rewards import prm_reward

        score = prm_reward(PRM.load(prm_path), aggregation="softmin", temperature=0.1, batch_size=64)
        for name, group in kinds.items():
            group = group[:300]
            with torch.no_grad():
                values = score([[{"role": "user", "content": r["prompt"]}] for r in group],
                               [[{"role": "assistant", "content": r["response"]}] for r in group])
            result[name]["prm_reward"] = round(sum(values) / len(values), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", required=True, help="HF folder of the toy student")
    parser.add_argument("--prm", default=None, help="folder of a trained PRM (PAD's reward); none = verifiable only")
    parser.add_argument("--problems", type=int, default=1600)
    parser.add_argument("--samples", type=int, default=8, help="samples per problem for RFT = GRPO's G")
    parser.add_argument("--rft-steps", type=int, default=100)
    parser.add_argument("--rft-lrs", type=float, nargs="*", default=[1e-3])
    parser.add_argument("--grpo-steps", type=int, default=40)
    parser.add_argument("--grpo-lrs", type=float, nargs="*", default=[1e-4, 3e-4])
    parser.add_argument("--prompts-per-step", type=int, default=16)
    parser.add_argument("--steps-per-generation", type=int, default=None,
                        help="TRL's steps_per_generation: one rollout round for K steps, shuffled across them")
    parser.add_argument("--adam-epsilons", type=float, nargs="*", default=[1e-8],
                        help="Adam epsilons of the RFT and GRPO runs (1e-2 damps the first steps' dip)")
    parser.add_argument("--rft-dip-steps", type=int, default=8,
                        help="also stop clean RFT after this many steps (0 = not): the dip at lr 1e-3")
    parser.add_argument("--snr-batches", type=int, default=4)
    parser.add_argument("--eval-problems", type=int, default=500)
    parser.add_argument("--eval-seeds", type=int, default=3)
    parser.add_argument("--out", default="/tmp/bench_grpo_vs_rft_toy")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few problems and steps")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.samples, args.rft_steps, args.grpo_steps, args.prompts_per_step = 16, 4, 2, 2, 4
        args.snr_batches, args.eval_problems, args.eval_seeds, args.grpo_lrs = 2, 16, 1, args.grpo_lrs[:1]
        args.rft_dip_steps = min(args.rft_dip_steps, 1)
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    rows = sample(args)
    result = {"student": evaluate(args.student, args), "samples": len(rows),
              "answer_correct": round(sum(r["correct"] for r in rows) / len(rows), 3),
              "kinds": reward_kinds(rows, args.prm), "runs": {}}
    for eps in args.adam_epsilons:
        tag = "" if eps == 1e-8 else f"_eps{eps:g}"
        for kind, lr in [(kind, lr) for kind in ("all", "clean", "clean_grouped") for lr in args.rft_lrs]:
            name = f"rft_{kind}_lr{lr:g}{tag}"
            run = rft(args, rows, kind, lr, f"{args.out}/{name}", eps)
            result["runs"][name] = run | evaluate(f"{args.out}/{name}", args)
        for lr in args.rft_lrs if args.rft_dip_steps else []:  # Adam's first steps: the dip SFT recovers from
            name = f"rft_clean_lr{lr:g}{tag}_first{args.rft_dip_steps}"
            run = rft(args, rows, "clean", lr, f"{args.out}/{name}", eps, args.rft_dip_steps)
            result["runs"][name] = run | evaluate(f"{args.out}/{name}", args)
        for lr in args.grpo_lrs:
            name = f"grpo_{'prm_vr' if args.prm else 'vr'}_lr{lr:g}{tag}"
            result["runs"][name] = grpo(args, lr, f"{args.out}/{name}", eps) | evaluate(f"{args.out}/{name}", args)
            if not tag:
                control = random_sign_copy(args.student, f"{args.out}/{name}", f"{args.out}/{name}_random_sign")
                result["runs"][f"{name}_random_sign"] = evaluate(control, args)
    result["gradient_cosines"] = gradient_cosines(args, rows)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
