"""The artifact store + stage runner suite, run against a local folder AND a real S3 server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from schemas import SchemaViolation
from tasks.runner import compute_key, run_stage
from tasks.store import ArtifactNotFound, ArtifactStore, StoreError
from tests.stage_fixtures import COUNT, UPPER, CountRecipe, body_log


def test_shard_roundtrip_and_commit_marker(store):
    frame = pd.DataFrame({"a": [1, 2], "b": [["x"], ["y", "z"]]})
    store.write_shard("s", "k1", 0, frame)
    assert store.done_shards("s", "k1") == {0}
    assert not store.is_committed("s", "k1")
    with pytest.raises(ArtifactNotFound):
        list(store.iter_frames("s", "k1"))  # readers never see uncommitted artifacts
    store.commit("s", "k1", {"n_shards": 1, "key": "k1"})
    back = store.read_frame("s", "k1")
    assert back["a"].tolist() == [1, 2]
    assert [list(v) for v in back["b"]] == [["x"], ["y", "z"]]
    names = [p.rsplit("/", 1)[-1] for p in store.fs.ls(store.path("s", "k1"), detail=False)]
    assert sorted(names) == ["_manifest.json", "part-00000.parquet"]  # no temp files left


def test_run_stage_computes_then_reuses(store, tmp_path):
    log = tmp_path / "bodies.log"
    recipe = CountRecipe(n_shards=3, rows_per_shard=4, log_path=str(log))
    ref = run_stage(COUNT, recipe, store, progress=False)
    assert (ref.rows, ref.reused) == (12, False)
    assert body_log(log) == ["count:0", "count:1", "count:2"]
    again = run_stage(COUNT, recipe, store, progress=False)
    assert (again.key, again.reused) == (ref.key, True)
    assert len(body_log(log)) == 3  # no stage body ran the second time
    manifest = store.read_manifest("count", ref.key)
    assert manifest["schema"] == {"name": "questions", "version": 1}
    assert manifest["shard_rows"] == [4, 4, 4] and manifest["rows"] == 12
    assert manifest["config"] == {"n_shards": 3, "rows_per_shard": 4}
    assert set(manifest["timings"]) >= {"started_at", "finished_at", "wall_s"}
    assert manifest["code"]["digest"]


def test_key_follows_only_declared_fields(store):
    base = compute_key(COUNT, CountRecipe(n_shards=3), {})
    assert compute_key(COUNT, CountRecipe(n_shards=3, sleep_s=1.0, log_path="/x"), {}) == base
    assert compute_key(COUNT, CountRecipe(n_shards=4), {}) != base


def test_downstream_reads_upstream_by_key(store, tmp_path):
    recipe = CountRecipe(n_shards=2, rows_per_shard=3, log_path=str(tmp_path / "log"))
    up = run_stage(COUNT, recipe, store, progress=False)
    down = run_stage(UPPER, recipe, store, {"count": up.key}, progress=False)
    frame = store.read_frame("upper", down.key)
    assert frame["query"].str.isupper().all() and len(frame) == 6
    assert store.read_manifest("upper", down.key)["inputs"]["count"]["key"] == up.key
    other = run_stage(COUNT, CountRecipe(n_shards=1, rows_per_shard=3), store, progress=False)
    assert run_stage(UPPER, recipe, store, {"count": other.key}, progress=False).key != down.key


def test_missing_input_is_a_clear_error(store):
    with pytest.raises(ArtifactNotFound, match="count"):
        run_stage(UPPER, CountRecipe(), store, {}, progress=False)
    with pytest.raises(ArtifactNotFound, match="no committed artifact count/deadbeef"):
        run_stage(UPPER, CountRecipe(), store, {"count": "deadbeef"}, progress=False)


def test_schema_violation_publishes_nothing(store):
    recipe = CountRecipe(n_shards=3, rows_per_shard=2, fail_on_shard=1)
    with pytest.raises(ValueError, match="shard 1") as info:
        run_stage(COUNT, recipe, store, progress=False)
    assert "task_type" in str(info.value)
    assert isinstance(info.value.__context__, SchemaViolation) or "failed" in str(info.value)
    key = compute_key(COUNT, recipe, {})
    assert not store.is_committed("count", key)
    assert store.done_shards("count", key) == {0}  # shard 1 never published


def test_racing_runs_compute_once(store, tmp_path):
    log = tmp_path / "bodies.log"
    recipe = CountRecipe(n_shards=4, rows_per_shard=2, sleep_s=0.2, log_path=str(log))
    with ThreadPoolExecutor(2) as pool:  # .result() re-raises a run's error here
        futures = [pool.submit(run_stage, COUNT, recipe, store, progress=False) for _ in range(2)]
        results = [f.result() for f in futures]
    assert {r.key for r in results} == {results[0].key}
    assert sorted(r.reused for r in results) == [False, True]
    assert sorted(body_log(log)) == [f"count:{i}" for i in range(4)]
    assert len(store.read_frame("count", results[0].key)) == 8


def test_find_and_list_manifests(store):
    ref = run_stage(COUNT, CountRecipe(n_shards=1, rows_per_shard=1), store, progress=False)
    assert store.find(ref.key[:6])["key"] == ref.key
    assert [m["key"] for m in store.manifests("count")] == [ref.key]
    with pytest.raises(ArtifactNotFound):
        store.find("0000000000")
    with pytest.raises(ArtifactNotFound, match="not an artifact key"):
        store.find("../etc")


def test_files_roundtrip(store, tmp_path):
    src = tmp_path / "ckpt"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text(json.dumps({"a": 1}))
    (src / "sub" / "w.bin").write_bytes(b"\x00\x01" * 100)
    store.put_dir(src, "train", "k9", "model")
    local = store.local_dir("train", "k9", "model", tmp_path / "cache")
    assert json.loads(Path(local, "config.json").read_text()) == {"a": 1}
    assert Path(local, "sub", "w.bin").read_bytes() == b"\x00\x01" * 100


def test_credentials_never_in_manifest(s3_server, tmp_path):
    store = ArtifactStore(s3_server.new_root(), storage_options=s3_server.storage_options())
    ref = run_stage(COUNT, CountRecipe(n_shards=1, rows_per_shard=1), store, progress=False)
    raw = store.fs.cat(store.path("count", ref.key, "_manifest.json")).decode()
    assert s3_server.secret_key not in raw and s3_server.access_key not in raw
    wrong = dict(s3_server.storage_options(), secret="not-the-secret")
    with pytest.raises(StoreError, match="read manifest .*_manifest.json failed") as refused:
        ArtifactStore(store.root_uri, storage_options=wrong).read_manifest("count", ref.key)
    assert s3_server.secret_key not in str(refused.value) and "not-the-secret" not in str(refused.value)


def test_shard_groups_then_commit(store, tmp_path):
    """Fan-out: workers publish shard groups, the final run only commits."""
    from tasks.runner import run_shards, stage_plan

    log = tmp_path / "bodies.log"
    recipe = CountRecipe(n_shards=5, rows_per_shard=2, log_path=str(log))
    key, n = stage_plan(COUNT, recipe, store, {})
    assert n == 5
    assert run_shards(COUNT, recipe, store, {}, [0, 1, 2], progress=False) == [0, 1, 2]
    assert run_shards(COUNT, recipe, store, {}, [2, 3, 4], progress=False) == [3, 4]
    assert not store.is_committed("count", key)
    ref = run_stage(COUNT, recipe, store, progress=False)
    assert ref.key == key and ref.rows == 10
    assert sorted(body_log(log)) == [f"count:{i}" for i in range(5)]
