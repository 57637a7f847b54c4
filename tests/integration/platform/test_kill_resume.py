"""A stage killed mid-run (real subprocess, SIGKILL) resumes with only the missing shards, whether
killed at a random moment or at each named point of a commit, and ends as the identical artifact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks.runner import compute_key, run_stage
from tasks.store import ArtifactStore
from tasks.store_gc import find_leftovers, remove_leftovers
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


# The child dies (SIGKILL, no cleanup) at one named point of the commit protocol. ``lock_created``
# is a lock file created but never written (a crash between create and write on a non-atomic
# writer, or an I/O error): the lock we write is atomic, so we plant the empty file ourselves.
POINT_CHILD = """
import json, os, signal, sys
from tasks.runner import run_stage
from tasks.store import ArtifactStore
from tests.stage_fixtures import COUNT, CountRecipe

root, point = sys.argv[1], sys.argv[2]
store = ArtifactStore(root, storage_options=json.loads(sys.argv[3]))
move, write_text = store.fs.mv, store.write_text
target = {"shard_temp_written": "part-00002.parquet", "shard_published": "part-00002.parquet",
          "manifest_temp_written": "_manifest.json", "manifest_published": "_manifest.json"}.get(point)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def mv(src, dst, *args, **kwargs):
    hit = dst.rsplit("/", 1)[-1] == target
    if hit and point.endswith("temp_written"):
        die()
    move(src, dst, *args, **kwargs)
    if hit:
        die()

def write(path, text, exclusive=False):
    if exclusive and point == "lock_created":
        store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        store.fs.pipe(path, b"")
        die()
    write_text(path, text, exclusive)
    if exclusive and point == "lock_written":
        die()

store.fs.mv, store.write_text = mv, write
run_stage(COUNT, CountRecipe(n_shards=4, rows_per_shard=5), store, progress=False)
"""
POINTS = ("lock_created", "lock_written", "shard_temp_written", "shard_published", "manifest_temp_written",
          "manifest_published")
LEFT_BEHIND = {"shard_temp_written": ["temp"], "manifest_temp_written": ["temp"], "manifest_published": ["lock"]}


@pytest.fixture(scope="module")
def clean_count(tmp_path_factory) -> tuple[ArtifactStore, str]:
    store = ArtifactStore(str(tmp_path_factory.mktemp("clean") / "store"))
    ref = run_stage(COUNT, CountRecipe(n_shards=4, rows_per_shard=5), store, progress=False)
    return store, ref.key


@pytest.mark.parametrize("backend", ["file", "s3"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_commit_point_resumes_to_the_identical_artifact(point, backend, tmp_path, clean_count, request):
    root, options = str(tmp_path / "store"), {}
    if backend == "s3":
        server = request.getfixturevalue("s3_server")
        root, options = server.new_root(), server.storage_options()
    child = subprocess.run([sys.executable, "-c", POINT_CHILD, root, point, json.dumps(options)], check=False,
                           cwd=REPO, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    store, recipe = ArtifactStore(root, storage_options=options), CountRecipe(n_shards=4, rows_per_shard=5)
    key = compute_key(COUNT, recipe, {})
    assert store.is_committed("count", key) == (point == "manifest_published")

    started = time.monotonic()
    ref = run_stage(COUNT, recipe, store, progress=False, lock_ttl_s=2.5)
    waited = time.monotonic() - started
    assert ref.rows == 20 and ref.reused == (point == "manifest_published")
    if point == "lock_created":  # an unreadable lock is judged by its file time (S3: whole seconds)
        assert waited >= 1.0
    assert waited < 30

    clean, clean_key = clean_count
    assert clean_key == key
    ours, theirs = store.read_manifest("count", key), clean.read_manifest("count", key)
    assert ours["shard_sha256"] == theirs["shard_sha256"] and ours["shard_rows"] == theirs["shard_rows"]
    pd.testing.assert_frame_equal(store.read_frame("count", key), clean.read_frame("count", key))

    leftovers = find_leftovers(store, temp_age_s=0, lock_ttl_s=2.5)
    assert sorted(item.kind for item in leftovers) == LEFT_BEHIND.get(point, [])
    remove_leftovers(store, leftovers)
    names = sorted(p.rsplit("/", 1)[-1] for p in store.fs.ls(store.path("count", key), detail=False))
    assert names == ["_manifest.json"] + [f"part-0000{i}.parquet" for i in range(4)]
