"""Checkpoint artifacts: trained model folders stored in the artifact store, and where to load them.

A ``checkpoints`` row's ``path`` is either ``artifact://{stage}/{key}/{name}`` (a folder kept
under that artifact's ``files/``) or an external hub id / local folder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from tasks.runner import StageContext
from tasks.stages.common import CACHE_DIR

COLUMNS = ["route", "base_model", "path", "kind", "metrics_json"]
SCHEME = "artifact://"
TOY_PREFIX = "toy:"
TOY_ROLES = ("teacher", "student")


def toy_role(model: str) -> str | None:
    """``"toy:teacher"`` -> ``"teacher"``; None for any other model name.

    Here, not in the toy stage's module, so that resolving a model name does not import the toy
    bootstrap (and with it the training code) into the model stages' code digests.
    """
    if not model.startswith(TOY_PREFIX):
        return None
    role = model[len(TOY_PREFIX):]
    if role not in TOY_ROLES:
        raise ValueError(f"unknown toy model {model!r}; valid: {[TOY_PREFIX + r for r in TOY_ROLES]}")
    return role


def stored_path(stage: str, key: str, name: str) -> str:
    return f"{SCHEME}{stage}/{key}/{name}"


def local_model_dir(ctx: StageContext, path: str) -> str:
    """A local folder for ``from_pretrained``: stored checkpoints are fetched (cached) if remote."""
    if not path.startswith(SCHEME):
        return path
    stage, key, name = path[len(SCHEME):].split("/", 2)
    return ctx.store.local_dir(stage, key, name, CACHE_DIR / "artifacts")


def checkpoint_row(ctx: StageContext, input_name: str) -> dict:
    """The single row of a ``checkpoints`` input artifact (or the row whose route is ``input_name``)."""
    frame = ctx.input_frame(input_name)
    if len(frame) != 1:
        raise ValueError(f"checkpoint artifact {ctx.inputs[input_name].key} has {len(frame)} rows, expected 1")
    return frame.iloc[0].to_dict()


def checkpoint_identity(ctx: StageContext, input_name: str) -> str:
    """A checkpoint input's content identity, whichever stage made it: a stored model's path names
    its content-keyed artifact; a local folder adds its content's fingerprint; a hub id is its name."""
    from tasks.fingerprint import fingerprint

    path = checkpoint_row(ctx, input_name)["path"]
    return path if path.startswith(SCHEME) else f"{path}@{fingerprint(path)}"


def model_location(ctx: StageContext, input_name: str) -> str:
    """Where to ``from_pretrained`` the model of a checkpoint input."""
    return local_model_dir(ctx, checkpoint_row(ctx, input_name)["path"])


def store_trained(ctx: StageContext, train_fn, route: str, base_model: str, kind: str = "causal_lm",
                  name: str = "model") -> pd.DataFrame:
    """Run ``train_fn(output_dir) -> metrics`` in a scratch folder, upload the folder into this
    artifact's files and return the checkpoint row pointing at it.

    Resident generators are released first: training needs the whole accelerator, and a vLLM engine
    left from the debate or an evaluation holds most of its memory."""
    from agentark_core.evaluate.plots import loss_curve
    from agentark_core.llm.cache import release_generators

    release_generators()
    with tempfile.TemporaryDirectory(prefix=f"agentark-{ctx.stage.name}-") as tmp:
        out = Path(tmp) / name
        metrics = train_fn(str(out))
        ctx.store.put_dir(out, ctx.stage.name, ctx.key, name)
        if loss_curve(metrics.get("loss_curve") or [], Path(tmp) / "plots" / "loss_curve.png", f"{ctx.stage.name} loss"):
            ctx.store.put_dir(Path(tmp) / "plots", ctx.stage.name, ctx.key, "plots")
    row = {"route": route, "base_model": base_model, "path": stored_path(ctx.stage.name, ctx.key, name),
           "kind": kind, "metrics_json": json.dumps(metrics, default=str)}
    return pd.DataFrame([row], columns=COLUMNS)
