"""Stage ``ingest``: a dataset (hub id or local file, or the toy generator) -> ``questions``."""

from __future__ import annotations

import logging
import math

import pandas as pd

from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add

log = logging.getLogger(__name__)
COLUMNS = ["question_id", "dataset", "split", "task_type", "query", "gt", "context", "choices", "gold_reasoning"]


def _load(ctx: StageContext) -> list[dict]:
    if "rows" not in ctx.scratch:
        from agentark_core.data import load_questions

        data = ctx.recipe.data
        questions = load_questions(data.dataset, source=data.source, split=data.split, limit=data.limit,
                                   seed=data.seed, **data.options)
        rows, seen = [], set()
        for q in questions:
            if q.question_id not in seen:
                seen.add(q.question_id)
                rows.append(q.to_row())
        if len(rows) < len(questions):
            log.info("ingest: dropped %d duplicate questions", len(questions) - len(rows))
        if not rows:
            raise ValueError(f"dataset {data.dataset!r} (source {data.source!r}, split {data.split!r}) is empty")
        ctx.scratch["rows"] = rows
    return ctx.scratch["rows"]


def plan(ctx: StageContext) -> int:
    return math.ceil(len(_load(ctx)) / ctx.recipe.data.shard_size)


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    size = ctx.recipe.data.shard_size
    rows = _load(ctx)[index * size:(index + 1) * size]
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize(ctx: StageContext) -> dict:
    rows = _load(ctx)
    counts = pd.Series([r["task_type"] for r in rows]).value_counts().to_dict()
    return {"questions": len(rows), "task_types": counts}


INGEST = add(Stage(
    name="ingest",
    version="1",
    schema="questions",
    reads=("data.dataset", "data.source", "data.split", "data.limit", "data.seed", "data.shard_size",
           "data.options"),
    plan=plan,
    run_shard=run_shard,
    code=("agentark_core.data",),
    summarize=summarize,
    fingerprint=lambda recipe: fingerprint(recipe.data.source),
))
