"""Benchmark: does the PRM learn in the toy world? (issue 19; paper §3.3.3, App. B)

Builds a toy-world PRM set the way ``extract/prm_sets.py`` labels debate traces: per training problem
the gold solution (every step 1) and ``--wrong`` corrupted solutions (``toy.revision.corrupt_solution``:
an arithmetic slip carried on, a misread operand carried on, or a wrong final line), each step labelled
by ``divergence_labels`` against the gold steps. Trains a PRM from the toy student per variant
(``VARIANTS``: the untrained PRM, each step loss, and the hidden-state head without the likelihood
features of ``train/prm_likelihood.py``) on the same data and seed, with the demo recipe's ``train.prm``,
and evaluates each on the held-out questions (``train.prm.heldout_fraction``): step AUROC, accuracy and
ranking accuracy, and best-of-N over the student's own samples against random, majority and oracle.

The student is ``--student`` (an HF folder, e.g. a committed ``toy_models`` artifact's ``student``) or,
without it, a fresh toy student trained here like the demo preset's (a 1-step throwaway teacher).

Prints one JSON object and a table.

Measured, CPU (2 shared cores, OMP_NUM_THREADS=1), 400 problems x (gold + 3 corrupted), 80 held-out
questions (1000 steps, 53% correct), the demo preset's toy student (seed 0; 8.4% of its T = 1 samples
correct), recipes/demo.yaml's train.prm as of this commit (contrastive_bce, 150 + 50 steps at lr 1e-4 /
3e-5, heads at 1e-2, 8 traces per batch; training 10-40 s), 16 samples per question at T = 1:

    | PRM                         | AUROC | step acc | rank acc | BoN4 prm/maj/rand/oracle | BoN8 ...                  | BoN16 ...                 |
    | untrained                   | 0.806 | 0.721 | 0.667 | 0.113 / 0.072 / 0.084 / 0.287 | 0.106 / 0.094 / 0.084 / 0.456 | 0.087 / 0.125 / 0.084 / 0.675 |
    | contrastive                 | 0.678 | 0.591 | 0.760 | 0.103 / 0.072 / 0.084 / 0.287 | 0.119 / 0.094 / 0.084 / 0.456 | 0.138 / 0.125 / 0.084 / 0.675 |
    | bce                         | 0.862 | 0.777 | 0.753 | 0.116 / 0.072 / 0.084 / 0.287 | 0.131 / 0.094 / 0.084 / 0.456 | 0.087 / 0.125 / 0.084 / 0.675 |
    | contrastive_bce (demo)      | 0.856 | 0.774 | 0.747 | 0.103 / 0.072 / 0.084 / 0.287 | 0.094 / 0.094 / 0.084 / 0.456 | 0.062 / 0.125 / 0.084 / 0.675 |
    | contrastive_bce_hidden_only | 0.742 | 0.705 | 0.543 | 0.078 / 0.072 / 0.084 / 0.287 | 0.094 / 0.094 / 0.084 / 0.456 | 0.075 / 0.125 / 0.084 / 0.675 |

(BoN N uses 16 // N disjoint groups per question: 320 / 160 / 80 trials.) With 32 samples per question
(tests/integration/test_prm_learns.py; 640 / 320 / 160 / 80 trials) the demo PRM gives best-of-4/8/16/32
0.089 / 0.075 / 0.081 / 0.062 against majority 0.062 / 0.069 / 0.081 / 0.100 (untrained: 0.084 / 0.091 /
0.087 / 0.062). The pure contrastive loss ranks a question's same-position steps best (0.76) but nothing
in it sets the level of a score across positions, so its pooled AUROC is low; BCE sets it.

Why it did not learn before (issue 19; 80 held-out questions unless said):

* The data was right: divergence labels as the pipeline's, the question in the prompt, the score read at
  each step's last token, negatives from the same question and position, packed batches scoring equal
  to padded ones. But step position alone (a step is 75% correct, a final line 25%) gives AUROC 0.72:
  the old PRM's 0.77-0.78 was mostly position (ranking accuracy 0.51-0.54), with any loss; 150 + 600
  steps at lr 1e-3 gave 0.783 (the previous sweep went to 600 steps at 3e-3: 0.756).
* The backbone knows more than the head could read: the toy teacher's own prefix-min token log-probability
  separates the steps with AUROC 0.998 (100 problems), the student's 0.78; yet a PRM trained from the
  teacher with the hidden-state head alone reached 0.73. Checking ``a op b = c`` is a comparison a causal
  LM makes one token before ``c``, not at it. Hence the likelihood features (``train/prm_likelihood.py``).
* With them, training the backbone fast erases what its likelihoods knew (stage lr 1e-3 / 3e-4: AUROC
  0.795); slow backbone (1e-4 / 3e-5) and fast fresh heads (1e-2): 0.856. 1200 problems instead of 400:
  0.841 (not data-bound). Probability features instead of log-probabilities: 0.80.
* Capacity (paper App. C.1): a PRM with likelihood features from the toy teacher (demo preset, d = 96)
  reaches AUROC 0.99 (measured with a first version of the features), and still best-of-8 only 0.131
  against majority 0.100.
* Best-of-N is bounded by the student, not by the PRM: of its 2560 samples (T = 1, 32 per question) 178
  end in the right answer and 1 has the gold steps (T = 0.7: 242 and 4). A process verifier does not
  prefer lucky answers after wrong steps, so every PRM here picks near random / majority; best-of-8 >=
  majority-of-8 holds, by 2 trials of 320 in the test.

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


# what each row of the table trains: PRMConfig fields over the recipe's train.prm
VARIANTS = {
    "untrained": {"stage1_max_steps": 0, "stage1_epochs": 0, "stage2_max_steps": 0, "stage2_epochs": 0},
    "contrastive": {"loss": "contrastive"},
    "bce": {"loss": "bce"},
    "contrastive_bce": {"loss": "contrastive_bce"},
    "contrastive_bce_hidden_only": {"loss": "contrastive_bce", "likelihood_features": False},
}


def run(student: str, rows: list[dict], variants: dict[str, dict], prm: dict, n_problems: int, seed: int,
        micro_batch_size: int = 64) -> dict:
    """Train a PRM per variant (``PRMConfig`` fields over ``prm``) on ``rows`` and evaluate it on the
    held-out questions; one result per variant."""
    from agentark_core.evaluate.prm_eval import evaluate_prm
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.train.prm_model import PRM
    from agentark_core.train.prm_train import PRMConfig, split_examples, train_prm

    generator = TransformersGenerator(model=student, micro_batch_size=micro_batch_size, show_progress=False)
    results = {}
    for name, overrides in variants.items():
        config = PRMConfig(**{"step_separator": "\n", "seed": seed, **prm, **overrides})
        _, held_rows = split_examples(rows, config)
        questions = questions_of(rows, {r["question_id"] for r in held_rows}, seed, n_problems)
        with tempfile.TemporaryDirectory(prefix="bench-prm-") as tmp:
            start = time.perf_counter()
            metrics = train_prm(student, rows, tmp, config)
            trained = time.perf_counter() - start
            sampling = {"temperature": config.eval_temperature, "max_tokens": config.eval_max_tokens, "seed": seed}
            prm_model = PRM.load(tmp)
            result = evaluate_prm(prm_model, held_rows, questions, generator, config.eval_best_of, sampling,
                                  config.eval_aggregation)
        curve = metrics["loss_curve"]
        results[name] = result | {
            "loss": config.loss, "likelihood_features": config.likelihood_features, "train_s": round(trained, 1),
            "optimizer_steps": len(curve),
            "first_loss": curve[0]["loss"] if curve else None, "last_loss": curve[-1]["loss"] if curve else None,
            "eval_s": round(time.perf_counter() - start - trained, 1),
        }
    return results


def table(results: dict) -> str:
    """One row per variant: step AUROC / accuracy / ranking accuracy and best-of-N pick vs majority / random / oracle."""
    sizes = sorted({n for r in results.values() for n in r.get("best_of_n", {})}, key=int)
    head = ["PRM", "AUROC", "step acc", "rank acc", *[f"BoN{n} prm/maj/rand/oracle" for n in sizes]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        s = r["steps"]
        cells = [name, f"{s['auroc']:.3f}", f"{s['accuracy']:.3f}", f"{s['ranking_accuracy'] or 0:.3f}"]
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
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    parser.add_argument("--prm", default="{}", help="JSON of PRMConfig fields over the demo recipe's train.prm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown --variants {unknown}; valid: {list(VARIANTS)}")
    logging.basicConfig(level=logging.WARNING)
    from agentark_core.recipe import load_recipe

    prm = dict(load_recipe(ROOT / "recipes" / "demo.yaml").train.prm) | json.loads(args.prm)
    rows = toy_prm_rows(args.problems, args.wrong, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-prm-student-") as tmp:
        student = args.student or toy_student(Path(tmp), args.seed)
        variants = {name: VARIANTS[name] for name in args.variants.split(",")}
        results = run(student, rows, variants, prm, args.problems, args.seed)
    out = {"problems": args.problems, "wrong": args.wrong, "rows": len(rows), "prm": prm, "results": results}
    print(json.dumps(out, indent=1, default=str))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
