"""Faults an operator meets (issue 21): unreadable locks, changed data under a committed artifact,
a corrupt manifest among good ones, leftovers of crashes, and an S3 endpoint that refuses, is gone
or hangs. Each must end in a clear error or be recovered from; nothing hangs, nothing reads wrong.

Kills at each named point of a commit live in ``test_kill_resume.py``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import signal
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from agentark_core.data.question import Question
from flows.cli import app
from tasks.integrity import ArtifactCorrupt
from tasks.lock import LOCK, ArtifactLock
from tasks.runner import ArtifactRef, Stage, StageContext, run_stage
from tasks.store import ArtifactStore, StoreError
from tests.servers import free_port
from tests.stage_fixtures import COUNT, CountRecipe


def committed_count(store: ArtifactStore, n_shards: int = 3) -> str:
    return run_stage(COUNT, CountRecipe(n_shards=n_shards, rows_per_shard=4), store, progress=False).key


# ---- locks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"{not json", b'{"heartbeat": "soon", "pid": 1}', b"\xff\xfe\x00",
                                     b'["a", "list"]'])
def test_unreadable_lock_is_taken_over_after_its_ttl(store, content):
    lock_path = store.path("count", "k" * 16, LOCK)
    store.fs.makedirs(lock_path.rsplit("/", 1)[0], exist_ok=True)
    store.fs.pipe(lock_path, content)
    lock = ArtifactLock(store, "count", "k" * 16, ttl_s=2.5, poll_s=0.1)
    started = time.monotonic()
    assert lock.acquire(timeout_s=30)
    waited = time.monotonic() - started
    lock.release()
    # judged by the file's time (S3 keeps whole seconds): younger than the TTL it is respected
    assert 1.0 <= waited < 20, waited
    assert not store.fs.exists(lock_path)


def test_old_empty_lock_does_not_block_a_run(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    recipe = CountRecipe(n_shards=2, rows_per_shard=2)
    from tasks.runner import compute_key

    lock_path = store.path("count", compute_key(COUNT, recipe, {}), LOCK)
    os.makedirs(os.path.dirname(lock_path))
    open(lock_path, "wb").close()
    os.utime(lock_path, (time.time() - 3600, time.time() - 3600))
    started = time.monotonic()
    assert run_stage(COUNT, recipe, store, progress=False, lock_ttl_s=300).rows == 4
    assert time.monotonic() - started < 10


def test_a_retry_in_the_same_process_takes_over_the_lock_a_failed_release_left(tmp_path, monkeypatch):
    """Prefect retries a failed stage in the same process: the lock its first attempt could not
    release (store down) names this live PID, yet must not make the retry wait for the TTL."""
    store = ArtifactStore(str(tmp_path / "store"))
    first = ArtifactLock(store, "count", "k" * 16, ttl_s=300, poll_s=0.05)
    assert first.acquire(timeout_s=5)
    with monkeypatch.context() as patch:
        patch.setattr(store, "read_text", lambda path: (_ for _ in ()).throw(StoreError("store: read failed")))
        with pytest.raises(RuntimeError, match="the stage failed"), first:
            raise RuntimeError("the stage failed")  # the body's error survives the failed release
    assert store.fs.exists(first.path)
    started = time.monotonic()
    assert ArtifactLock(store, "count", "k" * 16, ttl_s=300, poll_s=0.05).acquire(timeout_s=10)
    assert time.monotonic() - started < 5


# ---- integrity on read ---------------------------------------------------------------------------
def rewrite_shard(store: ArtifactStore, key: str, index: int, change) -> None:
    """Replace a committed shard by a still-valid Parquet file holding changed rows."""
    path = store.path("count", key, f"part-{index:05d}.parquet")
    frame = change(pq.read_table(io.BytesIO(store.fs.cat(path))).to_pandas())
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    store.fs.pipe(path, buf.getvalue())


def edit_manifest(store: ArtifactStore, key: str, edit) -> None:
    path = store.path("count", key, "_manifest.json")
    manifest = json.loads(store.fs.cat(path))
    store.fs.pipe(path, edit(manifest) if callable(edit) else edit)


def test_changed_shard_is_caught_on_read(store):
    key = committed_count(store)
    rewrite_shard(store, key, 1, lambda f: f.assign(gt=f["gt"].str.replace("1", "7")))
    with pytest.raises(ArtifactCorrupt, match=rf"count/{key} shard 1 .*content changed.*agentark artifacts rm {key}"):
        store.read_frame("count", key)
    store.read_shard("count", key, 0)  # the untouched shards still read


def test_dropped_rows_are_caught_even_without_hashes(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    key = committed_count(store)
    edit_manifest(store, key, lambda m: json.dumps({k: v for k, v in m.items() if k != "shard_sha256"}).encode())
    rewrite_shard(store, key, 2, lambda f: f.head(2))
    with pytest.raises(ArtifactCorrupt, match="shard 2 .*has 2 rows, manifest says 4"):
        store.read_frame("count", key)


@pytest.mark.parametrize("edit, message", [
    (lambda m: json.dumps({**m, "n_shards": 2}).encode(), "'shard_rows' must list 2 row counts"),
    (lambda m: json.dumps({**m, "n_shards": 2, "rows": 8, "shard_rows": m["shard_rows"][:2],
                           "shard_sha256": m["shard_sha256"][:2]}).encode(),
     r"manifest says 2 shard\(s\) but the folder has 3: unexpected shard\(s\) \[2\]"),
    (lambda m: json.dumps({**m, "n_shards": "3"}).encode(), "'n_shards' must be an integer >= 0, got '3'"),
    (lambda m: json.dumps({**m, "rows": 11}).encode(), "'rows' is 11 but 'shard_rows' sum to 12"),
    (lambda m: json.dumps({**m, "key": "0" * 16}).encode(), "names artifact count/0000000000000000"),
    (lambda m: json.dumps({**m, "schema": "questions"}).encode(), "'schema' must be an object with a 'name'"),
    (lambda m: b'{"stage": "count", "n_shards": 3', "corrupt manifest .*: not valid JSON"),
])
def test_tampered_manifest_is_caught(tmp_path, edit, message):
    store = ArtifactStore(str(tmp_path / "store"))
    key = committed_count(store)
    edit_manifest(store, key, edit)
    with pytest.raises(ArtifactCorrupt, match=message):
        store.read_frame("count", key)


def test_question_ids_are_recomputed_when_questions_are_read(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    rows = [Question("toy", "train", "math", f"What is {i} + 1?", str(i + 1)).to_row() for i in range(3)]
    rows[1]["query"] = "What is 9 + 1?"  # text changed, id kept: recommitted with fresh hashes
    digest = store.write_shard("ingest", "a" * 16, 0, pd.DataFrame(rows))
    store.commit("ingest", "a" * 16, {"stage": "ingest", "key": "a" * 16, "n_shards": 1, "rows": 3,
                                      "shard_rows": [3], "shard_sha256": [digest.sha256]})
    reader = Stage(name="reader", version="1", schema="questions", reads=(), plan=lambda c: 0,
                   run_shard=lambda c, i: None, inputs=("ingest",))
    ref = ArtifactRef("ingest", "a" * 16, store.uri("ingest", "a" * 16), "questions", 3)
    ctx = StageContext(reader, CountRecipe(), "b" * 16, store, {"ingest": ref})
    with pytest.raises(ArtifactCorrupt, match=f"question {rows[1]['question_id']} no longer matches its text"):
        ctx.input_frame("ingest")


# ---- listing and leftovers through the CLI -----------------------------------------------------------
def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_listing_survives_a_corrupt_manifest(tmp_path):
    root = tmp_path / "store"
    store = ArtifactStore(str(root))
    good, bad = committed_count(store, 2), committed_count(store, 3)
    edit_manifest(store, bad, b"{broken")
    code, out, _ = cli("artifacts", "ls", "--store", str(root))
    assert code == 0 and good in out and bad in out and "corrupt" in out
    assert sum(1 for line in out.splitlines() if "corrupt" in line) == 1
    code, _, err = cli("artifacts", "show", bad[:8], "--store", str(root))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "corrupt manifest " in err and "_manifest.json: not valid JSON" in err
    code, out, _ = cli("artifacts", "rm", bad[:8], "--store", str(root))
    assert code == 0 and not store.fs.exists(store.path("count", bad))
    assert [m["key"] for m in store.manifests()] == [good]


def test_store_gc_lists_then_deletes_leftovers(tmp_path):
    root = tmp_path / "store"
    store = ArtifactStore(str(root))
    key = committed_count(store, 2)
    folder = store.path("count", key)
    old = time.time() - 7200
    dead_holder = json.dumps({"run_id": "x", "host": "elsewhere", "pid": 1, "heartbeat": old})
    for name, text in ((".tmp-dead-part-00001.parquet", "x"), (LOCK, dead_holder)):
        with open(f"{folder}/{name}", "w") as fh:
            fh.write(text)
        os.utime(f"{folder}/{name}", (old, old))
    os.makedirs(store.path("debate", "f" * 16))  # a key folder a failed run left empty
    young = f"{folder}/.tmp-live-part-00000.parquet"  # a write in progress: kept
    open(young, "w").close()

    code, out, _ = cli("store", "gc", "--store", str(root))
    assert code == 0 and "dry run" in out and os.path.exists(f"{folder}/{LOCK}")
    code, out, _ = cli("store", "gc", "--yes", "--store", str(root))
    assert code == 0 and "removed 4" in out  # temp, lock, the empty key folder and its stage folder
    assert sorted(os.listdir(folder)) == [".tmp-live-part-00000.parquet", "_manifest.json",
                                          "part-00000.parquet", "part-00001.parquet"]
    assert not os.path.exists(store.path("debate", "f" * 16).rsplit("/", 1)[0])
    assert len(store.read_frame("count", key)) == 8


def test_store_gc_on_s3(s3_server):
    from tasks.store_gc import find_leftovers, remove_leftovers

    store = ArtifactStore(s3_server.new_root(), storage_options=s3_server.storage_options())
    key = committed_count(store, 2)
    dead = {"run_id": "x", "host": "elsewhere", "pid": 1, "heartbeat": time.time() - 7200}
    store.fs.pipe(store.path("count", key, ".tmp-dead-part-00001.parquet"), b"x")
    store.fs.pipe(store.path("count", key, LOCK), json.dumps(dead).encode())
    leftovers = find_leftovers(store, temp_age_s=0)
    assert sorted(item.kind for item in leftovers) == ["lock", "temp"]
    remove_leftovers(store, leftovers)
    names = sorted(p.rsplit("/", 1)[-1] for p in store.fs.ls(store.path("count", key), detail=False))
    assert names == ["_manifest.json", "part-00000.parquet", "part-00001.parquet"]
    assert find_leftovers(store, temp_age_s=0) == []


# ---- S3 endpoint faults -----------------------------------------------------------------------------
def test_s3_wrong_credentials_dead_endpoint_and_frozen_server(s3_server, monkeypatch):
    store = ArtifactStore(s3_server.new_root(), storage_options=s3_server.storage_options())
    key = committed_count(store, 1)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    code, _, err = cli("artifacts", "show", key, "--store", store.root_uri)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "list manifests" in err and "check AWS_ACCESS_KEY_ID" in err and "not-the-secret" not in err

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    code, _, err = cli("artifacts", "ls", "--store", store.root_uri)
    assert code == 2 and "store: list manifests" in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - started < 60

    quick = {**s3_server.storage_options(), "config_kwargs": {"read_timeout": 1, "connect_timeout": 1,
                                                              "retries": {"max_attempts": 1}}}
    os.kill(s3_server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="read manifest .*failed"):
            ArtifactStore(store.root_uri, storage_options=quick).read_manifest("count", key)
        assert time.monotonic() - started < 30  # bounded: timeouts x retries, never a hang
    finally:
        os.kill(s3_server.proc.pid, signal.SIGCONT)


def test_s3_server_stopping_mid_run_names_the_shard_write(s3_server):
    """The failure reported is the shard write that failed, not the lock release after it."""
    quick = {**s3_server.storage_options(), "config_kwargs": {"read_timeout": 1, "connect_timeout": 1,
                                                              "retries": {"max_attempts": 1}}}
    store = ArtifactStore(s3_server.new_root(), storage_options=quick)

    def freeze_on_second(ctx, index):
        if index == 1:
            os.kill(s3_server.proc.pid, signal.SIGSTOP)
        return COUNT.run_shard(ctx, index)

    stage = dataclasses.replace(COUNT, run_shard=freeze_on_second)
    try:
        with pytest.raises(StoreError, match=r"store: write s3://.*/part-00001\.parquet failed"):
            run_stage(stage, CountRecipe(n_shards=3, rows_per_shard=2), store, progress=False)
    finally:
        os.kill(s3_server.proc.pid, signal.SIGCONT)


def test_prefect_cache_key_follows_the_store(tmp_path):
    from agentark_core.config_loader import to_dict
    from agentark_core.recipe import load_recipe
    from tasks.prefect_stage import _cache_key

    def key_for(root: str) -> str:
        recipe = load_recipe(None, [f"store.root={root}"])
        return _cache_key(None, {"stage_name": "ingest", "key": "0" * 16, "recipe_data": to_dict(recipe)})

    assert key_for(str(tmp_path / "a")) != key_for(str(tmp_path / "b"))
    assert key_for(str(tmp_path / "a")) == key_for(str(tmp_path / "x" / ".." / "a"))  # one spelling per store


def test_debug_logs_never_carry_s3_credentials(s3_server, monkeypatch, caplog):
    store = ArtifactStore(s3_server.new_root(), storage_options=s3_server.storage_options())
    committed_count(store, 1)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    code, out, _ = cli("--debug", "artifacts", "ls", "--store", store.root_uri)
    assert code == 0 and "1 artifact(s)" in out
    assert caplog.records, "debug logging was not captured at all"
    assert s3_server.access_key not in caplog.text and s3_server.secret_key not in caplog.text
