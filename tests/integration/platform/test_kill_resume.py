"""A 10-shard stage killed mid-run (real subprocess, SIGKILL) resumes with only the missing shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tasks.runner import compute_key, run_stage
from tasks.store import ArtifactStore
from tests.stage_fixtures import COUNT, CountRecipe, body_log

REPO = Path(__file__).resolve().parents[3]
CHILD = """
import sys
from tasks.runner import run_stage
from tasks.store import ArtifactStore
from tests.stage_fixtures import COUNT, CountRecipe
run_stage(COUNT, CountRecipe(n_shards=10, rows_per_shard=20, sleep_s=0.3, log_path=sys.argv[2]),
          ArtifactStore(sys.argv[1]), progress=False)
"""


def test_killed_run_resumes_missing_shards_only(tmp_path):
    root, log = str(tmp_path / "store"), str(tmp_path / "bodies.log")
    recipe = CountRecipe(n_shards=10, rows_per_shard=20, log_path=log)
    store = ArtifactStore(root)
    key = compute_key(COUNT, recipe, {})
    child = subprocess.Popen([sys.executable, "-c", CHILD, root, log], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while len(store.done_shards("count", key)) < 3:
        assert child.poll() is None, "child exited before it could be killed"
        assert time.monotonic() < deadline, "child never published 3 shards"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done_before = store.done_shards("count", key)
    assert not store.is_committed("count", key)
    assert 3 <= len(done_before) < 10
    first_run = body_log(log)

    ref = run_stage(COUNT, recipe, store, progress=False)
    resumed = body_log(log)[len(first_run):]
    assert sorted(resumed) == sorted(f"count:{i}" for i in range(10) if i not in done_before)
    assert ref.rows == 200

    clean = ArtifactStore(str(tmp_path / "clean"))
    run_stage(COUNT, CountRecipe(n_shards=10, rows_per_shard=20), clean, progress=False)
    pd.testing.assert_frame_equal(store.read_frame("count", key), clean.read_frame("count", key))
