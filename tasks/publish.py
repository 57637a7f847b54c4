"""Prefect UI artifacts for a stage: row preview table, markdown summary, link to the Parquet URI.

Every artifact carries the artifact key so a user can go from the UI to
``agentark artifacts show KEY``.
"""

from __future__ import annotations

import json

import pandas as pd
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from tasks.runner import ArtifactRef
from tasks.store import ArtifactStore

PREVIEW_ROWS = 10
CELL_CHARS = 120


def prefect_key(ref: ArtifactRef) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{ref.stage.replace('_', '-')}-{ref.key}"


def preview_rows(store: ArtifactStore, ref: ArtifactRef, n: int = PREVIEW_ROWS) -> list[dict]:
    manifest = store.read_manifest(ref.stage, ref.key)
    if manifest["n_shards"] == 0:
        return []
    frame = store.read_shard(ref.stage, ref.key, 0).head(n)
    return [{k: _cell(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _cell(value) -> str | int | float | bool | None:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def summary_markdown(manifest: dict) -> str:
    lines = [
        f"## {manifest['stage']} `{manifest['key']}`",
        "",
        f"- URI: `{manifest['uri']}`",
        f"- schema: {manifest['schema']['name']} v{manifest['schema']['version']}",
        f"- rows: {manifest['rows']} in {manifest['n_shards']} shard(s)",
        f"- wall time: {manifest['timings']['wall_s']} s",
        "- inputs: " + (", ".join(f"{n} `{v['key']}`" for n, v in manifest["inputs"].items()) or "none"),
        f"- browse: `agentark artifacts show {manifest['key']}`",
    ]
    warnings = (manifest.get("metrics") or {}).get("warnings") or []
    lines[1:1] = [f"\n> **WARNING:** {w}" for w in warnings]  # first thing under the title
    if (manifest.get("metrics") or {}).get("loss_curve"):
        lines.append(f"- loss curve plot: `{manifest['uri']}/files/plots/loss_curve.png`")
    metrics = manifest.get("metrics") or {}
    if metrics:
        lines += ["", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {json.dumps(v, default=str) if not isinstance(v, (int, float, str)) else v} |"
                  for k, v in metrics.items() if k not in ("loss_curve", "rl_curves", "warnings")]
    return "\n".join(lines)


def publish_stage_artifacts(ref: ArtifactRef, store: ArtifactStore) -> None:
    manifest = store.read_manifest(ref.stage, ref.key)
    key = prefect_key(ref)
    rows = preview_rows(store, ref)
    if rows:
        create_table_artifact(key=key, table=pd.DataFrame(rows).to_dict(orient="list"),
                              description=f"{ref.stage} {ref.key}: first {len(rows)} rows")
    create_markdown_artifact(key=f"{key}-summary", markdown=summary_markdown(manifest),
                             description=f"{ref.stage} {ref.key} summary")
    create_link_artifact(key=f"{key}-uri", link=manifest["uri"], link_text=f"{ref.stage} {ref.key}",
                         description=f"{ref.stage} artifact location")
    curve = (manifest.get("metrics") or {}).get("loss_curve")
    if curve:
        create_table_artifact(key=f"{key}-loss", table={"step": [p[0] for p in curve], "loss": [p[1] for p in curve]},
                              description=f"{ref.stage} {ref.key} loss curve (plot: files/plots/loss_curve.png)")
    rl_curves = (manifest.get("metrics") or {}).get("rl_curves")
    if rl_curves:  # an RL route's per-step reward, KL, clip fraction, entropy, accuracies (rows of equal keys)
        create_table_artifact(key=f"{key}-rl", table=pd.DataFrame(rl_curves).to_dict(orient="list"),
                              description=f"{ref.stage} {ref.key} RL curves (drawn in the report)")
