"""Helpers shared by stage bodies: rows <-> core records, model checkpoints, cached generators."""

from __future__ import annotations

import json
import os
import threading
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


def generator_for(ctx: StageContext, input_name: str, backend: str, options: dict[str, Any]):
    """One generator per (model, backend, options) per process, so shards reuse the loaded model
    (a vLLM engine start costs a minute; a debate round on it seconds).

    One model is resident at a time: a different key closes the cached generator (``close()``, where it
    has one: a vLLM engine holds its GPU memory until its engine process stops) before building the new one.
    """
    from agentark_core.llm import make_generator
    from tasks.stages.checkpoints import model_location

    location = model_location(ctx, input_name)
    cache_key = ("generator", location, backend, json.dumps(options, sort_keys=True))
    with _GENERATORS_LOCK:  # grid cells may run stages in threads of one process
        if cache_key not in _GENERATORS:
            for old in _GENERATORS.values():
                getattr(old, "close", lambda: None)()
            _GENERATORS.clear()
            _GENERATORS[cache_key] = make_generator(backend, model=location, **options)
        return _GENERATORS[cache_key]


_GENERATORS: dict[tuple, Any] = {}
_GENERATORS_LOCK = threading.Lock()


def frame_of(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` even when ``rows`` is empty."""
    return pd.DataFrame(rows, columns=columns)
