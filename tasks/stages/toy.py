"""Stage ``toy_models``: the toy world's teacher and student, trained from scratch on the CPU by the
project's own SFT code (``agentark_core.toy.bootstrap``) -> a two-row ``checkpoints`` artifact.

Recipes use them as ``teacher.model: toy:teacher`` and ``student.model: toy:student``.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pandas as pd

from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.checkpoints import COLUMNS, TOY_ROLES, stored_path


def bootstrap_config(recipe):
    """The recipe's ``toy`` section as a ``ToyBootstrapConfig`` (preset + overrides)."""
    from agentark_core.toy.bootstrap import ToyBootstrapConfig
    from agentark_core.toy.problems import ToyConfig

    section = recipe.toy
    config = ToyBootstrapConfig.preset(section.preset)
    changes: dict = {"seed": section.seed}
    for role in TOY_ROLES:
        overrides = getattr(section, role)
        if overrides:
            try:
                changes[role] = dataclasses.replace(getattr(config, role), **overrides)
            except TypeError as exc:
                raise ValueError(f"toy.{role}: {exc}") from None
    if section.train_problems is not None:
        changes["train_problems"] = section.train_problems
    if section.difficulty:
        changes["toy"] = ToyConfig.from_options(**section.difficulty)
    return dataclasses.replace(config, **changes)


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.toy.bootstrap import bootstrap_toy_models

    with tempfile.TemporaryDirectory(prefix="agentark-toy-") as tmp:
        result = bootstrap_toy_models(tmp, bootstrap_config(ctx.recipe))
        rows = []
        for role in TOY_ROLES:
            ctx.store.put_dir(Path(result[role]), ctx.stage.name, ctx.key, role)
            metrics = {k: result.get(k) for k in (f"{role}_metrics", "runtime_s", "examples")}
            rows.append({"route": f"toy-{role}", "base_model": "random-init", "kind": "causal_lm",
                         "path": stored_path(ctx.stage.name, ctx.key, role),
                         "metrics_json": json.dumps(metrics, default=str)})
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize(ctx: StageContext) -> dict:
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    out = {}
    for row in frame.itertuples(index=False):
        role = row.route.removeprefix("toy-")
        metrics = json.loads(row.metrics_json).get(f"{role}_metrics") or {}
        out[f"{role}_train_loss"] = metrics.get("train_loss")
        out[f"{role}_steps"] = metrics.get("global_step")
    return out


TOY_MODELS = add(Stage(name="toy_models", version="1", schema="checkpoints", reads=("toy",),
                       plan=lambda ctx: 1, run_shard=run_shard, code=("agentark_core.toy", "agentark_core.train"),
                       summarize=summarize, pool="gpu"))
