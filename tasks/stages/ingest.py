"""Stages ``ingest`` (training questions, ``recipe.data``) and ``ingest_eval`` (held-out questions,
``recipe.eval.data``): a dataset (hub id, local file or the toy generator) -> ``questions``."""

from __future__ import annotations

import logging
import math

import pandas as pd

from agentark_core.config_loader import select
from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add

log = logging.getLogger(__name__)
COLUMNS = ["question_id", "dataset", "split", "task_type", "query", "gt", "context", "choices", "gold_reasoning"]
FIELDS = ("dataset", "source", "split", "limit", "seed", "shard_size", "options")


def ingest_stage(name: str, section: str) -> Stage:
    """The ingest stage reading the recipe's ``section`` (a ``DataSection``)."""

    def load(ctx: StageContext) -> list[dict]:
        if "rows" not in ctx.scratch:
            from agentark_core.data import load_questions

            data = select(ctx.recipe, section)
            questions = load_questions(data.dataset, source=data.source, split=data.split, limit=data.limit,
                                       seed=data.seed, **data.options)
            rows, seen = [], set()
            for q in questions:
                if q.question_id not in seen:
                    seen.add(q.question_id)
                    rows.append(q.to_row())
            if len(rows) < len(questions):
                log.info("%s: dropped %d duplicate questions", name, len(questions) - len(rows))
            if not rows:
                raise ValueError(f"{section}: dataset {data.dataset!r} (source {data.source!r}, "
                                 f"split {data.split!r}) is empty")
            ctx.scratch["rows"] = rows
        return ctx.scratch["rows"]

    def plan(ctx: StageContext) -> int:
        return math.ceil(len(load(ctx)) / select(ctx.recipe, section).shard_size)

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        size = select(ctx.recipe, section).shard_size
        return pd.DataFrame(load(ctx)[index * size:(index + 1) * size], columns=COLUMNS)

    def summarize(ctx: StageContext) -> dict:
        rows = load(ctx)
        counts = pd.Series([r["task_type"] for r in rows]).value_counts().to_dict()
        return {"questions": len(rows), "task_types": counts}

    return add(Stage(
        name=name, version="1", schema="questions", reads=tuple(f"{section}.{f}" for f in FIELDS),
        plan=plan, run_shard=run_shard, code=("agentark_core.data",), summarize=summarize,
        fingerprint=lambda recipe: fingerprint(select(recipe, section).source),
    ))


INGEST = ingest_stage("ingest", "data")
INGEST_EVAL = ingest_stage("ingest_eval", "eval.data")
