"""The report's PAD section: RL training curves, the reward-hacking check and the ablation table.

Input: ``runs`` = ``{route: {"curve": rows, "check": reward_check or None}}`` from the RL routes'
training manifests (``rl_curves`` / ``reward_check``, :mod:`agentark_core.train.reward_check`): PAD
and its ablations (``pad_vr`` verifiable reward only, ``pad_prm`` PRM only, ``pad_ppo`` PPO). The
section sets them side by side in one table with their held-out accuracy (the report's headline
``routes`` frame), draws reward / rollout accuracy / PRM reward / KL / clip fraction / entropy over
the steps and tabulates the curves; :func:`hacking_lines` (the report's headline warnings) names every
run whose PRM reward rose while its rollouts' verifiable accuracy did not (paper §3.3.3; issue 19).

Example:
    >>> blocks = rl_blocks({"pad": {"curve": rows, "check": check}}, routes, Path("images"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

PANELS = (("reward", "total reward"), ("accuracy", "rollout accuracy (verifiable)"), ("prm_reward", "PRM reward"),
          ("eval_accuracy", "held-out prompts' accuracy"), ("kl", "KL to reference"),
          ("clip_fraction", "clip fraction"), ("entropy", "entropy"))
SECTION_NOTE = ("pad = GRPO on PRM + verifiable reward; pad_vr = verifiable reward only; pad_prm = PRM reward only; "
                "pad_ppo = PPO on PAD's reward; same prompts, PRM, steps and seed. Rollout accuracy and PRM reward "
                "are measured on the same training rollouts (GRPO logs a reward the recipe does not weight at "
                "weight 0); prm_gap is the mean PRM score of correct minus wrong rollouts; heldout_accuracy is "
                "the route's evaluation on the held-out questions.")
TABLE_STEPS = 8  # curve rows per run in the report's curve table (evenly spaced, first and last kept)


def _series(curve: list[dict], column: str) -> list[tuple[int, float]]:
    return [(r["step"], r[column]) for r in curve if r.get(column) is not None]


def _first_last(curve: list[dict], column: str) -> tuple[float, float]:
    points = _series(curve, column)
    return (points[0][1], points[-1][1]) if points else (math.nan, math.nan)


def rl_table(runs: dict[str, dict], routes: pd.DataFrame) -> pd.DataFrame:
    """One row per RL run: held-out accuracy and gain over the base student (from ``routes``, the
    headline frame indexed by route; NaN when the route was not evaluated), steps, first and last
    total reward, rollout accuracy, PRM reward and held-out prompts' accuracy (GRPO's ``heldout_prompts``
    evaluations), last KL / clip fraction / entropy, the mean PRM
    gap between correct and wrong rollouts and the hacking flag; a column no run has is left out."""
    rows = []
    for route, run in runs.items():
        check = run.get("check") or {}
        curve = [r for r in run.get("curve") or [] if r.get("reward") is not None or r.get("kl") is not None]
        row = {"route": route,
               "heldout_accuracy": routes["accuracy"].get(route, math.nan) if len(routes) else math.nan,
               "gain_vs_base": routes["gain"].get(route, math.nan) if len(routes) else math.nan,
               "steps": len(curve)}  # training steps logged (an evaluation before step 1 is no step)
        for column in ("reward", "accuracy", "prm_reward", "eval_accuracy"):
            row[f"{column}_first"], row[f"{column}_last"] = _first_last(run.get("curve") or [], column)
        for column in ("kl", "clip_fraction", "entropy"):
            row[f"{column}_last"] = _first_last(curve, column)[1]
        gap = check.get("prm_gap")
        row["prm_gap"] = math.nan if gap is None else gap
        row["prm_hacking"] = "-" if not check else ("YES" if check["hacking"] else "no")
        rows.append(row)
    return pd.DataFrame(rows).set_index("route").dropna(axis=1, how="all")  # columns no run has


def curve_table(runs: dict[str, dict], steps: int = TABLE_STEPS) -> pd.DataFrame:
    """The curves as a long table (route, step, then the :data:`PANELS` columns), at most ``steps``
    evenly spaced rows per run, its first and last step included."""
    rows = []
    for route, run in runs.items():
        curve = run.get("curve") or []
        if len(curve) > steps:
            picks = sorted({round(i * (len(curve) - 1) / (steps - 1)) for i in range(steps)})
            curve = [curve[i] for i in picks]
        rows += [{"route": route, "step": r["step"],
                  **{c: (math.nan if r.get(c) is None else r[c]) for c, _ in PANELS}} for r in curve]
    table = pd.DataFrame(rows, columns=["route", "step", *(c for c, _ in PANELS)])
    return table.dropna(axis=1, how="all").set_index(["route", "step"])


def rl_curves_plot(runs: dict[str, dict], path: str | Path) -> Path | None:
    """One panel per :data:`PANELS` column some run logged, one line per run, against the step.

    Returns:
        ``path``, or None when no run has two logged steps.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    drawn = [(c, title) for c, title in PANELS if any(len(_series(r.get("curve") or [], c)) > 1 for r in runs.values())]
    if not drawn:
        log.info("plot rl_curves skipped: no RL run has two logged steps")
        return None
    cols = min(3, len(drawn))
    nrows = math.ceil(len(drawn) / cols)
    fig = Figure(figsize=(4 * cols + 1, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for ax, (column, title) in zip(axes, drawn):
        for i, (route, run) in enumerate(runs.items()):  # one colour per run in every panel
            points = _series(run.get("curve") or [], column)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color=f"C{i}", label=route)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def hacking_lines(runs: dict[str, dict]) -> list[str]:
    """One warning per run whose PRM reward rose while its rollouts' verifiable accuracy did not."""
    return [f"WARNING: {route}: PRM reward {c['prm_first']:.3f} -> {c['prm_last']:.3f} while rollout accuracy "
            f"{c['accuracy_first']:.3f} -> {c['accuracy_last']:.3f}: the policy may be exploiting the PRM "
            "(reward hacking)." for route, run in runs.items() if (c := run.get("check")) and c["hacking"]]


def rl_blocks(runs: dict[str, dict], routes: pd.DataFrame, image_dir: Path) -> list[tuple]:
    """The report's blocks for the RL runs (none when there are none)."""
    if not runs:
        return []
    blocks: list[tuple] = [("h2", "PAD training: curves, reward-hacking check and ablations"), ("p", SECTION_NOTE)]
    blocks += [("h3", "RL runs side by side"), ("table", rl_table(runs, routes))]
    figure = rl_curves_plot(runs, image_dir / "rl_curves.png")
    if figure:
        blocks.append(("img", figure, "RL training curves"))
    table = curve_table(runs)
    if len(table):
        blocks += [("h3", "RL curves (sampled steps)"), ("table", table)]
    return blocks
