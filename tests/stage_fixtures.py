"""Small real stages for platform tests: deterministic shards, countable bodies.

``count`` makes ``n_shards`` shards of questions-shaped rows and appends each computed
shard index to ``log_path`` (so tests can count which bodies ran); ``upper`` reads
``count`` and upper-cases every query. Used in-process and from a killed subprocess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from tasks.runner import Stage, StageContext


@dataclass
class CountRecipe:
    name: str = "count-test"
    n_shards: int = 10
    rows_per_shard: int = 50
    sleep_s: float = 0.0
    log_path: str = ""
    fail_on_shard: int = -1


def plan(ctx: StageContext) -> int:
    return ctx.recipe.n_shards


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    recipe = ctx.recipe
    if recipe.log_path:
        with open(recipe.log_path, "a") as fh:
            fh.write(f"{ctx.stage.name}:{index}\n")
    if recipe.sleep_s:
        time.sleep(recipe.sleep_s)
    if index == recipe.fail_on_shard:
        return pd.DataFrame({"question_id": ["x"], "task_type": ["not-a-type"]})
    rows = [
        {
            "question_id": f"q{index:05d}-{j:05d}",
            "dataset": "count",
            "split": "train",
            "task_type": "math",
            "query": f"what is {index} + {j}?",
            "gt": str(index + j),
            "context": "",
            "choices": [],
            "gold_reasoning": f"Step 1: {index} + {j} = {index + j}",
        }
        for j in range(recipe.rows_per_shard)
    ]
    return pd.DataFrame(rows)


def upper_plan(ctx: StageContext) -> int:
    return ctx.store.read_manifest("count", ctx.inputs["count"].key)["n_shards"]


def upper_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    ref = ctx.inputs["count"]
    frame = ctx.store.read_shard(ref.stage, ref.key, index)
    if ctx.recipe.log_path:
        with open(ctx.recipe.log_path, "a") as fh:
            fh.write(f"upper:{index}\n")
    return frame.assign(query=frame["query"].str.upper())


# The log, sleep and failure knobs are test hooks: readable by the bodies, kept out of the keys.
HOOKS = ("log_path", "sleep_s", "fail_on_shard")
COUNT = Stage(name="count", version="1", schema="questions", reads=("n_shards", "rows_per_shard"),
              plan=plan, run_shard=run_shard, unkeyed=HOOKS)
UPPER = Stage(name="upper", version="1", schema="questions", reads=(), plan=upper_plan,
              run_shard=upper_shard, inputs=("count",), unkeyed=HOOKS)


def body_log(path) -> list[str]:
    try:
        return open(path).read().split()
    except FileNotFoundError:
        return []
