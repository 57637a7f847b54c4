"""The bill before the GPUs start: ``agentark plan RECIPE|GRID`` (``tasks/plan.py`` plans one recipe).

A file with a top-level ``grid`` mapping is a grid spec (``flows/grid.py``): every cell is planned
and a stage shared by cells (same content key) is counted once in the totals, as the grid runs it
once. The printed table gives, per stage in dependency level order: whether it is committed, the
tokens it generates and trains on, GPUs, GPU-hours, peak memory per GPU, and the measurement its
estimate scales; then the assumptions and the totals of what is still to run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from agentark_core.config_loader import ConfigError
from agentark_core.plan.workload import Assumptions
from agentark_core.recipe import load_recipe, recipe_source
from flows.grid import cell_label, cell_overrides, expand_axes, load_grid_spec
from tasks.plan import plan_recipe, totals


def is_grid_spec(path: str | Path) -> bool:
    """Whether ``path`` is a grid spec (a top-level ``grid`` key) rather than a recipe."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False  # load_recipe names the problem
    return isinstance(data, dict) and "grid" in data


def plan_file(path: str, overrides: list[str], assume: Assumptions, gpu: str) -> dict:
    """The plan of a recipe (with ``--set`` overrides) or of a grid spec (overrides apply to every cell)."""
    if is_grid_spec(path):
        spec = load_grid_spec(path)
        spec["overrides"] = [*spec["overrides"], *overrides]
        return plan_grid(spec, assume, gpu)
    return plan_recipe(load_recipe(path, overrides), recipe_source(path, overrides), assume, gpu)


def plan_grid(spec: dict, assume: Assumptions | None = None, gpu: str = "H100") -> dict:
    """Plan every cell of a loaded grid spec; the totals count each distinct (stage, key) once.

    Raises:
        ConfigError: a cell that does not validate, naming the cell.
    """
    assume = assume or Assumptions()
    cells, seen, distinct = [], set(), []
    for cell in expand_axes(spec["axes"]):
        overrides = [*spec["overrides"], *cell_overrides(cell)]
        try:
            plan = plan_recipe(load_recipe(spec["base"], overrides), recipe_source(spec["base"], overrides),
                               assume, gpu)
        except ConfigError as exc:
            raise ConfigError(f"grid cell {cell_label(cell)}: {exc}") from exc
        new = [row for row in plan["stages"] if (row["stage"], row["key"]) not in seen]
        seen.update((row["stage"], row["key"]) for row in new)
        distinct += new
        cells.append({"cell": cell_label(cell), **plan, "new": totals(new)})  # what no earlier cell runs
    return {"grid": spec["base"], "gpu": gpu, "assumptions": dataclasses.asdict(assume), "cells": cells,
            "totals": {**totals(distinct), "cells": len(cells), "distinct_stages": len(distinct)}}


# Words of the notes that say a stage will not run as planned (memory, context length).
MISFIT = ("peak exceeds", "does not fit", "max_model_len")


def _count(n: int) -> str:
    return "-" if not n else f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n:,}"


def render_plan(plan: dict[str, Any], console: Console) -> None:
    """Print a recipe plan's stages, or a grid plan's cells, then the assumptions and totals."""
    if "cells" in plan:
        _render_cells(plan, console)
    else:
        _render_stages(plan, plan["gpu"], console)
    _render_totals(plan, console)


def _render_cells(plan: dict[str, Any], console: Console) -> None:
    """One row per grid cell: the stages it adds to the grid (not shared with an earlier cell) and their bill."""
    table = Table(title=f"grid {plan['grid']}: {len(plan['cells'])} cell(s), on {plan['gpu']} "
                        "(each row: the stages no earlier cell runs)")
    for col in ("cell", "new stages", "generate tok", "train tok", "GPU-h", "peak GiB/GPU", "not estimated",
                "does not fit (see the cell's plan)"):
        table.add_column(col, overflow="fold")
    for cell in plan["cells"]:
        new = cell["new"]
        misfits = [row["stage"] for row in cell["stages"] if any(word in note for note in row["notes"] for word in MISFIT)]
        table.add_row(cell["cell"], str(new["to_run"]), _count(new["generated_tokens"]), _count(new["trained_tokens"]),
                      f"{new['gpu_hours']:.2f}", f"{new['peak_gib_per_gpu']:.1f}", ", ".join(new["not_estimated"]),
                      ", ".join(misfits))
    console.print(table)


def _render_stages(cell: dict[str, Any], gpu: str, console: Console) -> None:
    """The stage table of one recipe, by dependency level."""
    title = f"{cell['recipe']} ({cell['source']}): stages by dependency level, on {gpu}"
    table = Table(title=title)
    cpu = any(row.get("cpu_seconds") for row in cell["stages"])  # a toy-world recipe: CPU seconds, no GPU
    columns = ("lvl", "stage", "after", "status", "generate tok", "train tok",
               *(("CPU s",) if cpu else ("GPUs", "GPU-h", "peak GiB/GPU")), "basis / notes")
    for col in columns:
        table.add_column(col, overflow="fold", max_width={"basis / notes": 60, "after": 24}.get(col))
    for row in sorted(cell["stages"], key=lambda r: r["level"]):
        status = "committed" if row["committed"] else row["work"]
        bill = (f"{row['cpu_seconds']:.1f}",) if cpu else (
            str(row["gpus"] or "-"), f"{row['gpu_hours']:.2f}" if row["gpu_hours"] else "-",
            f"{row['peak_gib_per_gpu']:.1f}" if row["peak_gib_per_gpu"] else "-")
        table.add_row(str(row["level"]), row["stage"], ", ".join(row["inputs"]), status, _count(row["generated_tokens"]),
                      _count(row["trained_tokens"]), *bill, "; ".join([row["basis"], *row["notes"]]).strip("; "))
    console.print(table)


def _render_totals(plan: dict[str, Any], console: Console) -> None:
    total = plan["totals"]
    assumptions = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in plan["assumptions"].items())
    console.print(f"assumptions: {assumptions}")
    scope = f"{total['distinct_stages']} distinct stage(s) of {total['cells']} cell(s)" if "cells" in total else \
        f"{total['stages']} stage(s)"
    work = (f"to run: {total['to_run']} of {scope}; generate {_count(total['generated_tokens'])} tokens, "
            f"train on {_count(total['trained_tokens'])}")
    if total.get("cpu_seconds") and not total["gpu_hours"]:  # the toy world: CPU only
        console.print(f"{work}; {total['cpu_seconds']:.0f} s (~{total['cpu_seconds'] / 60:.1f} min) on this "
                      "machine's CPU cores, stages one at a time, at a quiet machine's rates (agentark_core/plan/cpu.py): "
                      "other jobs on the cores make it slower")
    else:
        console.print(f"{work}; {total['gpu_hours']:.2f} GPU-hours on {plan['gpu']} "
                      f"({total['wall_hours_one_at_a_time']:.1f} h wall, one stage at a time); "
                      f"peak {total['peak_gib_per_gpu']:.1f} GiB per GPU")
    if total["not_estimated"]:
        console.print(f"not estimated: {', '.join(total['not_estimated'])}")
