"""Helpers shared by stage bodies: rows <-> core records, model checkpoints, cached generators."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from agentark_core.data.question import Question
from tasks.runner import StageContext

CACHE_DIR = Path(os.environ.get("AGENTARK_CACHE", Path.home() / ".cache" / "agentark"))


def questions_from_frame(frame: pd.DataFrame) -> list[Question]:
    """``questions`` rows -> Question records (ids kept as stored)."""
    return [
        Question(dataset=r.dataset, split=r.split, task_type=r.task_type, query=r.query, gt=r.gt,
                 context=r.context, choices=tuple(r.choices), gold_reasoning=r.gold_reasoning,
                 question_id=r.question_id)
        for r in frame.itertuples(index=False)
    ]


def checkpoint_row(ctx: StageContext, input_name: str) -> dict:
    """The single row of a ``checkpoints`` input artifact."""
    frame = ctx.input_frame(input_name)
    if len(frame) != 1:
        raise ValueError(f"checkpoint artifact {ctx.inputs[input_name].key} has {len(frame)} rows, expected 1")
    return frame.iloc[0].to_dict()


def model_location(ctx: StageContext, input_name: str) -> str:
    """Where to ``from_pretrained`` a checkpoint input: a stored folder (downloaded if remote) or
    the external hub id / path the checkpoint row names."""
    row = checkpoint_row(ctx, input_name)
    ref = ctx.inputs[input_name]
    if row["path"].startswith("files/"):
        return ctx.store.local_dir(ref.stage, ref.key, row["path"][len("files/"):], CACHE_DIR / "artifacts")
    return row["path"]


def generator_for(ctx: StageContext, input_name: str, backend: str, options: dict[str, Any]):
    """One generator per (model, backend) per process, so shards reuse the loaded model."""
    from agentark_core.llm import make_generator

    location = model_location(ctx, input_name)
    cache_key = ("generator", location, backend, json.dumps(options, sort_keys=True))
    if cache_key not in _GENERATORS:
        _GENERATORS.clear()  # one model resident at a time
        model_option = "model"
        _GENERATORS[cache_key] = make_generator(backend, **{model_option: location, **options})
    return _GENERATORS[cache_key]


_GENERATORS: dict[tuple, Any] = {}


def frame_of(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` even when ``rows`` is empty."""
    return pd.DataFrame(rows, columns=columns)
