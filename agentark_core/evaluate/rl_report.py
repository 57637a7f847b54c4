"""The report's PAD section: RL training curves, the reward-hacking check and the ablation table.

Input: ``runs`` = ``{route: {"curve": rows, "check": reward_check or None, ...}}`` from the RL routes'
training manifests (``rl_curves`` / ``reward_check``, :mod:`agentark_core.train.reward_check`; optional
``algorithm`` "grpo" | "ppo", ``seed``, ``rewards`` {reward: weight}, ``runtime_s``): PAD and its ablations
(``pad_vr`` verifiable reward only, ``pad_prm`` PRM only, ``pad_ppo`` PPO). The section sets them side by
side in one table with their held-out accuracy (the report's headline ``routes`` frame), draws reward /
rollout accuracy / PRM reward / KL / clip fraction / entropy over the steps and tabulates the curves; where
both optimisers ran, :func:`ppo_grpo_table` and :func:`ppo_grpo_plot` set PPO beside GRPO (paper App. B.2 /
C.2; issue 19 item 5). :func:`hacking_lines` (the report's headline warnings) names every run whose PRM
reward rose while its rollouts' verifiable accuracy did not (paper §3.3.3; issue 19).

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
PPO_GRPO_TITLE = "PPO vs GRPO (same PRM, same steps, same seed)"
PPO_GRPO_PANELS = (("reward", "total reward"), ("accuracy", "rollout accuracy (verifiable)"),
                   ("eval_accuracy", "held-out prompts' accuracy"), ("kl", "KL to reference"))
PPO_GRPO_NOTE = ("Every run trained by GRPO or PPO (GRPO: group-normalised advantages; PPO: a learned value "
                 "baseline), on the same PRM, prompts and seed. heldout_accuracy: the route's evaluation on the "
                 "held-out questions; eval_accuracy_last: its held-out prompts' accuracy at the last evaluation "
                 "during training; reward_mean: the total reward's mean over the steps; accuracy: the training "
                 "rollouts' verifiable accuracy at the first and last step; wall_time_s: the training loop with "
                 "its evaluations. In the figure GRPO runs are solid, PPO runs dashed.")
TABLE_STEPS = 8  # curve rows per run in the report's curve table (evenly spaced, first and last kept)


def _series(curve: list[dict], column: str) -> list[tuple[int, float]]:
    return [(r["step"], r[column]) for r in curve if r.get(column) is not None]


def _first_last(curve: list[dict], column: str) -> tuple[float, float]:
    points = _series(curve, column)
    return (points[0][1], points[-1][1]) if points else (math.nan, math.nan)


def _evaluated(routes: pd.DataFrame, column: str, route: str) -> float:
    """``routes[column][route]`` of the headline frame; NaN when the route was not evaluated."""
    return routes[column].get(route, math.nan) if len(routes) else math.nan


_NOT_TRAINING = ("step", "eval_accuracy")


def _training_rows(curve: list[dict]) -> list[dict]:
    """The training steps logged: rows with any training column (a step between rollout rounds logs no reward,
    one without a KL term no kl; a held-out evaluation alone, e.g. before step 1, is no step)."""
    return [r for r in curve if any(v is not None for k, v in r.items() if k not in _NOT_TRAINING)]


def rl_table(runs: dict[str, dict], routes: pd.DataFrame) -> pd.DataFrame:
    """One row per RL run: held-out accuracy and gain over the base student (from ``routes``, the
    headline frame indexed by route; NaN when the route was not evaluated), steps, first and last
    total reward, rollout accuracy, PRM reward and held-out prompts' accuracy (GRPO's ``heldout_prompts``
    evaluations), last KL / clip fraction / entropy, the mean PRM
    gap between correct and wrong rollouts and the hacking flag; a column no run has is left out."""
    rows = []
    for route, run in runs.items():
        check = run.get("check") or {}
        curve = _training_rows(run.get("curve") or [])
        row = {"route": route, "heldout_accuracy": _evaluated(routes, "accuracy", route),
               "gain_vs_base": _evaluated(routes, "gain", route), "steps": len(curve)}
        for column in ("reward", "accuracy", "prm_reward", "eval_accuracy"):
            row[f"{column}_first"], row[f"{column}_last"] = _first_last(run.get("curve") or [], column)
        for column in ("kl", "clip_fraction", "entropy"):
            row[f"{column}_last"] = _first_last(curve, column)[1]
        gap = check.get("prm_gap")
        row["prm_gap"] = math.nan if gap is None else gap
        row["prm_hacking"] = "-" if not check else ("YES" if check["hacking"] else "no")
        rows.append(row)
    return pd.DataFrame(rows).set_index("route").dropna(axis=1, how="all")  # columns no run has


def _compared(runs: dict[str, dict]) -> dict[str, dict]:
    """The runs trained by GRPO or PPO, when both optimisers are among them; else none."""
    compared = {route: run for route, run in runs.items() if run.get("algorithm") in ("grpo", "ppo")}
    return compared if {run["algorithm"] for run in compared.values()} == {"grpo", "ppo"} else {}


def ppo_grpo_table(runs: dict[str, dict], routes: pd.DataFrame) -> pd.DataFrame:
    """PPO beside GRPO: one row per run of either (GRPO rows first), empty unless both ran.

    Columns: ``algorithm``, ``rewards`` (reward: weight), ``seed``, ``steps`` (training steps logged),
    ``heldout_accuracy`` (the route's evaluation; NaN if not evaluated), ``eval_accuracy_last`` (held-out
    prompts at the last evaluation during training), ``reward_mean`` (over the steps), ``accuracy_first`` /
    ``accuracy_last`` (training rollouts' verifiable accuracy), ``kl_mean`` / ``kl_last``, ``wall_time_s``;
    a column no run has is left out.
    """
    rows = []
    for route, run in sorted(_compared(runs).items(), key=lambda item: item[1]["algorithm"]):
        curve = run.get("curve") or []
        steps = _training_rows(curve)
        rewarded = [r for r in steps if r.get("reward") is not None]  # steps that sampled a rollout round
        kls = [v for _, v in _series(steps, "kl")]
        rows.append({"route": route, "algorithm": run["algorithm"],
                     "rewards": ", ".join(f"{k} {v:g}" for k, v in (run.get("rewards") or {}).items()) or None,
                     "seed": run.get("seed"), "steps": len(steps),
                     "heldout_accuracy": _evaluated(routes, "accuracy", route),
                     "eval_accuracy_last": _first_last(curve, "eval_accuracy")[1],
                     "reward_mean": sum(r["reward"] for r in rewarded) / len(rewarded) if rewarded else math.nan,
                     "accuracy_first": _first_last(rewarded, "accuracy")[0],
                     "accuracy_last": _first_last(rewarded, "accuracy")[1],
                     "kl_mean": sum(kls) / len(kls) if kls else math.nan, "kl_last": _first_last(steps, "kl")[1],
                     "wall_time_s": math.nan if run.get("runtime_s") is None else float(run["runtime_s"])})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index("route").dropna(axis=1, how="all")


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


def rl_curves_plot(runs: dict[str, dict], path: str | Path, panels=PANELS, labels: dict[str, str] | None = None,
                   dashed: frozenset[str] = frozenset()) -> Path | None:
    """One panel per ``panels`` column some run logged, one line per run (labelled ``labels[route]``, else the
    route; the routes in ``dashed`` dashed), against the step.

    Returns:
        ``path``, or None when no run has two logged steps.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    drawn = [(c, title) for c, title in panels if any(len(_series(r.get("curve") or [], c)) > 1 for r in runs.values())]
    if not drawn:
        log.info("plot rl_curves skipped: no RL run has two logged steps")
        return None
    cols = 2 if len(drawn) == 4 else min(3, len(drawn))
    nrows = math.ceil(len(drawn) / cols)
    fig = Figure(figsize=(4 * cols + 1, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for ax, (column, title) in zip(axes, drawn):
        for i, (route, run) in enumerate(runs.items()):  # one colour per run in every panel
            points = _series(run.get("curve") or [], column)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color=f"C{i}",
                        linestyle="--" if route in dashed else "-", label=(labels or {}).get(route, route))
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


def ppo_grpo_plot(runs: dict[str, dict], path: str | Path) -> Path | None:
    """The GRPO and PPO runs' reward, rollout accuracy, held-out prompts' accuracy and KL in panels side by
    side (PPO dashed); None unless both optimisers ran with two logged steps."""
    compared = _compared(runs)
    if not compared:
        return None
    labels = {route: f"{route} ({run['algorithm'].upper()})" for route, run in compared.items()}
    dashed = frozenset(route for route, run in compared.items() if run["algorithm"] == "ppo")
    return rl_curves_plot(compared, path, PPO_GRPO_PANELS, labels, dashed)


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
    comparison = ppo_grpo_table(runs, routes)
    if len(comparison):
        blocks += [("h3", PPO_GRPO_TITLE), ("p", PPO_GRPO_NOTE), ("table", comparison)]
        if figure := ppo_grpo_plot(runs, image_dir / "ppo_vs_grpo.png"):
            blocks.append(("img", figure, "PPO vs GRPO training curves"))
    table = curve_table(runs)
    if len(table):
        blocks += [("h3", "RL curves (sampled steps)"), ("table", table)]
    return blocks
