"""The ``grid`` flow: the pipeline over a cartesian product of recipe fields, one combined report.

Paper §4 runs 120 experiments (teacher x student x method x train set x test set) plus agent
(5/10/20) and data-size sweeps. A grid cell is the base recipe plus one value per axis,
given as dotted recipe fields::

    grid("recipes/gsm8k.yaml", {"debate.n_agents": [5, 10, 20], "data.limit": [500, 2000]})

Each cell runs the ``pipeline`` flow as a subflow; stages shared between cells (same config
and inputs -> same content key) run once: a later or concurrent cell finds the artifact
committed, or waits on its lock, and reuses it. Cells run ``max_concurrency`` at a time; a
failing cell is recorded with its error and the others go on. The cells' ``eval_summary`` rows
(from the ``report`` stage, when the recipe runs it) are tagged with the cell's coordinates
and gathered into one report (``agentark_core.evaluate.report.write_report``).

A grid spec file (YAML)::

    grid:
      base: gsm8k.yaml          # relative to the spec file; omit for the demo recipe
      axes: {debate.n_agents: [5, 10, 20]}
      overrides: [store.root=/data/store]   # optional, applied to every cell
      max_concurrency: 2                     # optional
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from agentark_core.config_loader import ConfigError
from agentark_core.evaluate.report import OPTIONAL, REQUIRED, SETTINGS, write_report
from agentark_core.project_files import DEMO_RECIPE
from agentark_core.recipe import Recipe, load_recipe, recipe_source
from flows.pipeline import pipeline
from tasks.prefect_stage import store_for
from tasks.stages.routes import evaluable_routes
from tasks.validate import validate_recipe

log = logging.getLogger(__name__)

# Axes that already have a standard summary column (report.py); others become setting columns.
STANDARD_AXES = {"data.dataset": "train_set", "eval.data.dataset": "benchmark", "teacher.model": "teacher",
                 "student.model": "student", "debate.n_agents": "n_agents", "data.limit": "data_size"}
SPEC_KEYS = {"base", "axes", "overrides", "max_concurrency"}


def expand_axes(axes: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination of axis values, the first axis varying slowest.

    Raises:
        ConfigError: no axes, or an axis whose values are not a non-empty list.
    """
    if not isinstance(axes, dict) or not axes:
        raise ConfigError(f"grid axes must be a non-empty mapping of dotted recipe fields to lists, got {axes!r}")
    for name, values in axes.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"grid axis {name!r}: expected a non-empty list of values, got {values!r}")
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def cell_overrides(cell: dict[str, Any]) -> list[str]:
    """``a.b=value`` overrides of a cell (values as JSON, which the override parser reads as YAML)."""
    return [f"{name}={json.dumps(value)}" for name, value in cell.items()]


def cell_label(cell: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in cell.items())


def load_grid_spec(path: str | Path) -> dict[str, Any]:
    """Read a grid spec file: ``{"base", "axes", "overrides", "max_concurrency"}``.

    ``base`` is resolved against the spec file's folder. The axes are checked (``expand_axes``).

    Raises:
        ConfigError: the file has no ``grid`` mapping, or unknown / malformed keys.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid spec {path} not found")
    data = yaml.safe_load(path.read_text())
    spec = data.get("grid") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a top-level 'grid' mapping with 'axes' (and optional 'base')")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} under 'grid' (valid: {sorted(SPEC_KEYS)})")
    expand_axes(spec.get("axes"))
    base = spec.get("base")
    if base is not None:
        base = str((path.parent / base).resolve()) if not Path(base).is_absolute() else base
    overrides = spec.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"{path}: grid.overrides must be a list of 'a.b=value' strings, got {overrides!r}")
    return {"base": base, "axes": spec["axes"], "overrides": overrides,
            "max_concurrency": int(spec.get("max_concurrency", 2))}


def cell_summary(refs: dict[str, dict], recipe: Recipe, cell: dict[str, Any]) -> pd.DataFrame:
    """The cell's ``eval_summary`` rows tagged with its coordinates (empty when it evaluated nothing).

    ``route`` defaults to ``model`` (eval stages label rows with their route); ``train_set``,
    ``teacher``, ``student``, ``n_agents`` and ``data_size`` come from the cell's recipe (data size =
    the ingested question count when the cell ran ``ingest``).
    """
    store = store_for(recipe)
    frames = [store.read_frame(r["stage"], r["key"]) for r in refs.values() if r["schema"] == "eval_summary"]
    if not frames:
        return pd.DataFrame(columns=[*REQUIRED, *OPTIONAL])
    frame = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["benchmark", "model", "protocol", "metric"])
    tags = {"route": frame["model"], "train_set": recipe.data.dataset, "teacher": recipe.teacher.model,
            "student": recipe.student.model, "n_agents": recipe.debate.n_agents,
            "data_size": refs["ingest"]["rows"] if "ingest" in refs else recipe.data.limit}
    for column, value in tags.items():
        if column not in frame.columns or frame[column].isna().all():
            frame[column] = value
    for name, value in cell.items():
        if name not in STANDARD_AXES:
            frame[name] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return frame.assign(cell=cell_label(cell))


@task(name="grid-cell", task_run_name="cell-{cell}")
def run_cell(base_recipe: str | None, overrides: list[str], cell: dict[str, Any]) -> dict[str, Any]:
    """Run one cell's pipeline; a failure is returned as ``status="failed"`` with its error."""
    cell_set = overrides + cell_overrides(cell)
    result: dict[str, Any] = {"cell": cell, "label": cell_label(cell), "overrides": cell_set}
    try:
        refs = pipeline(recipe=base_recipe, overrides=cell_set)
        summary = cell_summary(refs, load_recipe(base_recipe, cell_set), cell)
    except Exception as exc:  # noqa: BLE001 - a cell's failure must not stop the grid
        log.warning("grid cell %s failed: %s: %s", result["label"], type(exc).__name__, exc)
        return {**result, "status": "failed", "error": f"{type(exc).__name__}: {exc}", "refs": {}, "summary": []}
    log.info("grid cell %s: %d stage(s), %d summary row(s)", result["label"], len(refs), len(summary))
    return {**result, "status": "completed", "error": None, "refs": refs,
            "summary": summary.astype(object).where(summary.notna(), None).to_dict(orient="records")}


def cells_table(results: list[dict]) -> pd.DataFrame:
    """One row per cell: coordinates, status, computed vs reused stages, error."""
    return pd.DataFrame([
        {"cell": r["label"], "status": r["status"],
         "computed": ", ".join(s for s, ref in r["refs"].items() if not ref["reused"]) or "-",
         "reused": ", ".join(s for s, ref in r["refs"].items() if ref["reused"]) or "-",
         "error": (r["error"] or "")[:200]}
        for r in results
    ]).set_index("cell")


def _grid_key(base_recipe: str | None, overrides: list[str], results: list[dict]) -> str:
    payload = [base_recipe, overrides, [[r["label"], r["status"], {s: v["key"] for s, v in r["refs"].items()}]
                                        for r in results]]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_grid_report(results: list[dict], axes: dict[str, list], base_recipe: str | None,
                      overrides: list[str], out_dir: str | None) -> str:
    """The combined report: into ``out_dir``, else into the store under ``grid/{key}/files/report``."""
    frames = [pd.DataFrame(r["summary"]) for r in results if r["summary"]]
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*REQUIRED, *OPTIONAL])
    settings = [*SETTINGS, *(a for a in axes if a not in STANDARD_AXES)]
    title = f"AgentArk grid: {base_recipe or 'demo recipe'} over {', '.join(axes)}"
    sections = {"Cells": cells_table(results)}
    if out_dir is not None:
        return str(write_report(summary, out_dir, title, sections, settings, evaluable_routes())["markdown"])
    store = store_for(load_recipe(base_recipe, overrides))
    key = _grid_key(base_recipe, overrides, results)
    with tempfile.TemporaryDirectory(prefix="agentark-grid-") as tmp:
        write_report(summary, tmp, title, sections, settings, evaluable_routes())
        uri = store.put_dir(tmp, "grid", key, "report")
    return f"{uri}/report.md"


@flow(name="grid", flow_run_name="grid-{base_recipe}")
def grid(base_recipe: str | None = None, axes: dict[str, list] | None = None, max_concurrency: int = 2,
         overrides: list[str] | None = None, out_dir: str | None = None) -> dict[str, Any]:
    """Run the pipeline for every cell of ``axes`` and write one combined report.

    Args:
        base_recipe: recipe YAML every cell starts from (None = the demo recipe).
        axes: ``{dotted recipe field: [values]}``; cells are their cartesian product.
        max_concurrency: cells running at once (Prefect tasks, each running the pipeline as a subflow).
        overrides: ``a.b=value`` overrides applied to every cell (before the axis values).
        out_dir: local folder for the report; default: the artifact store (``grid/{key}``).

    Returns:
        ``{"cells": [{cell, label, overrides, status, error, refs, summary rows}], "report": path or URI,
        "failed": n}``.

    Raises:
        ConfigError: bad axes, or a cell whose recipe does not validate (checked before any cell runs).
    """
    if max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
    base_recipe = str(DEMO_RECIPE) if base_recipe is None else base_recipe
    overrides = list(overrides or [])
    cells = expand_axes(axes)
    for cell in cells:  # every cell's whole recipe must check out before any work starts
        cell_set = overrides + cell_overrides(cell)
        try:
            validate_recipe(load_recipe(base_recipe, cell_set), recipe_source(base_recipe, cell_set))
        except ConfigError as exc:
            raise ConfigError(f"grid cell {cell_label(cell)}: {exc}") from exc
    log.info("grid: %d cell(s), %d at a time", len(cells), max_concurrency)
    with ThreadPoolTaskRunner(max_workers=max_concurrency) as runner:
        futures = [runner.submit(run_cell, {"base_recipe": base_recipe, "overrides": overrides, "cell": cell})
                   for cell in cells]
        results = [f.result() for f in futures]
    report = write_grid_report(results, axes, base_recipe, overrides, out_dir)
    failed = sum(r["status"] == "failed" for r in results)
    log.info("grid: %d cell(s) completed, %d failed; report %s", len(results) - failed, failed, report)
    return {"cells": results, "report": report, "failed": failed}
