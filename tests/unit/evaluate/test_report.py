"""Paper table, markdown rendering, headline numbers, figures and the written report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agentark_core.evaluate import plots
from agentark_core.evaluate.report import (
    headline,
    paper_table,
    setting_groups,
    to_markdown_table,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (route, train_set, benchmark) -> (accuracy, completion tokens per question)
CELLS = {
    ("teacher", "gsm8k", "gsm8k"): (0.60, 100.0),
    ("mas", "gsm8k", "gsm8k"): (0.70, 1500.0),
    ("base", "gsm8k", "gsm8k"): (0.30, 90.0),
    ("rsft", "gsm8k", "gsm8k"): (0.40, 110.0),
    ("da", "gsm8k", "gsm8k"): (0.45, 120.0),
    ("teacher", "gsm8k", "math"): (0.50, 200.0),
    ("mas", "gsm8k", "math"): (0.56, 2000.0),
    ("base", "gsm8k", "math"): (0.20, 180.0),
    ("rsft", "gsm8k", "math"): (0.25, 190.0),
    ("da", "gsm8k", "math"): (0.35, 210.0),
    # trained on math; the reference rows repeat with the same values, as a grid tags them per cell
    ("mas", "math", "gsm8k"): (0.70, 1500.0),
    ("base", "math", "gsm8k"): (0.30, 90.0),
    ("rsft", "math", "gsm8k"): (0.33, 100.0),
}


def summary_rows(cells=CELLS, **setting) -> pd.DataFrame:
    rows = []
    for (route, train_set, benchmark), (acc, tokens) in cells.items():
        labels = {"benchmark": benchmark, "model": "teacher-m" if route in ("teacher", "mas") else f"student-{route}",
                  "protocol": "debate" if route == "mas" else "cot", "route": route, "train_set": train_set,
                  "teacher": "t", "student": "s", "n_agents": 5, "data_size": 100, **setting}
        rows.append({**labels, "metric": "accuracy", "value": acc, "n": 50})
        rows.append({**labels, "metric": "completion_tokens_per_question", "value": tokens, "n": 50})
    return pd.DataFrame(rows)


def test_paper_table_layout_and_values():
    table = paper_table(summary_rows(), route_order=["rsft", "da"])
    assert list(table.columns) == ["gsm8k", "math", "avg"]
    assert list(table.index) == [
        ("reference", "teacher"), ("reference", "mas"), ("reference", "base"),
        ("gsm8k", "rsft"), ("gsm8k", "da"), ("math", "rsft"),
    ]
    # without an order (the pipeline passes its route registry's) trained routes sort by name
    assert list(paper_table(summary_rows()).index)[3:5] == [("gsm8k", "da"), ("gsm8k", "rsft")]
    assert table.loc[("gsm8k", "da"), "math"] == pytest.approx(0.35)
    assert table.loc[("reference", "mas"), "gsm8k"] == pytest.approx(0.70)
    assert table.loc[("gsm8k", "rsft"), "avg"] == pytest.approx((0.40 + 0.25) / 2)
    assert math.isnan(table.loc[("math", "rsft"), "math"])  # that pair was not evaluated
    assert table.loc[("math", "rsft"), "avg"] == pytest.approx(0.33)
    cost = paper_table(summary_rows(), metric="completion_tokens_per_question", average=False)
    assert list(cost.columns) == ["gsm8k", "math"] and cost.loc[("reference", "mas"), "math"] == 2000.0


def test_paper_table_refuses_conflicting_cells_and_bad_input():
    mixed = pd.concat([summary_rows(), summary_rows(n_agents=10).assign(value=lambda f: f["value"] + 0.01)])
    with pytest.raises(ValueError, match=r"route='teacher', benchmark='gsm8k'.*\['n_agents'\]"):
        paper_table(mixed)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['route'\]"):
        paper_table(summary_rows().drop(columns="route"))
    with pytest.raises(ValueError, match="no rows for metric 'token_f1'"):
        paper_table(summary_rows(), metric="token_f1")
    groups = setting_groups(mixed)
    assert [label for label, _ in groups] == ["n_agents=10", "n_agents=5"]
    assert paper_table(groups[1][1]).loc[("reference", "mas"), "gsm8k"] == pytest.approx(0.70)


def test_optional_columns_default_and_unknown_routes_last():
    frame = pd.DataFrame([
        {"benchmark": "b", "model": "m", "protocol": "cot", "route": "zeta", "metric": "accuracy", "value": 0.5, "n": 2},
        {"benchmark": "b", "model": "m", "protocol": "cot", "route": "pad", "metric": "accuracy", "value": 0.25, "n": 2},
        {"benchmark": "b", "model": "m", "protocol": "cot", "route": "base", "metric": "accuracy", "value": 0.1, "n": 2},
    ])
    table = paper_table(frame, average=False)
    assert list(table.index) == [("reference", "base"), ("-", "pad"), ("-", "zeta")]
    ordered = paper_table(frame, average=False, route_order=["zeta", "rsft", "pad"])
    assert list(ordered.index) == [("reference", "base"), ("-", "zeta"), ("-", "pad")]


def test_markdown_table_exact():
    frame = pd.DataFrame({"route": ["rsft", "a|b"], "gsm8k": [0.5, float("nan")], "n": [3, 4]})
    assert to_markdown_table(frame, index=False) == (
        "| route | gsm8k | n |\n"
        "| --- | ---: | ---: |\n"
        "| rsft | 0.500 | 3 |\n"
        "| a\\|b | - | 4 |"
    )
    indexed = pd.DataFrame({"x": [1.0]}, index=pd.MultiIndex.from_tuples([("t", "r")], names=["train_set", "route"]))
    assert to_markdown_table(indexed, digits=1) == "| train_set | route | x |\n| --- | --- | ---: |\n| t | r | 1.0 |"
    assert to_markdown_table(pd.DataFrame({"x": [True]}, index=["a"])) == "|  | x |\n| --- | --- |\n| a | True |"


def test_headline_numbers():
    numbers = headline(summary_rows())
    debate = numbers["debate"]
    assert debate.loc["gsm8k", "gain"] == pytest.approx(0.10) and debate.loc["math", "gain"] == pytest.approx(0.06)
    routes = numbers["routes"]
    # rsft: gsm8k mean over train sets (0.40, 0.33) vs base 0.30; math 0.25 vs 0.20
    assert routes.loc["rsft", "gain"] == pytest.approx(((0.365 - 0.30) + (0.25 - 0.20)) / 2)
    assert routes.loc["da", "gain"] == pytest.approx(((0.45 - 0.30) + (0.35 - 0.20)) / 2)
    # intervals from pooled answers (50 per test set): da 40/100 vs base 25/100 (Newcombe's method 10)
    assert routes.loc["da", ["n", "base_n"]].tolist() == [100, 100]
    assert routes.loc["da", ["low", "high"]].tolist() == pytest.approx([0.0201, 0.2731], abs=1e-4)
    assert routes.loc["rsft", "low"] < 0 < routes.loc["rsft", "high"]
    assert debate.loc["gsm8k", "n"] == 50 and debate.loc["gsm8k", "low"] < 0 < debate.loc["gsm8k", "high"]
    cost = numbers["cost"]
    assert cost.loc["mas", "tokens_per_question"] == pytest.approx(1750.0)
    assert cost.loc["da", "mas_over_route"] == pytest.approx(1750.0 / 165.0)


def scaling_rows() -> pd.DataFrame:
    frames = []
    for n_agents, bump in ((5, 0.0), (10, 0.04), (20, 0.06)):
        for data_size in (100, 400):
            cells = {k: (acc + bump + (0.02 if data_size == 400 else 0.0), tok * n_agents / 5)
                     for k, (acc, tok) in CELLS.items()}
            frames.append(summary_rows(cells, n_agents=n_agents, data_size=data_size))
    return pd.concat(frames, ignore_index=True)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_each_plot_writes_a_png(name, tmp_path):
    path = plots.PLOTS[name](scaling_rows(), tmp_path / "fig" / f"{name}.png")
    assert path == tmp_path / "fig" / f"{name}.png"
    assert_png(path)


@pytest.mark.parametrize("name, frame", [
    ("agents_scaling", summary_rows()),  # one n_agents value
    ("data_scaling", summary_rows()),  # one data size
    ("routes", summary_rows()[lambda f: f["route"] == "rsft"]),  # one route
    ("cost_accuracy", summary_rows()[lambda f: f["route"] == "mas"]),  # one route
])
def test_plot_skips_single_valued_dimension(name, frame, tmp_path, caplog):
    with caplog.at_level("INFO", logger="agentark_core.evaluate.plots"):
        assert plots.PLOTS[name](frame, tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists() and "skipped" in caplog.text


def test_write_report_has_every_cell_headline_and_figures(tmp_path):
    summary = summary_rows()
    out = write_report(summary, tmp_path / "report", "Toy grid", extra_sections={"Notes": "ran on a laptop"})
    text = out["markdown"].read_text()
    assert text.startswith("# Toy grid\n")
    for row in summary.itertuples():
        assert f"{row.value:.3f}" in text, row
    assert ("Debate vs single teacher: accuracy 0.630 vs 0.550 (+0.080, 95% CI [-0.056, +0.211]; n=100 per side) "
            "over 2 test set(s): no significant difference") in text
    assert "da vs base student: accuracy 0.400 vs 0.250 (+0.150, 95% CI [+0.020, +0.273]; n=100 vs 100)" in text
    rsft = next(line for line in text.splitlines() if line.startswith("- rsft vs base student"))
    assert "(+0.057, 95% CI [-0.064, +0.182]" in rsft and rsft.endswith("no significant difference (the 95% "
                                                                          "interval includes 0).")
    assert "MAS 1750.0 vs distilled students" in text
    assert "## Notes\n\nran on a laptop" in text
    names = sorted(p.name for p in out["images"])
    assert names == ["cost_accuracy.png", "routes.png"]  # one n_agents and data size: no scaling plots
    for image in out["images"]:
        assert_png(image)
        assert f"](images/{image.name})" in text
    page = out["html"].read_text()
    assert '<img src="images/routes.png"' in page and "<td class=\"n\">0.700</td>" in page


def test_write_report_tables_for_perplexity_and_judge_scores(tmp_path):
    extra = pd.DataFrame([
        {"benchmark": "gsm8k", "model": "m", "protocol": "cot", "route": "rsft", "metric": metric, "value": value,
         "n": 5, "train_set": "gsm8k"}
        for metric, value in (("reasoning_perplexity", 7.25), ("judge_coherence", 3.5))
    ])
    text = write_report(pd.concat([summary_rows(), extra]), tmp_path, "T")["markdown"].read_text()
    assert "## Results: reasoning_perplexity" in text and "| gsm8k | rsft | 7.250 | 7.250 |" in text
    assert "## Results: judge_coherence" in text and "| gsm8k | rsft | 3.500 | 3.500 |" in text
    assert "###" not in text.split("## Results")[1]  # rows without setting columns do not split the tables


def test_write_report_splits_tables_by_setting(tmp_path):
    out = write_report(scaling_rows(), tmp_path, "Scaling")
    text = out["markdown"].read_text()
    assert "### n_agents=10, data_size=400" in text and "### n_agents=5, data_size=100" in text
    assert sorted(p.name for p in out["images"]) == [
        "agents_scaling.png", "cost_accuracy.png", "data_scaling.png", "routes.png"]
    assert "No table" not in text


def test_report_shows_ungradable_and_truncated_answers_and_warns_above_5_percent(tmp_path):
    """Ungradable and truncated answers count as wrong in the accuracy; the report says how many
    there were per route and test set, and warns in the headline where more than 5% were."""
    summary = summary_rows()
    unread = []
    for row in summary[summary["metric"] == "accuracy"].itertuples(index=False):
        ungradable = 0.12 if (row.route, row.benchmark) == ("rsft", "math") else 0.02
        truncated = 0.30 if (row.route, row.benchmark) == ("base", "gsm8k") else 0.0
        unread += [row._asdict() | {"metric": "ungradable_rate", "value": ungradable},
                   row._asdict() | {"metric": "truncated_rate", "value": truncated}]
    text = write_report(pd.concat([summary, pd.DataFrame(unread)]), tmp_path, "T")["markdown"].read_text()
    warnings = [line for line in text.splitlines() if line.startswith("- WARNING")]
    assert warnings == [
        "- WARNING: base on gsm8k: 30% of 50 answers are truncated and count as wrong in its accuracy.",
        "- WARNING: rsft on math: 12% of 50 answers are ungradable and count as wrong in its accuracy.",
    ]
    assert "### Ungradable and truncated answers (each counts as wrong in the accuracy)" in text
    table = text.split("### Ungradable and truncated answers")[1]
    assert "| rsft | math | 0.120 | 0.000 | 50 |" in table and "| base | gsm8k | 0.020 | 0.300 | 50 |" in table
    assert "WARNING" not in write_report(summary, tmp_path / "clean", "T")["markdown"].read_text()
