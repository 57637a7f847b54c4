"""Stages ``teacher`` and ``student``: resolve a recipe's model into a ``checkpoints`` artifact.

Every model the pipeline uses downstream is a checkpoint artifact, whether it is an external
hub id / local folder (the row points at it; the key follows the folder's content), or a toy
world model (``toy:teacher`` / ``toy:student``, trained by the ``toy_models`` stage).
"""

from __future__ import annotations

import json

import pandas as pd

from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.checkpoints import COLUMNS, toy_role


def model_stage(role: str) -> Stage:
    """The stage resolving ``recipe.<role>.model`` (teacher or student)."""

    def model_name(recipe) -> str:
        model = getattr(recipe, role).model
        if not model:
            raise ValueError(f"recipe field {role}.model is empty: name a hub id, a local model folder "
                             f"or toy:{role}")
        return model

    def inputs(recipe) -> tuple[str, ...]:
        return ("toy_models",) if toy_role(getattr(recipe, role).model) else ()

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        model = model_name(ctx.recipe)
        wanted = toy_role(model)
        if wanted:
            frame = ctx.input_frame("toy_models")
            return frame[frame["route"] == f"toy-{wanted}"].assign(route="base").reset_index(drop=True)
        row = {"route": "base", "base_model": model, "path": model, "kind": "causal_lm", "metrics_json": json.dumps({})}
        return pd.DataFrame([row], columns=COLUMNS)

    return add(Stage(
        name=role,
        version="1",
        schema="checkpoints",
        reads=(f"{role}.model",),
        inputs=inputs,
        plan=lambda ctx: 1,
        run_shard=run_shard,
        fingerprint=lambda recipe: fingerprint(getattr(recipe, role).model),
    ))


TEACHER = model_stage("teacher")
STUDENT = model_stage("student")
