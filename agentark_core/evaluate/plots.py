"""Report figures from ``eval_summary`` rows (paper §4: route comparison, agent and data scaling, cost).

Every function takes a summary frame (the columns documented in ``report.py``), an output
path, and writes one PNG through matplotlib's object API (``Figure`` + Agg canvas: no
pyplot, no global backend switch, safe from worker threads). It returns the path, or None
(with a log line) when the dimension it plots has fewer than two values. Values are means
over every column the plot does not show (e.g. over train sets).

Example:
    >>> route_comparison(summary, "out/routes.png")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

REFERENCE_LINES = {"mas": ("teacher (MAS)", "--"), "base": ("student (base)", ":")}
COST_METRIC = "completion_tokens_per_question"


def metric_means(summary: pd.DataFrame, metric: str, keys: list[str]) -> pd.DataFrame:
    """Mean ``value`` of ``metric`` per ``keys`` (rows with a missing value or key ignored).

    Returns:
        A frame with columns ``keys + ["value"]``, sorted by ``keys``.
    """
    rows = summary[(summary["metric"] == metric) & summary["value"].notna()].dropna(subset=keys)
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "value"])
    return rows.groupby(keys, as_index=False)["value"].mean().sort_values(keys)


def _skip(name: str, dimension: str, values: list) -> None:
    log.info("plot %s skipped: %s has %d value(s) %s, need 2", name, dimension, len(values), values)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def route_comparison(summary: pd.DataFrame, path: str | Path, metric: str = "accuracy") -> Path | None:
    """Bars: ``metric`` per route per test set; MAS teacher and base student as reference lines.

    Args:
        summary: summary rows (columns ``benchmark``, ``route``, ``metric``, ``value``).
        path: PNG file to write.
        metric: the metric on the y axis.

    Returns:
        ``path``, or None when there are fewer than two routes or no trained route.
    """
    from matplotlib.figure import Figure

    means = metric_means(summary, metric, ["benchmark", "route"])
    routes = sorted(means["route"].unique())
    bars = [r for r in routes if r not in REFERENCE_LINES]
    if len(routes) < 2 or not bars:
        _skip("route_comparison", "route", routes)
        return None
    benchmarks = sorted(means["benchmark"].unique())
    table = means.pivot(index="benchmark", columns="route", values="value").reindex(benchmarks)
    width = 0.8 / len(bars)
    fig = Figure(figsize=(max(5.0, 1.6 * len(benchmarks) * max(1, len(bars)) / 2), 4))
    ax = fig.subplots()
    for i, route in enumerate(bars):
        xs = [b + (i - (len(bars) - 1) / 2) * width for b in range(len(benchmarks))]
        ax.bar(xs, table[route].to_numpy(dtype=float), width=width, label=route)
    for route, (label, style) in REFERENCE_LINES.items():
        if route not in table:
            continue
        for b, value in enumerate(table[route]):
            if pd.notna(value):
                ax.hlines(value, b - 0.45, b + 0.45, colors="black", linestyles=style,
                          label=label if b == 0 else None)
    ax.set_xticks(range(len(benchmarks)), benchmarks)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per route and test set")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _scaling(summary: pd.DataFrame, path: str | Path, metric: str, dimension: str, xlabel: str) -> Path | None:
    """Lines of ``metric`` vs a numeric ``dimension``, one per route, one panel per test set."""
    from matplotlib.figure import Figure

    frame = summary.assign(**{dimension: pd.to_numeric(summary[dimension], errors="coerce")})
    means = metric_means(frame, metric, ["benchmark", "route", dimension])
    values = sorted(means[dimension].unique())
    if len(values) < 2:
        _skip(f"{dimension} scaling", dimension, values)
        return None
    benchmarks = sorted(means["benchmark"].unique())
    fig = Figure(figsize=(4.2 * len(benchmarks), 3.8))
    axes = fig.subplots(1, len(benchmarks), squeeze=False)[0]
    for ax, benchmark in zip(axes, benchmarks):
        own = means[means["benchmark"] == benchmark]
        for route, line in own.groupby("route"):
            ax.plot(line[dimension], line["value"], marker="o", label=route)
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(benchmark)
        ax.legend(fontsize="small")
    return _save(fig, path)


def agents_scaling(summary: pd.DataFrame, path: str | Path, metric: str = "accuracy") -> Path | None:
    """``metric`` vs the number of debate agents (paper: 5/10/20), per route and test set.

    Returns:
        ``path``, or None when ``n_agents`` has fewer than two values.
    """
    return _scaling(summary, path, metric, "n_agents", "debate agents")


def data_scaling(summary: pd.DataFrame, path: str | Path, metric: str = "accuracy") -> Path | None:
    """``metric`` vs training-data size (questions), per route and test set.

    Returns:
        ``path``, or None when ``data_size`` has fewer than two values.
    """
    return _scaling(summary, path, metric, "data_size", "training questions")


def cost_vs_accuracy(summary: pd.DataFrame, path: str | Path, metric: str = "accuracy",
                     cost_metric: str = COST_METRIC) -> Path | None:
    """Scatter: inference cost (completion tokens per question) vs ``metric``, one point per route
    and test set, so MAS (many calls) and single-agent routes (one call) sit side by side.

    Returns:
        ``path``, or None when fewer than two routes have both numbers.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    keys = ["benchmark", "route"]
    both = metric_means(summary, cost_metric, keys).merge(metric_means(summary, metric, keys), on=keys,
                                                          suffixes=("_cost", "_metric"))
    routes = sorted(both["route"].unique())
    if len(routes) < 2:
        _skip("cost_vs_accuracy", "route", routes)
        return None
    markers = dict(zip(sorted(both["benchmark"].unique()), "osD^vP*X"))
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for route in routes:
        own = both[both["route"] == route]
        color = None
        for row in own.itertuples(index=False):
            dots = ax.scatter(row.value_cost, row.value_metric, marker=markers.get(row.benchmark, "o"),
                              color=color, label=f"{route} / {row.benchmark}")
            color = dots.get_facecolor()[0]
            ax.annotate(route, (row.value_cost, row.value_metric), fontsize="small",
                        xytext=(4, 3), textcoords="offset points")
    costs = both["value_cost"][both["value_cost"] > 0]
    if len(costs) and costs.max() / costs.min() > 20:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short log range
    ax.set_xlabel(cost_metric.replace("_", " "))
    ax.set_ylabel(metric)
    ax.set_title(f"inference cost vs {metric}")
    ax.legend(fontsize="x-small")
    return _save(fig, path)


PLOTS = {
    "routes": route_comparison,
    "agents_scaling": agents_scaling,
    "data_scaling": data_scaling,
    "cost_accuracy": cost_vs_accuracy,
}


def loss_curve(points: list[dict], path: str | Path, title: str = "training loss") -> Path | None:
    """Line: ``loss`` against ``step`` of a training run's log (``train_*`` metrics' ``loss_curve``).

    Returns:
        ``path``, or None when the log has fewer than two points.
    """
    from matplotlib.figure import Figure

    if len(points) < 2:
        _skip("loss_curve", "step", [p.get("step") for p in points])
        return None
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    ax.plot([p["step"] for p in points], [p["loss"] for p in points], marker=".")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
