"""The agentark CLI as a user runs it (a real subprocess): bad input, artifact browsing, cached reruns."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentark_core.config_loader import to_dict
from agentark_core.project_files import DEMO_RECIPE
from agentark_core.recipe import Recipe, load_recipe
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore

REPO = Path(__file__).resolve().parents[3]


def agentark(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], check=False, cwd=REPO, capture_output=True,
                          text=True,
                          env={**clean, "PYTHONPATH": str(REPO), **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    recipe_path = root / "recipe.yaml"
    recipe_path.write_text(f"name: cli-test\nstages: [ingest]\nstore: {{root: {root / 'store'}}}\n"
                           "data: {dataset: toy, limit: 7, shard_size: 3}\n")
    recipe = load_recipe(recipe_path)
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, ArtifactStore(str(root / "store")),
                          progress=False)
    return recipe_path, root / "store", refs["ingest"]


@pytest.mark.parametrize("args, message", [
    (["run", "--set", "debate.n_agent=3"], "unknown key 'debate.n_agent'"),
    (["run", "--set", "debate.n_agents=three"], "expected int"),
    (["run", "nope.yaml"], "recipe file not found"),
    (["run", "--set", "data.dataset=nosuch", "--set", "stages=[ingest]"], "unknown dataset 'nosuch'"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    out = agentark(*args, env={"AGENTARK_STORE": str(tmp_path)})
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert message in out.stderr and lines[-1].startswith("error:"), out.stderr
    assert "Traceback" not in out.stderr


def test_artifacts_ls_and_show(committed):
    _, store, ref = committed
    listing = agentark("artifacts", "ls", "--stage", "ingest", "--store", str(store))
    assert listing.returncode == 0 and ref.key in listing.stdout
    shown = agentark("artifacts", "show", ref.key[:8], "--rows", "2", "--store", str(store))
    assert shown.returncode == 0, shown.stderr
    assert '"rows": 7' in shown.stdout and "first 2 of 7 rows" in shown.stdout
    missing = agentark("artifacts", "show", "abcdef12", "--store", str(store))
    assert missing.returncode == 2 and "no committed artifact with key 'abcdef12'" in missing.stderr


def test_fully_cached_rerun_starts_nothing(committed):
    recipe_path, _, ref = committed
    out = agentark("run", str(recipe_path), "--json")
    assert out.returncode == 0, out.stderr
    refs = json.loads(out.stdout.strip().splitlines()[-1])
    assert refs["ingest"]["key"] == ref.key and refs["ingest"]["reused"]
    assert "nothing to run" in out.stderr


def test_run_without_a_recipe_runs_the_embedded_demo(tmp_path):
    demo = load_recipe(DEMO_RECIPE)
    assert demo.data.limit != Recipe().data.limit  # so the row count tells the demo from bare defaults
    out = agentark("run", "--set", "stages=[ingest]", "--json", env={"AGENTARK_STORE": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    refs = json.loads(out.stdout.strip().splitlines()[-1])
    assert refs["ingest"]["rows"] == demo.data.limit
    shown = agentark("recipe", "show")
    assert shown.returncode == 0 and yaml.safe_load(shown.stdout) == to_dict(demo), shown.stderr


@pytest.mark.parametrize("environ, expected", [
    ({}, {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}),
    ({"PREFECT_SERVER_ANALYTICS_ENABLED": "true", "DO_NOT_TRACK": "0"},
     {"PREFECT_SERVER_ANALYTICS_ENABLED": "true", "DO_NOT_TRACK": "0"}),  # the user's settings stay
    ({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}),
])
def test_prefect_defaults_leave_explicit_settings_alone(environ, expected):
    from flows.cli import set_prefect_defaults

    set_prefect_defaults(environ)
    assert {k: environ.get(k) for k in expected} == expected
    assert ("DO_NOT_TRACK" in environ) == ("DO_NOT_TRACK" in expected)
    assert environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "120"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a terminal")
def test_first_run_in_a_terminal_shows_no_telemetry_notice(committed, tmp_path):
    recipe_path, _, _ = committed
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_API", "PREFECT_SERVER_ANALYTICS")) and k != "DO_NOT_TRACK"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "new-prefect-home")}
    command = shlex.join([sys.executable, "-m", "flows.cli", "run", str(recipe_path), "--json"])
    # under a pseudo-terminal: Prefect shows its notice only there
    out = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0 and '"ingest"' in out.stdout, out.stdout[-2000:]  # reused or not
    assert "anonymous usage data" not in out.stdout
