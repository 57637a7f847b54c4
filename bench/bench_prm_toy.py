"""Benchmark: does the PRM learn in the toy world? (issue 19; paper §3.3.3, App. B)

Builds a toy-world PRM set the way ``extract/prm_sets.py`` labels debate traces: per training problem
the gold solution (every step 1) and ``--wrong`` corrupted solutions (``toy.revision.corrupt_solution``:
an arithmetic slip carried on, a misread operand carried on, or a wrong final line), each step labelled
by ``divergence_labels`` against the gold steps. Trains the PRM from the toy student with each step loss
(``--losses``, the contrastive loss of App. B.1 and the BCE ablation) on the same data and seed, and
evaluates each on the held-out questions (``train.prm.heldout_fraction``): step AUROC, accuracy and
ranking accuracy, and best-of-N over the student's own samples against random, majority and oracle.

The student is ``--student`` (an HF folder, e.g. a committed ``toy_models`` artifact's ``student``) or,
without it, a fresh toy student trained here like the demo preset's (a 1-step throwaway teacher).

Prints one JSON object and a table.

Measured, CPU (2 shared cores, load ~15), 400 problems x (gold + 3 corrupted), 80 held-out questions,
the demo recipe's train.prm as of commit 6a63908 (40 + 40 steps, lr 1e-3 / 3e-4, 32 traces per batch),
a demo-preset toy student (sampled accuracy 8.4% at T = 1), best-of-N accuracy:

    loss          AUROC  step acc  rank acc  BoN4 prm/maj/oracle   BoN8 prm/maj/oracle   BoN16 prm/maj/oracle
    contrastive   0.561  0.554     0.538     0.075/0.072/0.287     0.075/0.094/0.456     0.062/0.125/0.675
    bce           0.779  0.709     0.513     0.050/0.072/0.287     0.019/0.094/0.456     0.013/0.125/0.675

Neither learns to check a step: the contrastive loss (which compares steps only within a question and
position) stays near chance; BCE's AUROC comes from where a step is (later steps and final lines of
wrong traces are more often wrong), not from whether it is right (ranking accuracy 0.51).

Sweep, same data and student (step metrics on the 80 held-out questions; best-of-8 from 8 samples each;
numbers from a quick script doing what ``run`` does, 09:00 UTC, load ~7):

    loss             stage I / II steps, lr, traces/batch    AUROC  rank acc  BoN8 prm/rand/maj/oracle
    contrastive      120 / 80, 3e-3 / 1e-3, 8                0.662  0.543
    contrastive      0 / 200, - / 1e-3, 8                    0.589  0.523
    bce              150 / 50, 1e-3 / 3e-4, 8                0.770  0.523
    contrastive_bce  150 / 50, 1e-3 / 3e-4, 8 (demo now)     0.771  0.538     0.038/0.066/0.088/0.375
    contrastive_bce  400 / 200, 3e-3 / 1e-3, 8               0.756  0.551     0.025/0.066/0.088/0.375
    contrastive      400 / 200, 3e-3 / 1e-3, 8               0.574  0.518     0.063/0.066/0.088/0.375

(the pure contrastive PRM predicts every step wrong: its accuracy equals the share of wrong steps, 0.468;
nothing in its loss sets the level of σ, and with more negatives than positives per group all scores sink.)

On 40 problems (32 training questions, 150 Stage I steps) the contrastive PRM reaches only 0.73 ranking
accuracy on its own training steps: checking ``a op b = c`` is not learnt from the student's 2-layer
d=64 features in this budget. Best-of-N with min, last or mean step aggregation picks the same answers.

Example:
    .venv/bin/python bench/bench_prm_toy.py --student /tmp/toy/student --problems 600
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the demo recipe's world and PRM settings (recipes/demo.yaml: toy.difficulty, train.prm)
DEMO_TOY = {"n_steps": (1, 3), "number_range": (1, 9), "operations": ("+", "-")}


def toy_prm_rows(n_problems: int, wrong: int, seed: int = 0, toy: dict | None = None) -> list[dict]:
    """``prm_examples`` rows of ``n_problems`` toy training problems: the gold solution and ``wrong``
    corrupted ones each, labelled as ``extract/prm_sets.py`` labels a debate's traces."""
    from agentark_core.extract import student_prompt
    from agentark_core.extract.prm_sets import _normal, divergence_labels
    from agentark_core.extract.steps import split_lines
    from agentark_core.toy.problems import ToyConfig, generate_problems
    from agentark_core.toy.revision import corrupt_solution, toy_question

    rng = random.Random(seed)
    rows = []
    for problem in generate_problems(n_problems, "train", seed, ToyConfig(**(toy or DEMO_TOY))):
        question = toy_question(problem)
        gold = split_lines(problem.solution)
        reference = [{_normal(s)} for s in gold]
        traces = [(gold, [1] * len(gold))]
        for _ in range(wrong):
            steps = split_lines(corrupt_solution(problem, rng))
            traces.append((steps, divergence_labels(steps, reference)))
        for k, (steps, labels) in enumerate(traces):
            rows.append({"question_id": question.question_id, "trace_id": f"{question.question_id}-{k}",
                         "prompt": student_prompt(question), "steps": steps, "step_labels": labels,
                         "is_correct": k == 0, "source": "correct" if k == 0 else "incorrect"})
    return rows


def toy_student(out_dir: Path, seed: int = 0) -> str:
    """A toy student as the demo preset trains it (the teacher reduced to one step: not used here)."""
    from agentark_core.toy.bootstrap import ModelSpec, ToyBootstrapConfig, bootstrap_toy_models

    demo = ToyBootstrapConfig.preset("demo")
    config = replace(demo, teacher=ModelSpec(hidden=16, layers=1, heads=2, steps=1, batch_size=8),
                     teacher_debate_steps=0, seed=seed)
    return bootstrap_toy_models(out_dir, config)["student"]


def questions_of(rows: list[dict], held: set[str], seed: int, n_problems: int, toy: dict | None = None) -> list:
    """The ``Question`` records of the held-out question ids (regenerated from the same problems)."""
    from agentark_core.toy.problems import ToyConfig, generate_problems
    from agentark_core.toy.revision import toy_question

    questions = [toy_question(p) for p in generate_problems(n_problems, "train", seed, ToyConfig(**(toy or DEMO_TOY)))]
    return [q for q in questions if q.question_id in held]


def run(student: str, rows: list[dict], losses: list[str], prm: dict, n_problems: int, seed: int,
        micro_batch_size: int = 64) -> dict:
    """Train a PRM per loss on ``rows`` and evaluate it on the held-out questions; one result per loss."""
    from agentark_core.evaluate.prm_eval import evaluate_prm
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.train.prm_model import PRM
    from agentark_core.train.prm_train import PRMConfig, split_examples, train_prm

    generator = TransformersGenerator(model=student, micro_batch_size=micro_batch_size, show_progress=False)
    results = {}
    for loss in losses:
        config = PRMConfig(**{"step_separator": "\n", "loss": loss, "seed": seed, **prm})
        _, held_rows = split_examples(rows, config)
        questions = questions_of(rows, {r["question_id"] for r in held_rows}, seed, n_problems)
        with tempfile.TemporaryDirectory(prefix=f"bench-prm-{loss}-") as tmp:
            start = time.perf_counter()
            metrics = train_prm(student, rows, tmp, config)
            trained = time.perf_counter() - start
            sampling = {"temperature": config.eval_temperature, "max_tokens": config.eval_max_tokens, "seed": seed}
            result = evaluate_prm(PRM.load(tmp), held_rows, questions, generator, config.eval_best_of, sampling)
        curve = metrics["loss_curve"]
        results[loss] = result | {"train_s": round(trained, 1), "first_loss": curve[0]["loss"],
                                  "last_loss": curve[-1]["loss"], "eval_s": round(time.perf_counter() - start - trained, 1)}
    return results


def table(results: dict) -> str:
    """One row per loss: step AUROC / accuracy / ranking accuracy and best-of-N pick vs majority / random / oracle."""
    sizes = sorted({n for r in results.values() for n in r.get("best_of_n", {})}, key=int)
    head = ["loss", "AUROC", "step acc", "rank acc", *[f"BoN{n} prm/maj/rand/oracle" for n in sizes]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for loss, r in results.items():
        s = r["steps"]
        cells = [loss, f"{s['auroc']:.3f}", f"{s['accuracy']:.3f}", f"{s['ranking_accuracy'] or 0:.3f}"]
        for n in sizes:
            b = r["best_of_n"][n]
            cells.append(f"{b['prm']:.3f} / {b['majority']:.3f} / {b['random']:.3f} / {b['oracle']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", help="toy student HF folder (default: train one here)")
    parser.add_argument("--problems", type=int, default=400, help="toy training problems in the PRM set")
    parser.add_argument("--wrong", type=int, default=3, help="corrupted solutions per problem")
    parser.add_argument("--losses", default="contrastive,bce")
    parser.add_argument("--prm", default="{}", help="JSON of PRMConfig fields over the demo recipe's train.prm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from agentark_core.recipe import load_recipe

    prm = dict(load_recipe(ROOT / "recipes" / "demo.yaml").train.prm) | json.loads(args.prm)
    rows = toy_prm_rows(args.problems, args.wrong, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-prm-student-") as tmp:
        student = args.student or toy_student(Path(tmp), args.seed)
        results = run(student, rows, args.losses.split(","), prm, args.problems, args.seed)
    out = {"problems": args.problems, "wrong": args.wrong, "rows": len(rows), "prm": prm, "results": results}
    print(json.dumps(out, indent=1, default=str))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
