"""Paper-style results tables, headline numbers and a markdown + HTML report (paper §4, App. C-F).

Input: ``eval_summary`` rows (``summarize_records``) with the columns that say where each
row comes from. Required: ``benchmark`` (the test set), ``model``, ``protocol``, ``route``,
``metric``, ``value``, ``n``. Optional (filled with NA when absent): ``train_set`` (the data
the student was distilled from), ``teacher``, ``student``, ``n_agents``, ``data_size``;
a grid adds its cell coordinates as further columns.

``route`` names what was evaluated: ``teacher`` (teacher, single agent), ``mas`` (teacher,
multi-agent debate), ``base`` (the untrained student) - the reference rows - and the
distillation routes (``rsft``, ``da``, ``pad``, ``rsft_da``, ``pad_da``, or any registered one).
Routes are listed in ``route_order`` (the pipeline passes its route registry's order), then the
others alphabetically.

Example:
    >>> table = paper_table(summary)               # rows (train_set, route), columns test sets
    >>> print(to_markdown_table(table))            # doctest: +SKIP
    >>> write_report(summary, "out", "GSM8K grid")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from agentark_core.evaluate.render import render_html, render_markdown, to_markdown_table
from agentark_core.evaluate.stats import Difference, newcombe_difference

log = logging.getLogger(__name__)

REQUIRED = ("benchmark", "model", "protocol", "route", "metric", "value", "n")
OPTIONAL = ("train_set", "teacher", "student", "n_agents", "data_size")
SETTINGS = ("teacher", "student", "n_agents", "data_size")
REFERENCE_ROUTES = ("teacher", "mas", "base")
REFERENCE = "reference"
COST_METRIC = "completion_tokens_per_question"
# metrics that get a results table, in this order (then any ``judge_*`` reasoning score)
UNREAD_METRICS = ("ungradable_rate", "truncated_rate")  # answers that count as wrong without being read as wrong
UNREAD_WARN_FRACTION = 0.05  # issue 17: more than this is a warning in the report's headline
TABLE_METRICS = ("accuracy", "token_f1", "rouge1", "rouge2", "rougeL", "reasoning_perplexity", COST_METRIC)


def normalize_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Check the required columns and add missing optional ones (NA).

    Raises:
        ValueError: a required column is missing (names it and the columns found).
    """
    missing = [c for c in REQUIRED if c not in summary.columns]
    if missing:
        raise ValueError(f"summary is missing column(s) {missing}; found {list(summary.columns)}")
    out = summary.copy()
    for column in OPTIONAL:
        if column not in out.columns:
            out[column] = pd.NA
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out


def _route_order(routes, route_order: Sequence[str] = ()) -> list[str]:
    """Reference routes first, then ``route_order``'s, then any other alphabetically."""
    present = set(routes)
    known = list(dict.fromkeys(r for r in (*REFERENCE_ROUTES, *route_order) if r in present))
    return known + sorted(present - set(known))


def _one_value(group: pd.DataFrame, where: str) -> float:
    """The cell's value; duplicates must agree (the same reference row repeated across cells)."""
    values = group["value"].dropna().unique()
    if len(values) == 0:
        return math.nan
    if max(values) - min(values) > 1e-9:
        varying = [c for c in ("model", "protocol", *OPTIONAL) if group[c].astype(str).nunique() > 1]
        raise ValueError(
            f"paper_table: {len(values)} different values for {where}; the summary mixes settings "
            f"(varying columns: {varying or 'none'}): filter it to one setting first"
        )
    return float(values[0])


def paper_table(summary: pd.DataFrame, metric: str = "accuracy", average: bool = True,
                route_order: Sequence[str] = ()) -> pd.DataFrame:
    """The paper's results layout for one setting (teacher, student, n agents, data size).

    Args:
        summary: summary rows (see the module docstring).
        metric: the metric shown in the cells.
        average: add an ``avg`` column (mean over the test sets present in the row).
        route_order: the order of the trained routes' rows (others follow alphabetically).

    Returns:
        A frame indexed by (``train_set``, ``route``) with one column per test set. Reference
        rows (``teacher``, ``mas``, ``base``) come first under train set ``"reference"``; the
        trained routes follow per train set.

    Raises:
        ValueError: missing columns, no row for ``metric``, or one cell with conflicting values.
    """
    rows = normalize_summary(summary)
    rows = rows[rows["metric"] == metric]
    if rows.empty:
        raise ValueError(f"paper_table: no rows for metric {metric!r}; metrics: {sorted(summary['metric'].unique())}")
    rows = rows.assign(train_set=rows["train_set"].astype(object).where(rows["train_set"].notna(), "-"))
    rows.loc[rows["route"].isin(REFERENCE_ROUTES), "train_set"] = REFERENCE
    cells = {}
    for (train_set, route, benchmark), group in rows.groupby(["train_set", "route", "benchmark"], sort=False):
        where = f"train_set={train_set!r}, route={route!r}, benchmark={benchmark!r}"
        cells[(train_set, route, benchmark)] = _one_value(group, where)
    benchmarks = sorted({b for _, _, b in cells})
    train_sets = [REFERENCE] + sorted({t for t, _, _ in cells} - {REFERENCE})
    index = [(t, r) for t in train_sets for r in _route_order({r for tt, r, _ in cells if tt == t}, route_order)]
    table = pd.DataFrame(
        [[cells.get((t, r, b), math.nan) for b in benchmarks] for t, r in index],
        index=pd.MultiIndex.from_tuples(index, names=["train_set", "route"]),
        columns=benchmarks,
    )
    if average:
        table["avg"] = table[benchmarks].mean(axis=1)
    return table


def _route_means(summary: pd.DataFrame, metric: str, column: str = "value") -> pd.DataFrame:
    """Mean ``metric`` (or its ``n`` with ``column="n"``) per (route, benchmark), over train sets and settings."""
    rows = summary[(summary["metric"] == metric) & summary["value"].notna()]
    return rows.groupby(["route", "benchmark"])[column].mean().unstack("benchmark")


def _difference(acc: pd.DataFrame, n: pd.DataFrame, route: str, other: str, benchmarks) -> Difference:
    """``route``'s accuracy minus ``other``'s with its 95% interval, answers pooled over ``benchmarks``
    (each side's k = accuracy x n per test set; Newcombe's interval from the two Wilson intervals)."""
    sides = []
    for name in (route, other):
        size = n.loc[name, benchmarks].astype(float)
        sides.append(((acc.loc[name, benchmarks] * size).sum() / size.sum(), round(size.sum())))
    return newcombe_difference(*sides[0], *sides[1])


def headline(summary: pd.DataFrame, route_order: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """The headline comparisons, each averaged over train sets and settings (routes in ``route_order``).

    Returns:
        ``debate``: per test set, single-agent vs MAS teacher accuracy, the gain and its 95% interval
        (``low``, ``high``) with the questions behind each side (``n``);
        ``routes``: per trained route, mean accuracy, the base student's on the same test sets, gain,
        the gain's 95% interval over those test sets' pooled answers (``low``, ``high``) and the
        questions behind each side (``n``, ``base_n``);
        ``cost``: completion tokens per question per route and its ratio to MAS.
        A comparison whose rows are absent is an empty frame.
    """
    rows = normalize_summary(summary)
    acc, n = _route_means(rows, "accuracy"), _route_means(rows, "accuracy", "n")
    debate = pd.DataFrame(columns=["teacher", "mas", "gain", "low", "high", "n"])
    if {"teacher", "mas"} <= set(acc.index):
        debate = acc.loc[["teacher", "mas"]].T.dropna()
        debate["gain"] = debate["mas"] - debate["teacher"]
        spans = [_difference(acc, n, "mas", "teacher", [b]) for b in debate.index]
        debate["low"], debate["high"] = [d.low for d in spans], [d.high for d in spans]
        debate["n"] = [int(n.loc["mas", b]) for b in debate.index]
    gains = []
    for route in _route_order(set(acc.index) - set(REFERENCE_ROUTES), route_order):
        if "base" not in acc.index:
            break
        both = acc.loc[[route, "base"]].T.dropna()
        if len(both):
            span = _difference(acc, n, route, "base", list(both.index))
            gains.append({"route": route, "accuracy": both[route].mean(), "base": both["base"].mean(),
                          "gain": (both[route] - both["base"]).mean(), "low": span.low, "high": span.high,
                          "n": int(n.loc[route, both.index].sum()), "base_n": int(n.loc["base", both.index].sum()),
                          "test_sets": len(both)})
    columns = ["route", "accuracy", "base", "gain", "low", "high", "n", "base_n", "test_sets"]
    routes = pd.DataFrame(gains, columns=columns).set_index("route")
    tokens = _route_means(rows, COST_METRIC).mean(axis=1)
    cost = pd.DataFrame({"tokens_per_question": tokens.reindex(_route_order(tokens.index, route_order))})
    cost["mas_over_route"] = tokens.get("mas", math.nan) / cost["tokens_per_question"]
    return {"debate": debate, "routes": routes, "cost": cost}


def headline_lines(numbers: dict[str, pd.DataFrame]) -> list[str]:
    """One sentence per headline comparison that has data."""
    lines = []
    debate, routes, cost = numbers["debate"], numbers["routes"], numbers["cost"]
    if len(debate):
        low, high = _pooled_span(debate)
        lines.append(f"Debate vs single teacher: accuracy {debate['mas'].mean():.3f} vs "
                     f"{debate['teacher'].mean():.3f} ({debate['gain'].mean():+.3f}, 95% CI [{low:+.3f}, {high:+.3f}]; "
                     f"n={int(debate['n'].sum())} per side) over {len(debate)} test set(s): {_verdict(low, high)}.")
    for route, r in routes.iterrows():
        lines.append(f"{route} vs base student: accuracy {r['accuracy']:.3f} vs {r['base']:.3f} "
                     f"({r['gain']:+.3f}, 95% CI [{r['low']:+.3f}, {r['high']:+.3f}]; n={int(r['n'])} vs "
                     f"{int(r['base_n'])}) over {int(r['test_sets'])} test set(s): {_verdict(r['low'], r['high'])}.")
    distilled = cost.drop(index=[*REFERENCE_ROUTES], errors="ignore")["tokens_per_question"].dropna()
    if "mas" in cost.index and len(distilled):
        mas = cost.loc["mas", "tokens_per_question"]
        lines.append(f"Completion tokens per question: MAS {mas:.1f} vs distilled students {distilled.mean():.1f} "
                     f"({mas / distilled.mean():.1f}x).")
    return lines or ["No headline comparison: the summary lacks the teacher/MAS/base reference rows."]


def unread_answers(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (route, benchmark): the share of answers ungradable or truncated, with the n behind it (mean
    over train sets and settings). Both count as wrong in the accuracy, so the report shows them beside it."""
    rows = summary[summary["metric"].isin(UNREAD_METRICS) & summary["value"].notna()]
    if not len(rows):
        return pd.DataFrame(columns=[*UNREAD_METRICS, "n"])
    table = rows.pivot_table(index=["route", "benchmark"], columns="metric", values="value", aggfunc="mean")
    table["n"] = rows.groupby(["route", "benchmark"])["n"].max()
    return table.reindex(columns=[*UNREAD_METRICS, "n"])


def unread_lines(table: pd.DataFrame) -> list[str]:
    """A warning per (route, benchmark) with more than ``UNREAD_WARN_FRACTION`` ungradable or truncated answers."""
    return [f"WARNING: {route} on {benchmark}: {r[m]:.0%} of {int(r['n'])} answers are {m.removesuffix('_rate')} "
            "and count as wrong in its accuracy."
            for (route, benchmark), r in table.iterrows() for m in UNREAD_METRICS if r[m] > UNREAD_WARN_FRACTION]


def _pooled_span(debate: pd.DataFrame) -> tuple[float, float]:
    """The MAS-minus-teacher interval over all the debate table's test sets, answers pooled."""
    if len(debate) == 1:
        return float(debate["low"].iloc[0]), float(debate["high"].iloc[0])
    n = debate["n"].astype(float)
    d = newcombe_difference((debate["mas"] * n).sum() / n.sum(), int(n.sum()),
                            (debate["teacher"] * n).sum() / n.sum(), int(n.sum()))
    return d.low, d.high


def _verdict(low: float, high: float) -> str:
    """A difference is claimed only when its 95% interval excludes 0."""
    if low > 0:
        return "a gain (its 95% interval excludes 0)"
    if high < 0:
        return "a loss (its 95% interval excludes 0)"
    return "no significant difference (the 95% interval includes 0)"


def setting_groups(summary: pd.DataFrame, settings=SETTINGS) -> list[tuple[str, pd.DataFrame]]:
    """Split rows by the ``settings`` columns that vary (one paper table each).

    Returns:
        ``(label, rows)`` pairs; the label names the varying columns' values ("" when none vary).
    """
    rows = normalize_summary(summary)
    varying = [c for c in settings if c in rows.columns and rows[c].dropna().astype(str).nunique() > 1]
    if not varying:
        return [("", rows)]
    groups = rows.groupby([rows[c].astype(str) for c in varying], sort=True)
    return [(", ".join(f"{c}={v}" for c, v in zip(varying, key)), group) for key, group in groups]


def _table_blocks(rows: pd.DataFrame, metric: str, settings, route_order: Sequence[str]) -> list[tuple]:
    blocks: list[tuple] = [("h2", f"Results: {metric}")]
    for label, group in setting_groups(rows, settings):
        if label:
            blocks.append(("h3", label))
        try:
            blocks.append(("table", paper_table(group, metric, route_order=route_order)))
        except ValueError as exc:
            log.warning("report: no %s table for %s: %s", metric, label or "all rows", exc)
            blocks.append(("p", f"No table: {exc}"))
    return blocks


def report_blocks(summary: pd.DataFrame, image_dir: Path, title: str,
                  extra_sections: dict[str, str | pd.DataFrame] | None, settings=SETTINGS,
                  route_order: Sequence[str] = (), rl_runs: dict[str, dict] | None = None) -> list[tuple]:
    """The report as blocks (``h1``/``h2``/``h3``/``p``/``list``/``table``/``img``), rendered to both formats."""
    from agentark_core.evaluate.plots import PLOTS
    from agentark_core.evaluate.rl_report import hacking_lines, rl_blocks

    rows = normalize_summary(summary)
    numbers = headline(rows, route_order)
    unread = unread_answers(rows)
    warnings = unread_lines(unread) + hacking_lines(rl_runs or {})
    blocks: list[tuple] = [("h1", title), ("h2", "Headline"), ("list", headline_lines(numbers) + warnings)]
    for name, caption in (("debate", "Teacher: single agent vs debate (accuracy)"),
                          ("routes", "Routes vs base student (accuracy)"),
                          ("cost", "Completion tokens per question")):
        if len(numbers[name]):
            blocks += [("h3", caption), ("table", numbers[name])]
    if len(unread):
        blocks += [("h3", "Ungradable and truncated answers (each counts as wrong in the accuracy)"), ("table", unread)]
    present = set(rows["metric"])
    judged = sorted(m for m in present if m.startswith("judge_"))
    for metric in (*TABLE_METRICS, *judged):
        if metric in present:
            blocks += _table_blocks(rows, metric, settings, route_order)
    figures = [(name, plot(rows, image_dir / f"{name}.png")) for name, plot in PLOTS.items()]
    if any(path for _, path in figures):
        blocks.append(("h2", "Figures"))
        blocks += [("img", path, name) for name, path in figures if path]
    blocks += rl_blocks(rl_runs or {}, numbers["routes"], image_dir)
    for heading, content in (extra_sections or {}).items():
        blocks += [("h2", heading), ("table", content) if isinstance(content, pd.DataFrame) else ("p", content)]
    return blocks


def write_report(summary: pd.DataFrame, out_dir: str | Path, title: str = "AgentArk report",
                 extra_sections: dict[str, str | pd.DataFrame] | None = None, settings=SETTINGS,
                 route_order: Sequence[str] = (), rl_runs: dict[str, dict] | None = None) -> dict[str, Any]:
    """Write ``report.md``, ``report.html`` and ``images/*.png`` into ``out_dir``.

    Args:
        summary: summary rows (see the module docstring).
        out_dir: output folder (created).
        title: the report's title.
        extra_sections: ``{heading: markdown text or a frame (shown as a table)}`` after the figures.
        settings: columns whose distinct values get separate results tables (a grid adds its axes).
        route_order: the order of the trained routes in tables (the pipeline's route registry order).
        rl_runs: ``{route: {"curve": rl_curve rows, "check": reward_hacking result}}`` of the RL routes
            (PAD and its ablations): their curves, side-by-side table and reward-hacking warnings
            (:mod:`agentark_core.evaluate.rl_report`).

    Returns:
        ``{"markdown": path, "html": path, "images": [paths]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(summary, out / "images", title, extra_sections, settings, route_order, rl_runs)
    markdown, page = out / "report.md", out / "report.html"
    markdown.write_text(render_markdown(blocks, out))
    page.write_text(render_html(blocks, out, title))
    images = [Path(b[1]) for b in blocks if b[0] == "img"]
    log.info("report: %s (%d figure(s))", markdown, len(images))
    return {"markdown": markdown, "html": page, "images": images}


__all__ = ["headline", "headline_lines", "normalize_summary", "paper_table", "render_html", "render_markdown",
           "report_blocks", "setting_groups", "to_markdown_table", "unread_answers", "unread_lines", "write_report"]
