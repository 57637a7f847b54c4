"""``agentark run`` checks the whole recipe before anything runs (a real CLI subprocess): a bad value deep
in a trainer section or a stage's config, an unknown stage or plugin ends with exit code 2 and one line
naming the key and the file, and the store is never touched (no ingest, no toy bootstrap, no Prefect)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEMO = "recipes/demo.yaml"


def agentark(*args: str, store: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env = {**clean, "PYTHONPATH": str(REPO), "AGENTARK_STORE": str(store)}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.mark.parametrize("args, culprit", [
    (["--set", "train.grpo.bogus_field=1", "--set", "debate.temperature=-3"],
     "unknown key 'train.grpo.bogus_field': not a field of AgentArkGRPOConfig"),
    (["--set", "debate.temperature=-3"], "debate: temperature must be >= 0, got -3"),
    (["--set", "stages=[report, nosuch]"], "stages: unknown stage(s) ['nosuch']"),
    (["--only", "debat"], "--only: stage(s) ['debat'] not in the run of"),
    (["--set", "teacher.backend=nosuch_pkg.backends:make"],
     "teacher.backend: backend 'nosuch_pkg.backends:make' does not import"),
])
def test_a_bad_recipe_is_one_line_and_runs_nothing(tmp_path, args, culprit):
    store = tmp_path / "store"
    out = agentark("run", DEMO, *args, store=store)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert culprit in lines[0] and DEMO in lines[0], lines[0]
    assert not store.exists() or not any(store.iterdir()), sorted(store.rglob("*"))


def test_debug_shows_the_traceback(tmp_path):
    out = agentark("--debug", "run", DEMO, "--set", "train.prm.loss=nope", store=tmp_path / "store")
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "unknown prm loss 'nope'" in out.stderr
    assert "tasks/validate.py" in out.stderr
