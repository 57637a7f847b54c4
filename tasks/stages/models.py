"""Stages ``teacher`` and ``student``: resolve a recipe's model into a ``checkpoints`` artifact.

Every model the pipeline uses downstream is a checkpoint artifact, whether it is an external
hub id / local folder (the row points at it; the key follows the folder's content) or a model
the pipeline trains itself (the toy world's bootstrap, the distillation routes).
"""

from __future__ import annotations

import json

import pandas as pd

from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add

COLUMNS = ["route", "base_model", "path", "kind", "metrics_json"]


def external_checkpoint(model: str, route: str) -> pd.DataFrame:
    return pd.DataFrame([{"route": route, "base_model": model, "path": model, "kind": "causal_lm",
                          "metrics_json": json.dumps({})}], columns=COLUMNS)


def model_stage(role: str) -> Stage:
    """The stage resolving ``recipe.<role>.model`` (teacher or student)."""

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        model = getattr(ctx.recipe, role).model
        if not model:
            raise ValueError(f"recipe field {role}.model is empty: name a hub id or a local model folder")
        return external_checkpoint(model, route="base")

    return add(Stage(
        name=role,
        version="1",
        schema="checkpoints",
        reads=(f"{role}.model",),
        plan=lambda ctx: 1,
        run_shard=run_shard,
        fingerprint=lambda recipe: fingerprint(getattr(recipe, role).model),
    ))


TEACHER = model_stage("teacher")
STUDENT = model_stage("student")
