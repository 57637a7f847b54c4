"""Every distillation route over several toy bootstrap seeds: mean and spread (issue 19 item 4; paper §4.2, App. F).

``bench/bench_toy_world.py --seeds N`` runs the ``grid`` flow over ``toy.seed`` = 0..N-1 on the demo recipe
(or ``--recipe``), evaluating :data:`ROUTES` in every cell, and reads the cells' ``eval_summary`` rows:
per route the held-out accuracy's mean, standard deviation and range across seeds, in points. Each seed
bootstraps its own toy teacher and student, so the debate, the extracted sets, every route and the
evaluation all differ; cells run one at a time (they share the machine).

Two checks from the paper:

- PAD is the most stable route (§4.2): its spread (std over seeds) is the smallest of the distilled
  routes, or within 1 point of the smallest;
- a two-step combination is at least as good as its first step on average (App. F): RSFT→DA >= R-SFT
  and PAD→DA >= PAD.

Plumbing checked on the CPU (2 loaded cores, 2026-11-27): 2 seeds of a quick-preset recipe with the scripted
oracle teacher (the set-up of tests/integration/platform/test_routes_end_to_end.py) in 73 s; the quick
preset's students score 0 on every route, so that run checks the grid, the table and the checks only.
The demo-preset run over 3 seeds (CPU, 2 cores, 2026-11-28, session 13, 1,115 s; seed 0's cells reused from a
cold demo's store; held-out accuracy in %, mean / std / seeds 0, 1, 2):

    | base    | 33.8 / 5.2  | 34.4 27.2 39.8 |   | pad_prm | 40.6 / 5.0  | 43.0 33.6 45.2 |
    | rsft    | 41.6 / 9.3  | 51.2 29.0 44.6 |   | rsft_da | 43.3 / 10.0 | 51.0 29.2 49.8 |
    | da      | 37.9 / 8.0  | 44.0 26.6 43.0 |   | pad_da  | 42.5 / 8.1  | 49.2 31.0 47.2 |
    | pad     | 41.0 / 5.5  | 43.4 33.4 46.2 |   | mas     | 71.1 / 14.2 | 89.2 54.6 69.6 |
    | pad_vr  | 41.9 / 3.9  | 41.6 37.2 46.8 |   | teacher | 66.5 / 2.3  | 69.0 63.4 67.2 |

All three checks pass. PAD lifts the student on every seed and has the smallest spread of the distilled routes;
R-SFT and DA lift it only where the debate is good (seed 1's debate loses to one agent). PAD's GRPO trains the norm
gains at their own rate (recipes/demo.yaml) and what it learns is mostly a sharper policy
(bench/bench_pad_gain_lr.py). The session-12 run, whose GRPO did not move the student, had PAD 35.1 / 2.3 vs base
35.7 / 2.5. On a GPU, ``--seeds 1``, then 2, then 3 in separate calls reuse the seeds already committed to the store.
"""

from __future__ import annotations

import json
import logging

import pandas as pd

ROUTES = ["base", "rsft", "da", "pad", "pad_vr", "pad_prm", "rsft_da", "pad_da"]
DISTILLED = ("rsft", "da", "pad", "rsft_da", "pad_da")
COMBINATIONS = {"rsft_da": "rsft", "pad_da": "pad"}
SEED_AXIS = "toy.seed"

log = logging.getLogger(__name__)


def run_seed_grid(seeds: int, recipe: str | None, overrides: list[str], out_dir: str) -> pd.DataFrame:
    """Run the grid over ``toy.seed`` in ``range(seeds)``; every cell's ``eval_summary`` rows, with the seed
    column. A failed cell is logged and left out (its seed is missing from the table).

    Raises:
        RuntimeError: every cell failed.
    """
    from flows.cli import set_prefect_defaults

    set_prefect_defaults()
    from flows.grid import grid

    routes = f"eval.routes={json.dumps(ROUTES)}"
    result = grid(base_recipe=recipe, axes={SEED_AXIS: list(range(seeds))}, overrides=[routes, *overrides],
                  max_concurrency=1, out_dir=out_dir)
    for cell in result["cells"]:
        if cell["status"] != "completed":
            log.warning("seed cell %s failed: %s", cell["label"], cell["error"])
    rows = [row for cell in result["cells"] for row in cell["summary"]]
    if not rows:
        raise RuntimeError(f"every seed cell failed; report: {result['report']}")
    log.info("seed grid report: %s", result["report"])
    return pd.DataFrame(rows)


def route_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per route (``route`` column of the accuracy rows): ``seeds``, ``mean``, ``std`` (population, over
    seeds), ``min``, ``max``, in accuracy points, plus one column per seed; routes in :data:`ROUTES` order
    first, then any other (teacher, mas)."""
    accuracy = summary[summary["metric"] == "accuracy"]
    wide = accuracy.pivot_table(index="route", columns=SEED_AXIS, values="value", aggfunc="first") * 100
    stats = pd.DataFrame({"seeds": wide.notna().sum(axis=1), "mean": wide.mean(axis=1),
                          "std": wide.std(axis=1, ddof=0), "min": wide.min(axis=1), "max": wide.max(axis=1)})
    table = stats.join(wide.rename(columns=lambda seed: f"seed {seed}"))
    order = [r for r in ROUTES if r in table.index] + sorted(r for r in table.index if r not in ROUTES)
    return table.loc[order]


def paper_checks(table: pd.DataFrame) -> dict[str, bool | None]:
    """The two checks of the module docstring; None where a route they need is missing."""
    distilled = table.loc[[r for r in DISTILLED if r in table.index], "std"]
    checks: dict[str, bool | None] = {"pad_spread_smallest_or_within_1pt": None}
    if "pad" in distilled.index:
        checks["pad_spread_smallest_or_within_1pt"] = bool(distilled["pad"] <= distilled.min() + 1.0)
    for combo, first in COMBINATIONS.items():
        present = combo in table.index and first in table.index
        checks[f"{combo}_mean_ge_{first}"] = bool(table.loc[combo, "mean"] >= table.loc[first, "mean"]) if present else None
    return checks


def format_table(table: pd.DataFrame, checks: dict[str, bool | None]) -> str:
    """Markdown: one row per route, then the checks."""
    seed_columns = [c for c in table.columns if c.startswith("seed ")]
    head = ["route", "seeds", "mean", "std", "min", "max", *seed_columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for route, row in table.iterrows():
        cells = [route, str(int(row["seeds"])), *(f"{row[c]:.1f}" for c in head[2:])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"{name}: {'-' if ok is None else ok}" for name, ok in checks.items()]
    return "\n".join(lines)
