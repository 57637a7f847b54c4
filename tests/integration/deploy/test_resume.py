"""A pipeline run killed mid-way (SIGKILL, after ingest committed, during the debate) is resumed
by rerunning the same recipe: committed stages are reused, published debate shards are kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from agentark_core.recipe import load_recipe
from tasks.runner import plan_keys
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.integration.deploy.conftest import REPO, oracle_sections, prefect_server, write_recipe


def slow_teacher_sections() -> dict:
    sections = oracle_sections()
    sections["teacher"]["backend"] = "tests.integration.deploy.slow_backend:slow_oracle"
    sections["teacher"]["options"]["delay_s"] = 1.0
    return sections


def test_killed_pipeline_resumes_with_committed_stages_reused(tmp_path):


    recipe = write_recipe(tmp_path / "work", ["debate"], **slow_teacher_sections())
    store = ArtifactStore(str(tmp_path / "work" / "store"))
    home = tmp_path / "prefect"
    with prefect_server(home) as info:
        env = {**os.environ, "PREFECT_API_URL": info["api_url"], "PYTHONPATH": str(REPO)}
        child = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(recipe), "--json"], cwd=REPO, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            debate_key = wait_for_debate_shard(store, recipe, child)
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        published = set(store.done_shards("debate", debate_key))
        assert store.manifests("ingest") and not store.is_committed("debate", debate_key)
        assert 1 <= len(published) < 4

        rerun = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(recipe), "--json"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300, check=True)
        refs = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert refs["ingest"]["reused"] and refs["teacher"]["reused"]
    assert not refs["debate"]["reused"] and refs["debate"]["key"] == debate_key
    manifest = store.read_manifest("debate", debate_key)
    assert {int(i) for i in manifest["timings"]["computed_shard_s"]} == set(range(4)) - published
    assert sorted(store.read_frame("debate", debate_key)["question_id"].unique()) == sorted(
        store.read_frame("ingest", refs["ingest"]["key"])["question_id"])


def wait_for_debate_shard(store: ArtifactStore, recipe_path, child: subprocess.Popen, timeout_s: float = 150) -> str:
    """The debate key once the child has published a debate shard (ingest is committed by then)."""
    recipe = load_recipe(recipe_path, [])
    key = plan_keys(pipeline_order(recipe, ["debate"]), recipe)["debate"]
    deadline = time.monotonic() + timeout_s
    while not store.done_shards("debate", key):
        assert child.poll() is None, "the pipeline subprocess exited before it could be killed"
        assert time.monotonic() < deadline, "no debate shard published in time"
        time.sleep(0.2)
    return key
