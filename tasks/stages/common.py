"""Helpers shared by stage bodies: rows <-> core records, model checkpoints, cached generators."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from agentark_core.data.question import Question
from tasks.runner import StageContext

log = logging.getLogger(__name__)
SHARD_SEED_STRIDE = 1_000_003  # a prime: (seed, shard) pairs map to distinct seeds for < 1M shards
TRUNCATED_WARN_FRACTION = 0.05  # more cut-off replies than this in a stage is a loud warning
CACHE_DIR = Path(os.environ.get("AGENTARK_CACHE", Path.home() / ".cache" / "agentark"))


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard`` of a run with base ``seed``: shards are independent of the
    order (and the process) they run in, and a rerun reproduces each one."""
    return seed * SHARD_SEED_STRIDE + shard


def cached_input(ctx: StageContext, name: str) -> pd.DataFrame:
    """Input artifact ``name`` (e.g. the questions), read and validated once per run: every shard
    and the summary of the run share the frame."""
    if name not in ctx.scratch:
        ctx.scratch[name] = ctx.input_frame(name)
    return ctx.scratch[name]


def questions_from_frame(frame: pd.DataFrame) -> list[Question]:
    """``questions`` rows -> Question records (ids kept as stored)."""
    return [
        Question(dataset=r.dataset, split=r.split, task_type=r.task_type, query=r.query, gt=r.gt,
                 context=r.context, choices=tuple(r.choices), gold_reasoning=r.gold_reasoning,
                 question_id=r.question_id)
        for r in frame.itertuples(index=False)
    ]


def generator_for(ctx: StageContext, input_name: str, backend: str, options: dict[str, Any]):
    """The process-wide generator of checkpoint input ``input_name`` (``agentark_core.llm.cache``), so
    shards and every stage running the same model, backend and options reuse one loaded model (a vLLM
    engine start costs a minute; a debate round on it seconds). Building another releases what no
    longer fits on the accelerator first (a vLLM engine holds its GPU memory until closed)."""
    from tasks.stages.checkpoints import model_location

    return model_generator(backend, model_location(ctx, input_name), options)


def model_generator(backend: str, model: str, options: dict[str, Any]):
    """The process-wide generator of ``model`` (a hub id or local folder) on ``backend`` with ``options``:
    what the LLM verifier and the judges use, so a judge that is the teacher shares its engine."""
    from agentark_core.llm.cache import shared_generator

    return shared_generator(backend, model=model, **options)


def frame_of(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` even when ``rows`` is empty."""
    return pd.DataFrame(rows, columns=columns)


def loud(stage: str, messages: list[str]) -> dict:
    """``{"warnings": messages}`` for a stage summary (shown first in its Prefect summary), each logged
    at WARNING; ``{}`` when there is nothing to warn about."""
    for message in messages:
        log.warning("%s: %s", stage, message)
    return {"warnings": messages} if messages else {}


def merge_warnings(summary: dict, extra: dict) -> dict:
    """``summary`` updated with ``extra``, their ``warnings`` lists joined."""
    joined = summary.get("warnings", []) + extra.get("warnings", [])
    return summary | extra | ({"warnings": joined} if joined else {})


def rate(name: str, hits: pd.Series) -> dict:
    """An accuracy-like rate with the n behind it and its 95% Wilson interval, for a stage summary:
    ``{name: rate, name_n: n, name_ci95: [low, high]}`` (rate and interval None when n is 0)."""
    from agentark_core.evaluate.stats import wilson_interval

    n, k = len(hits), int(hits.astype(bool).sum())
    if not n:
        return {name: None, f"{name}_n": 0, f"{name}_ci95": None}
    return {name: round(k / n, 4), f"{name}_n": n, f"{name}_ci95": [round(x, 4) for x in wilson_interval(k, n)]}


def truncation_summary(stage: str, rows: pd.DataFrame) -> dict:
    """How many model replies were cut off at ``max_tokens`` (``finish_reason == "length"``), with a loud
    warning above ``TRUNCATED_WARN_FRACTION``: such replies are labelled truncated and never trained on."""
    n = len(rows)
    cut = int((rows["finish_reason"] == "length").sum()) if n else 0
    out = {"truncated_replies": cut, "truncated_fraction": round(cut / n, 4) if n else 0.0}
    if n and cut / n > TRUNCATED_WARN_FRACTION:
        message = (f"{cut} of {n} replies ({cut / n:.0%}) hit max_tokens and were cut off: "
                   "raise max_tokens (a reasoning model needs thousands) or turn thinking off")
        out |= loud(stage, [message])
    return out
