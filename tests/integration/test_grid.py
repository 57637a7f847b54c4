"""The grid flow on real Prefect: shared stages run once, a failing cell does not stop the rest,
the combined report holds every successful cell. Cheap cells: the scripted oracle teacher
evaluated single-agent and as a debate (stages ingest_eval -> teacher -> eval_teacher/eval_mas
-> report), so each cell yields real ``eval_summary`` rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
import yaml

from agentark_core.config_loader import ConfigError
from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k

pytestmark = pytest.mark.usefixtures("prefect_harness")

@pytest.fixture
def spec(tmp_path):
    answers = gsm8k_answers()
    data = write_gsm8k(tmp_path / "gsm8k.jsonl", with_reasoning=False)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "name": "grid-test",
        "stages": ["report"],
        "store": {"root": str(tmp_path / "store")},
        "teacher": {"model": "oracle", "backend": "tests.fake_backends:oracle",
                    "options": {"answers": answers, "wrong_every": 2}},
        "debate": {"rounds": 2, "consensus_stop": False},
        "eval": {"data": {"dataset": "gsm8k", "source": str(data), "split": "test", "limit": None},
                 "routes": [], "max_tokens": 32},
    }))
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"grid": {
        "base": "base.yaml",
        "axes": {"debate.n_agents": [2, 3], "eval.data.source": [str(data), "/nonexistent.jsonl"]},
        "max_concurrency": 2,
    }}))
    return path


def test_grid_shares_stages_records_failures_and_reports(spec, tmp_path):
    from flows.grid import grid, load_grid_spec

    loaded = load_grid_spec(spec)
    assert loaded["base"] == str(tmp_path / "base.yaml")
    result = grid(base_recipe=loaded["base"], axes=loaded["axes"], max_concurrency=loaded["max_concurrency"],
                  out_dir=str(tmp_path / "report"))
    cells = {(c["cell"]["debate.n_agents"], c["cell"]["eval.data.source"] != "/nonexistent.jsonl"): c
             for c in result["cells"]}
    assert len(cells) == 4 and result["failed"] == 2
    for n_agents in (2, 3):
        bad = cells[(n_agents, False)]
        assert bad["status"] == "failed" and "FileNotFoundError" in bad["error"] and "/nonexistent.jsonl" in bad["error"]
    good = [cells[(2, True)], cells[(3, True)]]
    assert all(c["status"] == "completed" for c in good)
    # stages not reading debate.n_agents have one key in both cells, and their body ran once
    for stage in ("ingest_eval", "teacher", "eval_teacher"):
        refs = [c["refs"][stage] for c in good]
        assert refs[0]["key"] == refs[1]["key"]
        if stage == "teacher":  # a failing cell may build it first: its independent stages still run
            assert sum(not r["reused"] for r in refs) <= 1
            assert [m["key"] for m in ArtifactStore(str(tmp_path / "store")).manifests("teacher")] == [refs[0]["key"]]
        else:
            assert sorted(r["reused"] for r in refs) == [False, True], stage
    assert good[0]["refs"]["eval_mas"]["key"] != good[1]["refs"]["eval_mas"]["key"]
    assert not any(c["refs"]["eval_mas"]["reused"] for c in good)

    for cell in good:
        rows = pd.DataFrame(cell["summary"])
        assert set(rows["route"]) == {"teacher", "mas"}
        assert (rows["n_agents"] == cell["cell"]["debate.n_agents"]).all() and (rows["train_set"] == "toy").all()
        assert rows.loc[rows["metric"] == "accuracy", "value"].notna().all()
    text = (tmp_path / "report" / "report.md").read_text()
    assert result["report"] == str(tmp_path / "report" / "report.md")
    assert "### n_agents=2" in text and "### n_agents=3" in text  # one results table per successful cell
    for cell in good:
        mas = next(r for r in cell["summary"] if r["route"] == "mas" and r["metric"] == "accuracy")
        assert f"| reference | mas | {mas['value']:.3f} |" in text
        assert f"| {cell['label']} | completed |" in text
    assert text.count("| failed |") == 2 and "Debate vs single teacher" in text
    assert _pipeline_parents(str(tmp_path / "base.yaml")) == 4 * [True]  # subflows of the grid run


def _pipeline_parents(recipe: str) -> list[bool]:
    """For each pipeline flow run of ``recipe``: whether it ran as a subflow."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async def go():
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"pipeline-{recipe}"])))
            return [r.parent_task_run_id is not None for r in runs]

    return asyncio.run(go())


def test_grid_report_into_the_store_and_cells_without_evaluation(tmp_path):
    from flows.grid import grid

    data = write_gsm8k(tmp_path / "gsm8k.jsonl")
    (tmp_path / "ingest.yaml").write_text("name: ingest-only\n")  # no base: the demo recipe (toy data options)
    result = grid(str(tmp_path / "ingest.yaml"), axes={"data.limit": [1, 2, 1]}, max_concurrency=3, overrides=[
        f"store.root={tmp_path / 'store'}", "stages=[ingest]", "data.dataset=gsm8k", f"data.source={data}"])
    assert [c["status"] for c in result["cells"]] == ["completed"] * 3 and result["failed"] == 0
    assert [c["refs"]["ingest"]["rows"] for c in result["cells"]] == [1, 2, 1]
    assert all(c["summary"] == [] for c in result["cells"])
    assert result["report"].startswith("file://") and "/grid/" in result["report"]
    text = Path(result["report"].removeprefix("file://")).read_text()
    assert text.count("| completed |") == 3 and "No headline comparison" in text


def test_a_grid_without_a_base_starts_from_the_demo_recipe(tmp_path):
    """As `agentark run` does: the defaults alone name no teacher, so every cell would fail."""
    from flows.grid import grid

    with pytest.raises(ConfigError, match=r"grid cell toy.seed=0: .*recipes/demo.yaml .*debate: n_agents must be >= 1"):
        grid(axes={"toy.seed": [0]}, overrides=[f"store.root={tmp_path}", "debate.n_agents=0"])


def test_grid_rejects_bad_axes_before_running(tmp_path):
    from flows.grid import grid, load_grid_spec

    with pytest.raises(ConfigError, match=r"grid cell debate.n_agents=0: .*n_agents must be >= 1"):
        grid(axes={"debate.n_agents": [2, 0]}, overrides=[f"store.root={tmp_path}"])
    with pytest.raises(ConfigError, match="grid cell debate.agents=2: .*unknown key 'debate.agents'"):
        grid(axes={"debate.agents": [2]}, overrides=[f"store.root={tmp_path}"])
    with pytest.raises(ConfigError, match=r"grid cell debate.temperature=-3: .*: debate: temperature must be >= 0"):
        grid(axes={"debate.temperature": [0.7, -3]}, overrides=[f"store.root={tmp_path}"])  # the whole recipe
    with pytest.raises(ConfigError, match="non-empty list"):
        grid(axes={"data.limit": []})
    bad = tmp_path / "grid.yaml"
    bad.write_text(yaml.safe_dump({"grid": {"axes": {"data.limit": [1]}, "cells": 3}}))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['cells'\]"):
        load_grid_spec(bad)
