"""Benchmark: rule labeling + trajectory extraction + R-SFT/DA/PRM builders over a synthetic debate log.

Why (paper §3.2: ~342k questions, ~2M trajectories): extraction must stream shard by shard at a
rate that makes the paper-scale log a minutes-long job (goal >= 20k trajectories/s, peak RSS
<= 2 GB). A synthetic debate log (toy arithmetic chains, n agents, up to K rounds with
consensus stop, an aggregator row per question; wrong answers that get fixed in later rounds;
two trace styles so DA has structure to choose from) is first written as parquet shards
(untimed). Then each shard is read, rule-labelled (``verify`` "rule" = ``answers.grade``) and
extracted (``extract_shard``: trajectories, R-SFT, DA with greedy max-min, PRM), one shard at a
time in this process, as the pipeline's stages do. Prints trajectories/s by wall clock and by CPU
time, the time the full 2M-trajectory log would take, and peak RSS.

Run:
    PYTHONPATH=. python bench/bench_extraction.py                        # 20k questions x 5 agents
    PYTHONPATH=. python bench/bench_extraction.py --questions 400000     # the paper-scale 2M trajectories
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agentark_core.data.question import Question
from agentark_core.extract import ExtractConfig, SelectionStats, TrajectoryStats, extract_shard
from agentark_core.verify import VerifyItem, build_verifier

PAPER_TRAJECTORIES = 2_000_000
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _chain(rng: random.Random) -> list[tuple[int, str, int, int]]:
    value, steps = rng.randint(2, 50), []
    for _ in range(rng.randint(2, 4)):
        op, b = rng.choice("+-*"), rng.randint(2, 9)
        steps.append((value, op, b, OPS[op](value, b)))
        value = steps[-1][3]
    return steps


def _trace(steps, answer: int, prose: bool) -> str:
    """A trace in one of two styles: 'Step k:' lines, or prose paragraphs."""
    if prose:
        body = "\n\n".join(f"Next we compute {a} {op} {b}, which gives {c}." for a, op, b, c in steps)
        return f"Let us work through it.\n\n{body}\n\nFinal Answer: {answer}"
    lines = [f"Step {k}: {a} {op} {b} = {c}" for k, (a, op, b, c) in enumerate(steps, 1)]
    return "\n".join(lines) + f"\nFinal Answer: {answer}"


def synthetic_shard(rng: random.Random, start: int, n_questions: int, n_agents: int, rounds: int):
    """One shard of a debate log: (questions, turns) frames; each round an agent is right with rising odds."""
    questions, turns = [], []
    for i in range(start, start + n_questions):
        steps = _chain(rng)
        gt = steps[-1][3]
        q = Question(
            "bench",
            "train",
            "math",
            f"Chain {i}: start at {steps[0][0]} and apply {len(steps)} ops.",
            str(gt),
            question_id=f"q{i:08d}",
        )
        questions.append(q.to_row())
        styles = [rng.random() < 0.3 for _ in range(n_agents)]
        answers: list[int] = []
        for k in range(1, rounds + 1):
            answers = [
                gt if rng.random() < 0.4 + 0.15 * k else gt + rng.randint(1, 5) for _ in range(n_agents)
            ]
            for agent, answer in enumerate(answers):
                wrong = steps[:-1] + [(*steps[-1][:3], answer)]
                turns.append((q.question_id, agent, "agent", k, _trace(wrong, answer, styles[agent])))
            if len(set(answers)) == 1:
                break  # consensus stop
        turns.append(
            (q.question_id, -1, "aggregator", k + 1, f"Final Answer: {max(set(answers), key=answers.count)}")
        )
    turn_df = pd.DataFrame(turns, columns=["question_id", "agent_id", "role", "round", "response"])
    return pd.DataFrame(questions), turn_df


def rule_labels(questions: pd.DataFrame, turns: pd.DataFrame) -> pd.DataFrame:
    """``labels`` rows for every turn through the rule verifier."""
    by_id = questions.set_index("question_id")
    gts, types = (
        by_id.loc[turns["question_id"], "gt"].tolist(),
        by_id.loc[turns["question_id"], "task_type"].tolist(),
    )
    items = [VerifyItem("", gt, tt, r) for gt, tt, r in zip(gts, types, turns["response"].tolist())]
    grades = build_verifier("rule").verify(items)
    return turns[["question_id", "agent_id", "role", "round"]].assign(
        answer=[g.extracted for g in grades],
        status=[g.status for g in grades],
        correct=[g.correct for g in grades],
        verifier="rule",
    )


@dataclass(frozen=True)
class ShardResult:
    """What one processed shard reports back: counters, table sizes and CPU seconds per phase."""

    stats: TrajectoryStats
    selection: SelectionStats
    rows: dict[str, int]
    read_s: float
    label_s: float
    extract_s: float


def write_shards(directory: Path, args: argparse.Namespace) -> list[Path]:
    """Generate the log's shards as parquet files (untimed); one seeded generator per shard."""
    paths = []
    for start in range(0, args.questions, args.shard_questions):
        n = min(args.shard_questions, args.questions - start)
        questions, turns = synthetic_shard(
            random.Random(f"{args.seed}:{start}"), start, n, args.agents, args.rounds
        )
        path = directory / f"shard-{start:09d}"
        questions.to_parquet(f"{path}.questions.parquet")
        turns.to_parquet(f"{path}.turns.parquet")
        paths.append(path)
    return paths


def process_shard(path: Path, config: ExtractConfig) -> ShardResult:
    """Read, label and extract one shard; CPU seconds per phase (the tables are dropped, as a writer would)."""
    c0 = time.process_time()
    questions = pd.read_parquet(f"{path}.questions.parquet")
    turns = pd.read_parquet(f"{path}.turns.parquet")
    c1 = time.process_time()
    labels = rule_labels(questions, turns)
    c2 = time.process_time()
    out = extract_shard(questions, turns, labels, config)
    c3 = time.process_time()
    rows = {"rsft": len(out.rsft), "da": len(out.da), "prm": len(out.prm), "turns": len(turns)}
    return ShardResult(out.stats, out.selection, rows, c1 - c0, c2 - c1, c3 - c2)


def run(paths: list[Path]) -> tuple[list[ShardResult], float, float]:
    """Process every shard; returns (results, wall seconds, CPU seconds)."""
    config = ExtractConfig(prm_splitter="line")
    c0, t0 = time.process_time(), time.perf_counter()
    results = [process_shard(path, config) for path in paths]
    return results, time.perf_counter() - t0, time.process_time() - c0


def report(results: list[ShardResult], wall: float, cpu: float, args: argparse.Namespace) -> None:
    stats, selection = (
        sum((r.stats for r in results), TrajectoryStats()),
        sum((r.selection for r in results), SelectionStats()),
    )
    rows = {k: sum(r.rows[k] for r in results) for k in results[0].rows}
    phase = {k: sum(getattr(r, f"{k}_s") for r in results) for k in ("read", "label", "extract")}
    n, rate = stats.trajectories, stats.trajectories / wall
    print(
        f"log: {stats.questions} questions, {n} trajectories, {rows['turns']} turns; "
        f"kept {stats.kept}, dropped {stats.dropped}, corrective {stats.corrective}"
    )
    print(
        f"sets: rsft {rows['rsft']}, da {rows['da']} (k avg {rows['da'] / max(selection.questions, 1):.2f}), "
        f"prm {rows['prm']} traces"
    )
    print(f"load average before {args.load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"wall: {wall:.2f} s -> {rate:,.0f} trajectories/s (goal >= 20,000)")
    print(
        f"CPU: {cpu:.2f} s -> {n / cpu:,.0f} trajectories/s per core; per phase (CPU): read {phase['read']:.2f} s, labeling {phase['label']:.2f} s ({n / phase['label']:,.0f}/s), "
        f"extraction {phase['extract']:.2f} s ({n / phase['extract']:,.0f}/s)"
    )
    print(
        f"2M trajectories at this wall rate: {PAPER_TRAJECTORIES / rate / 60:.1f} min (shards are independent)"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {own:,.0f} MB (goal <= 2,048 MB; shards of {args.shard_questions} questions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shard-questions", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_extraction_") as tmp:
        paths = write_shards(Path(tmp), args)
        args.load_before = os.getloadavg()[0]
        results, wall, cpu = run(paths)
    report(results, wall, cpu, args)


if __name__ == "__main__":
    main()
