"""Benchmark: does debate beat one agent in the toy world? (paper §3.2 / §4; project issue #8)

Bootstraps the toy teacher and student (``agentark_core.toy.bootstrap``) unless ``--models``
points at an earlier bootstrap, then measures on held-out ``test`` toy problems with the
transformers backend (batched):

- teacher single agent (``cot``): greedy and sampled at ``--temperature``;
- teacher self-consistency (majority of ``--agents`` samples, no revision);
- teacher debate (``--agents`` x ``--rounds``): aggregator answer, majority of the final round,
  mean agent accuracy per round;
- student single agent (greedy and sampled);
- generated tokens per question, debate vs single.

Prints one JSON object (also written to ``--json`` when given), then a table of the headline
numbers. The issue's target is debate >= single + 5 points.

Measured, demo preset (``agentark demo``'s world), CPU (2 shared cores, load ~2), 200 test
problems, T = 0.7, 5 agents x 2 rounds, accuracy in %:

    bootstrap seed / eval seed        0 / 0   1 / 1
    bootstrap (s)                      515*     544
    teacher greedy                     91.5    66.0
    teacher sampled (one agent)        80.5    60.0
    teacher self-consistency@5         88.5    65.0
    debate round-1 majority            88.5    65.0
    debate final-round majority        88.5    63.0
    debate aggregator                  85.5    55.5
    student greedy / sampled         10 / 9  6 / 8.5
    tokens per question, debate/one    226/27  240/26

(* the models of a cold ``agentark demo`` run, measured here with ``--models``.) Debate is
voting at best: it gains over one sampled agent only as much as self-consistency, never beats
greedy, and the second round lowers agent accuracy on the questions still open; the aggregator
(the answer ``eval_mas`` grades) ranges from +5 to -4.5 points against one sampled agent
across bootstrap seeds.

Measured on one H100 (demo preset, 4 bootstrap seeds run side by side in ~2 min, .devsite-style
sweep; GPU-trained models differ from the CPU demo's), aggregator minus one sampled agent, points:

    seed                                            0      1      2      3
    T 0.7, aggregator sampled (the demo today)    +0.5   +1.5   +3.0   -4.0
    + plurality_targets                           +5.5   +0.0   +0.5   -3.0
    + plurality_targets, aggregator greedy        +4.0   +6.5   +5.0   -1.0
    T 1.0, aggregator greedy                      +8.5   +8.5   +7.0   -5.5
    T 1.0, aggregator greedy, plurality_targets   +8.0   +9.5   +3.5   -7.5
    (teacher greedy accuracy, first row)          94.5   93.0   77.0   48.0

Sampling at T = 1 with a greedy aggregator (``--temperature 1 --aggregator-temperature 0 --set
sample_temperature=1.0``) gives the debate effect on 3 of 4 seeds; a weak teacher (seed 3) loses with
every setting, and the second round always lowers agent accuracy on the questions still open.

Demo student, issue 19 (CPU, 2 loaded cores; the demo world's 3000 training problems, d = 64, 2 layers,
lr 3e-3; 500 test problems; T = 1 is the mean of eval seeds 0-2), accuracy in % by student SFT steps:

    steps                  200    300    400    450    500    600
    student greedy          12     23     40     38     67     84
    student T = 1          8.3     12     15     17     36     62

The demo preset's student now trains 500 steps (was 200: it had learned the format, not the
arithmetic). Cold demo with it (session 13): base 34.4, R-SFT 51.2, DA 44.0, PAD 43.4, teacher one agent 69,
debate 89.2; PAD's GRPO trains the norm gains at their own rate (recipes/demo.yaml's train.grpo comment).

Measured earlier (default preset, bootstrapped on one H100 in ~5 min; 400 test problems, T = 0.7,
5 agents x 3 rounds; mean of eval seeds 0/1/2): teacher greedy 62.0%, one sampled agent 55.9%,
self-consistency@5 60.1%, debate aggregator 59.6%, debate final-round majority 60.6%;
~350 generated tokens per question in debate vs 32 for one agent; student greedy 25%, sampled 17%.

Run:
    PYTHONPATH=. python bench/bench_toy_world.py --out /tmp/toy_models           # demo preset, bootstrap + measure
    PYTHONPATH=. python bench/bench_toy_world.py --out /tmp/toy1 --set seed=1 --seed 1  # another seed
    PYTHONPATH=. python bench/bench_toy_world.py --preset default --rounds 3 --out /tmp/toy_default
    PYTHONPATH=. python bench/bench_toy_world.py --seeds 3 --out /tmp/seeds-report \
        --recipe-set store.root=/tmp/seeds-store       # every route over 3 bootstrap seeds (toy_route_seeds.py)
    PYTHONPATH=. python bench/bench_toy_world.py --models /tmp/toy_models --questions 200
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from agentark_core.answers import grade
from agentark_core.data.loader import load_questions
from agentark_core.llm.hf_backend import TransformersGenerator
from agentark_core.mas import CotConfig, DebateConfig, SelfConsistencyConfig, run_protocol
from agentark_core.mas.base import majority
from agentark_core.toy.bootstrap import ToyBootstrapConfig, bootstrap_toy_models


def accuracy(answers: dict[str, str | None], questions) -> float:
    """Share of questions whose answer grades correct (None counts as wrong)."""
    right = sum(
        a is not None and grade(a, q.gt, q.task_type).correct
        for q in questions
        for a in [answers[q.question_id]]
    )
    return right / len(questions)


def single(gen, questions, temperature: float, max_tokens: int, seed: int) -> dict:
    """cot accuracy and generated tokens per question."""
    config = CotConfig(temperature=temperature, max_tokens=max_tokens, seed=seed)
    turns = run_protocol("cot", questions, gen, config)
    return {
        "acc": accuracy({t.question_id: t.answer for t in turns}, questions),
        "tokens_per_q": sum(t.completion_tokens for t in turns) / len(questions),
    }


def debate(gen, questions, args) -> dict:
    """Debate accuracy by aggregator, final-round majority, round-1 majority, and per-round agent mean."""
    config = DebateConfig(
        n_agents=args.agents,
        rounds=args.rounds,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        consensus_stop=not args.no_consensus_stop,
        aggregator_temperature=args.aggregator_temperature,
    )
    turns = run_protocol("debate", questions, gen, config)
    by_q = {q.question_id: q for q in questions}
    rounds: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    aggregator, correct_by_round = {}, defaultdict(list)
    for t in turns:
        q = by_q[t.question_id]
        if t.role == "aggregator":
            aggregator[t.question_id] = t.answer
            continue
        rounds[t.round][t.question_id].append(t.answer)
        correct_by_round[t.round].append(t.answer is not None and grade(t.answer, q.gt, "math").correct)
    final = {}
    for k in sorted(rounds):  # a question's final round is the last one it took part in
        final.update(rounds[k])
    vote = lambda answers: {qid: majority(a, by_q[qid]) for qid, a in answers.items()}
    return {
        "aggregator_acc": accuracy(aggregator, questions),
        "final_majority_acc": accuracy(vote(final), questions),
        "round1_majority_acc": accuracy(vote(rounds[1]), questions),
        "agent_acc_by_round": {k: sum(v) / len(v) for k, v in sorted(correct_by_round.items())},
        "questions_by_round": {k: len(rounds[k]) for k in sorted(rounds)},
        "tokens_per_q": sum(t.completion_tokens for t in turns) / len(questions),
    }


def measure(model: str, questions, args, with_debate: bool) -> dict:
    """All measurements of one model."""
    gen = TransformersGenerator(
        model=model, device=args.device, micro_batch_size=args.micro_batch, show_progress=False
    )
    start = time.perf_counter()
    out = {
        "greedy": single(gen, questions, 0.0, args.max_tokens, args.seed),
        "sampled": single(gen, questions, args.temperature, args.max_tokens, args.seed),
    }
    if with_debate:
        sc = run_protocol(
            "self_consistency",
            questions,
            gen,
            SelfConsistencyConfig(
                n_agents=args.agents,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                seed=args.seed,
            ),
        )
        out["self_consistency_acc"] = accuracy(
            {t.question_id: t.answer for t in sc if t.role == "aggregator"}, questions
        )
        out["debate"] = debate(gen, questions, args)
    out["eval_s"] = time.perf_counter() - start
    return out


def table(result: dict) -> str:
    """The headline numbers as an aligned text table (accuracy in %, tokens generated per question)."""
    teacher, student = result["teacher"], result["student"]
    debate_ = teacher["debate"]
    rows = [
        ("teacher greedy", teacher["greedy"]["acc"], teacher["greedy"]["tokens_per_q"]),
        ("teacher sampled (one agent)", teacher["sampled"]["acc"], teacher["sampled"]["tokens_per_q"]),
        ("teacher self-consistency", teacher["self_consistency_acc"], None),
        ("teacher debate round-1 majority", debate_["round1_majority_acc"], None),
        ("teacher debate final majority", debate_["final_majority_acc"], debate_["tokens_per_q"]),
        ("teacher debate aggregator", debate_["aggregator_acc"], debate_["tokens_per_q"]),
        ("student greedy", student["greedy"]["acc"], student["greedy"]["tokens_per_q"]),
        ("student sampled", student["sampled"]["acc"], student["sampled"]["tokens_per_q"]),
    ]
    lines = [f"{'':34}{'acc %':>7}{'tokens/q':>10}"]
    lines += [f"{name:34}{100 * acc:7.1f}{'' if tok is None else f'{tok:10.0f}'}" for name, acc, tok in rows]
    return "\n".join(lines)


def override(config, assignments: list[str]):
    """Apply ``field.sub=json_value`` assignments to a (nested) frozen dataclass config."""
    for assignment in assignments:
        path, _, value = assignment.partition("=")
        *parents, leaf = path.split(".")
        chain = [config]
        for name in parents:
            chain.append(getattr(chain[-1], name))
        new = replace(chain[-1], **{leaf: json.loads(value)})
        for parent, name in zip(reversed(chain[:-1]), reversed(parents)):
            new = replace(parent, **{name: new})
        config = new
    return config


def seed_routes(args) -> None:
    """``--seeds N``: the route table over toy seeds (``bench/toy_route_seeds.py``), printed and in ``--json``."""
    from bench.toy_route_seeds import format_table, paper_checks, route_table, run_seed_grid

    start = time.perf_counter()
    summary = run_seed_grid(args.seeds, args.recipe, args.recipe_set, args.out)
    table = route_table(summary)
    checks = paper_checks(table)
    print(format_table(table, checks))
    print(f"{args.seeds} seed(s) in {time.perf_counter() - start:.0f} s; grid report in {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"routes": table.reset_index().to_dict(orient="records"),
                                               "checks": checks}, indent=1, default=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="folder of an earlier bootstrap (teacher/, student/)")
    parser.add_argument(
        "--out", default="/tmp/toy_models",
        help="where to bootstrap when --models is not given (with --seeds: the grid report's folder)"
    )
    parser.add_argument("--preset", default="demo", help="ToyBootstrapConfig preset")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a bootstrap config field, e.g. --set teacher.steps=1600 --set teacher_mix.revision=2",
    )
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-consensus-stop", action="store_true")
    parser.add_argument(
        "--aggregator-temperature",
        type=float,
        default=None,
        help="the aggregator's decoding (default: --temperature)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--micro-batch", type=int, default=256)
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("--seeds", type=int, help="instead: every route over toy seeds 0..N-1 (bench/toy_route_seeds.py)")
    parser.add_argument("--recipe", help="with --seeds: the base recipe (default: the demo recipe)")
    parser.add_argument("--recipe-set", action="append", default=[], metavar="FIELD=VALUE",
                        help="with --seeds: a recipe override for every seed, e.g. store.root=/tmp/seeds-store")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.seeds:
        seed_routes(args)
        return

    result: dict = {"args": vars(args)}
    models = args.models
    if models is None:
        config = override(ToyBootstrapConfig.preset(args.preset), args.set)
        boot = bootstrap_toy_models(args.out, config)
        result["bootstrap"] = {
            "runtime_s": boot["runtime_s"],
            "examples": boot["examples"],
            **{
                f"{m}_{k}": boot[f"{m}_metrics"][k]
                for m in ("teacher", "teacher_debate", "student")
                if f"{m}_metrics" in boot
                for k in ("train_loss", "train_runtime", "global_step")
            },
            **{
                f"{m}_last_loss": boot[f"{m}_metrics"]["loss_curve"][-1]["loss"]
                for m in ("teacher", "teacher_debate", "student")
                if f"{m}_metrics" in boot
            },
        }
        models = args.out
    with open(f"{models}/bootstrap.json") as f:  # test problems of the difficulty trained on
        toy = json.load(f)["config"]["toy"]
    questions = load_questions("toy", split="test", limit=args.questions, seed=args.seed, **toy)
    result["teacher"] = measure(f"{models}/teacher", questions, args, with_debate=True)
    result["student"] = measure(f"{models}/student", questions, args, with_debate=False)
    text = json.dumps(result, indent=1)
    print(text)
    print(table(result))
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
