"""Debate fan-out: the pipeline (recipe ``fanout.deployment``) sends shard groups to deployment flow
runs on a process worker, then commits once; the artifact equals the in-process fan-out's
(scripted oracle teacher, no model)."""

from __future__ import annotations

import pandas as pd
import pytest

from agentark_core.recipe import load_recipe
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.integration.deploy.conftest import (
    deployed,
    in_subprocess,
    on_server,
    oracle_sections,
    prefect_server,
    worker,
    write_recipe,
)

pytestmark = pytest.mark.slow  # ~1 min: server, deploy, worker, two flow-run subprocesses

FANOUT = """
import json
from flows.fanout import debate_fanout
print(json.dumps(debate_fanout(recipe="{recipe}", deployment="{deployment}", shards_per_run=2, timeout_s=180)))
"""
PIPELINE = """
import json
from flows.pipeline import pipeline
overrides = ["fanout.deployment={deployment}", "fanout.shards_per_run=2"]
print(json.dumps(pipeline(recipe="{recipe}", overrides=overrides)["debate"]))
"""


def upstreams_committed(recipe_path) -> ArtifactStore:
    """Commit ingest + teacher (debate's inputs) without Prefect."""
    recipe = load_recipe(recipe_path, [])
    store = ArtifactStore(recipe.store.root)
    run_in_process(pipeline_order(recipe, ["debate"])[:-1], recipe, store, progress=False)
    return store


def test_fanout_through_a_deployment_matches_in_process(tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from flows.fanout import shard_groups

    remote_recipe = write_recipe(tmp_path / "remote", ["debate"], **oracle_sections())
    local_recipe = tmp_path / "local.yaml"  # same data file, another store
    local_recipe.write_text(remote_recipe.read_text().replace(str(tmp_path / "remote" / "store"),
                                                              str(tmp_path / "local-store")))
    remote_store, local_store = upstreams_committed(remote_recipe), upstreams_committed(local_recipe)
    home = tmp_path / "prefect"
    with prefect_server(home) as info:
        deployed(info, home, names=["debate-shard-group/default"])
        with worker(info["api_url"], home, pool="agentark-gpu"):
            remote = in_subprocess(info["api_url"], PIPELINE.format(recipe=remote_recipe,
                                                                    deployment="debate-shard-group/default"))
        local = in_subprocess(info["api_url"], FANOUT.format(recipe=local_recipe, deployment=""))
        group_runs = on_server(info["api_url"], lambda c: c.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_="debate-shards-"))))

    assert remote["key"] == local["key"] and not remote["reused"] and remote["rows"] == local["rows"]
    manifest = remote_store.read_manifest("debate", remote["key"])
    assert manifest["n_shards"] == 4
    # 2 groups through the deployment + 2 in process, all completed
    assert sorted(r.state.name for r in group_runs) == ["Completed"] * 4
    assert sum(r.deployment_id is not None for r in group_runs) == 2
    columns = [c for c in remote_store.read_frame("debate", remote["key"]).columns if c != "latency_s"]
    pd.testing.assert_frame_equal(remote_store.read_frame("debate", remote["key"])[columns],
                                  local_store.read_frame("debate", local["key"])[columns])
    assert shard_groups([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="shards_per_run"):
        shard_groups([0], 0)
