"""Content-addressed artifact store on fsspec: local folder by default, ``s3://bucket/prefix`` via s3fs.

Layout (README, "Artifacts")::

    {root}/{stage}/{key}/part-00000.parquet ...   shards, each written to a temp name then published
    {root}/{stage}/{key}/files/...                 extra files (e.g. an HF checkpoint folder)
    {root}/{stage}/{key}/_manifest.json            written last: the commit marker
    {root}/{stage}/{key}/_lock.json                held while a run computes the artifact

Readers trust only committed artifacts (a manifest exists), and check what they read against
it (``tasks/integrity.py``). Credentials are never stored: s3fs reads them from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) or from ``storage_options`` passed
at run time. S3 calls have connect/read timeouts and a bounded retry (:data:`S3_CONFIG`), and a
failed call raises :class:`StoreError` naming the operation and the object.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.integrity import (
    ArtifactCorrupt,
    ShardDigest,
    check_manifest,
    check_shard,
    check_shard_files,
    recompute_hint,
    sha256_hex,
)
from tasks.store_io import StoreError, canonical_root, info_time, is_storage_error, redact_uri, store_error

__all__ = ["ArtifactNotFound", "ArtifactStore", "StoreError", "canonical_root", "info_time", "open_store",
           "redact_uri", "shard_name"]

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
TEMP_PREFIX = ".tmp-"
SHARD_RE = re.compile(r"part-(\d{5})\.parquet$")
KEY_PREFIX_RE = re.compile(r"[0-9a-f]{4,64}")
# botocore.client.Config for S3: a dead or frozen endpoint fails within about
# s3fs.retries x max_attempts x read_timeout instead of hanging.
S3_CONFIG = {"connect_timeout": 5, "read_timeout": 20, "retries": {"max_attempts": 2, "mode": "standard"}}
S3_FS_RETRIES = 2


class ArtifactNotFound(LookupError):
    """No committed artifact matches the stage/key asked for."""


class ArtifactStore:
    """Read and write artifacts under one root URI."""

    def __init__(self, root: str, storage_options: dict | None = None) -> None:
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        options = dict(storage_options or {})
        if urlsplit(root).scheme in ("s3", "s3a"):
            options["config_kwargs"] = {**S3_CONFIG, **options.get("config_kwargs", {})}
            # Own client per store: credentials and endpoint are read now (not from a cached
            # client of earlier settings), and listings cached by one store never go stale in another.
            options.setdefault("skip_instance_cache", True)
        self._secrets = [str(v) for k, v in options.items() if k in ("key", "secret", "token") and v]
        self._secrets += [os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if os.environ.get(k)]
        self._root = root
        with self._io("open store", ""):
            self.fs, self._root = fsspec.core.url_to_fs(root, **options)
        if hasattr(self.fs, "retries"):
            self.fs.retries = min(self.fs.retries, S3_FS_RETRIES)
        self._root = self._root.rstrip("/")
        self.root_uri = redact_uri(self.fs.unstrip_protocol(self._root))
        self._verified: dict[tuple[str, str], dict] = {}
        if self.is_local:
            self.fs.makedirs(self._root, exist_ok=True)

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    # ---- paths ---------------------------------------------------------------------------
    @property
    def root_path(self) -> str:
        """The root as the filesystem sees it (no protocol)."""
        return self._root

    def path(self, stage: str, key: str, name: str = "") -> str:
        base = f"{self._root}/{stage}/{key}"
        return f"{base}/{name}" if name else base

    def uri(self, stage: str, key: str, name: str = "") -> str:
        return redact_uri(self.fs.unstrip_protocol(self.path(stage, key, name)))

    # ---- shards --------------------------------------------------------------------------
    def write_shard(self, stage: str, key: str, index: int, df: pd.DataFrame) -> ShardDigest:
        """Write shard ``index`` under a temporary name, then publish it atomically; returns its digest."""
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        data = buf.getvalue()
        self._publish(self.path(stage, key, shard_name(index)), data)
        return ShardDigest(sha256_hex(data), len(df))

    def done_shards(self, stage: str, key: str) -> set[int]:
        """Indices of shards already published (temp files excluded)."""
        base = self.path(stage, key)
        with self._io("list", base):
            if not self.fs.exists(base):
                return set()
            names = [p.rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False)]
        return {int(m.group(1)) for n in names if (m := SHARD_RE.fullmatch(n))}

    def read_shard(self, stage: str, key: str, index: int, verify: bool = True) -> pd.DataFrame:
        """One shard; of a committed artifact (``verify``) checked against its manifest while read."""
        manifest = self.verified_manifest(stage, key) if verify else None
        data = self._read_bytes(self.path(stage, key, shard_name(index)), "read shard")
        table = pq.read_table(io.BytesIO(data))
        if manifest is not None:
            check_shard(manifest, index, ShardDigest(sha256_hex(data), table.num_rows), f"{stage}/{key}",
                        self.uri(stage, key, shard_name(index)))
        return table.to_pandas()

    def shard_digest(self, stage: str, key: str, index: int) -> ShardDigest:
        """SHA-256 and row count of a published shard (read once, e.g. shards of an earlier run)."""
        data = self._read_bytes(self.path(stage, key, shard_name(index)), "read shard")
        return ShardDigest(sha256_hex(data), pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)

    def iter_frames(self, stage: str, key: str) -> Iterator[pd.DataFrame]:
        """Committed artifact's shards in order, one frame at a time (bounded memory), each verified."""
        manifest = self.verified_manifest(stage, key)
        for index in range(manifest["n_shards"]):
            yield self.read_shard(stage, key, index)

    def read_frame(self, stage: str, key: str) -> pd.DataFrame:
        frames = list(self.iter_frames(stage, key))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ---- manifests -----------------------------------------------------------------------
    def is_committed(self, stage: str, key: str) -> bool:
        path = self.path(stage, key, MANIFEST)
        with self._io("check", path):
            return self.fs.exists(path)

    def commit(self, stage: str, key: str, manifest: dict) -> None:
        """Publish the manifest last: from now on readers see the artifact."""
        data = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
        self._publish(self.path(stage, key, MANIFEST), data)
        self._verified.pop((stage, key), None)

    def read_manifest(self, stage: str, key: str) -> dict:
        """The committed manifest, its integrity fields checked; unparsable -> :class:`ArtifactCorrupt`."""
        return self._load_manifest(self.path(stage, key, MANIFEST), f"{stage}/{key}")

    def verified_manifest(self, stage: str, key: str) -> dict:
        """The manifest, once per artifact and store also checked against the shard files present."""
        if (stage, key) not in self._verified:
            manifest = self.read_manifest(stage, key)
            check_shard_files(manifest, self.done_shards(stage, key), f"{stage}/{key}")
            self._verified[(stage, key)] = manifest
        return self._verified[(stage, key)]

    def manifests(self, stage: str | None = None) -> list[dict]:
        """All committed manifests (optionally of one stage), newest first.

        An unreadable manifest is listed as ``{"stage", "key", "status": "corrupt", "path", "error"}``
        so one bad artifact does not hide the others.
        """
        pattern = f"{self._root}/{stage or '*'}/*/{MANIFEST}"
        with self._io("list manifests", pattern):
            paths = self.fs.glob(pattern)
        out = []
        for path in paths:
            stage_name, key = path.rsplit("/", 3)[-3:-1]
            try:
                out.append(self._load_manifest(path, f"{stage_name}/{key}"))
            except ArtifactCorrupt as exc:
                out.append({"stage": stage_name, "key": key, "status": "corrupt",
                            "path": self.fs.unstrip_protocol(path), "error": str(exc)})
        return sorted(out, key=lambda m: m.get("created_at", ""), reverse=True)

    def find_key(self, key_prefix: str) -> tuple[str, str]:
        """(stage, key) of the one committed artifact whose key starts with ``key_prefix``."""
        if not KEY_PREFIX_RE.fullmatch(key_prefix):
            raise ArtifactNotFound(f"{key_prefix!r} is not an artifact key (4+ hex characters)")
        pattern = f"{self._root}/*/{key_prefix}*/{MANIFEST}"
        with self._io("list manifests", pattern):
            matches = self.fs.glob(pattern)
        if not matches:
            raise ArtifactNotFound(f"no committed artifact with key {key_prefix!r} under {self.root_uri}")
        if len(matches) > 1:
            keys = sorted(p.rsplit("/", 2)[-2] for p in matches)
            raise ArtifactNotFound(f"key prefix {key_prefix!r} is ambiguous: {', '.join(keys)}")
        stage, key = matches[0].rsplit("/", 3)[-3:-1]
        return stage, key

    def find(self, key_prefix: str) -> dict:
        """The manifest whose key starts with ``key_prefix`` (any stage); ambiguity is an error."""
        return self.read_manifest(*self.find_key(key_prefix))

    def remove_artifact(self, stage: str, key: str) -> None:
        """Delete the artifact's whole folder (manifest first, so readers never see a partial one)."""
        self.remove(self.path(stage, key, MANIFEST))
        with self._io("remove", self.path(stage, key)):
            if self.fs.exists(self.path(stage, key)):
                self.fs.rm(self.path(stage, key), recursive=True)
        self._verified.pop((stage, key), None)

    # ---- files (checkpoints, reports) --------------------------------------------------------
    def put_dir(self, local_dir: str | Path, stage: str, key: str, name: str) -> str:
        """Upload a local folder to ``{artifact}/files/{name}``; returns its URI."""
        target = self.path(stage, key, f"files/{name}")
        with self._io("create folder", target):
            self.fs.makedirs(target, exist_ok=True)
        for src in sorted(Path(local_dir).rglob("*")):
            if src.is_file():
                rel = src.relative_to(local_dir).as_posix()
                self._publish(f"{target}/{rel}", src.read_bytes())
        return self.fs.unstrip_protocol(target)

    def local_dir(self, stage: str, key: str, name: str, cache_root: str | Path) -> str:
        """A local path holding ``{artifact}/files/{name}``: the path itself on a local store,
        otherwise a download into ``cache_root`` (reused when already there)."""
        src = self.path(stage, key, f"files/{name}")
        if self.is_local:
            return src
        dest = Path(cache_root) / stage / key / name
        if not (dest / ".complete").exists():
            dest.mkdir(parents=True, exist_ok=True)
            with self._io("download", src):
                self.fs.get(src + "/", str(dest) + "/", recursive=True)
            (dest / ".complete").touch()
        return str(dest)

    # ---- primitives -----------------------------------------------------------------------------
    def _publish(self, final_path: str, data: bytes) -> None:
        """Write ``data`` to a temp name beside ``final_path``, then move it there (atomic locally)."""
        parent = final_path.rsplit("/", 1)[0]
        tmp = f"{parent}/{TEMP_PREFIX}{uuid.uuid4().hex}-{final_path.rsplit('/', 1)[-1]}"
        with self._io("write", final_path):
            self.fs.makedirs(parent, exist_ok=True)
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
            self.fs.mv(tmp, final_path)

    def write_text(self, path: str, text: str, exclusive: bool = False) -> None:
        """Write a small file whole: readers see the old content or the new, never a part.

        Locally the text goes to a temp file first, then is renamed (or hard-linked with
        ``exclusive``, which fails with FileExistsError when ``path`` exists); on S3 one PUT
        is atomic (``exclusive``: If-None-Match).
        """
        if self.is_local and not exclusive:
            return self._publish(path, text.encode())
        if self.is_local:
            return self._link_new(path, text.encode())
        with self._io("write", path):
            try:
                with self.fs.open(path, "xb" if exclusive else "wb") as fh:
                    fh.write(text.encode())
            except OSError as exc:
                # s3fs reports a failed If-None-Match as a generic OSError.
                if exclusive and "PreconditionFailed" in repr(getattr(exc, "__cause__", None)):
                    raise FileExistsError(path) from exc
                raise

    def _link_new(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        tmp = f"{parent}/{TEMP_PREFIX}{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}"
        with self._io("write", path):
            for attempt in range(3):  # a releasing run may remove the (empty) folder right after we made it
                os.makedirs(parent, exist_ok=True)
                try:
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            try:
                os.link(tmp, path)
            finally:
                os.unlink(tmp)

    def read_text(self, path: str) -> str | None:
        """The file's text, None if it does not exist; bytes that are not UTF-8 are replaced."""
        try:
            return self._read_bytes(path, "read").decode(errors="replace")
        except FileNotFoundError:
            return None

    def modified(self, path: str) -> float | None:
        """The file's modification time (seconds since the epoch), None if it does not exist."""
        with self._io("stat", path):
            try:
                return info_time(self.fs.info(path))
            except FileNotFoundError:
                return None

    def walk(self) -> dict[str, dict]:
        """Every file and folder under the root: path -> fsspec info (``type``, ``size``, time)."""
        with self._io("list", self._root):
            return self.fs.find(self._root, withdirs=True, detail=True)

    def remove_empty_dir(self, path: str) -> None:
        with self._io("remove folder", path):
            self.fs.rmdir(path)

    def remove(self, path: str) -> None:
        with self._io("remove", path):
            try:
                self.fs.rm(path)
            except FileNotFoundError:
                pass

    def _read_bytes(self, path: str, op: str) -> bytes:
        with self._io(op, path), self.fs.open(path, "rb") as fh:
            return fh.read()

    def _load_manifest(self, path: str, name: str) -> dict:
        stage, key = name.split("/", 1)
        try:
            raw = self._read_bytes(path, "read manifest")
        except FileNotFoundError:
            raise ArtifactNotFound(f"no committed artifact {name} under {self.root_uri}") from None
        where = f"{self.fs.unstrip_protocol(path)}"
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            raise ArtifactCorrupt(f"corrupt manifest {where}: not valid JSON ({exc}); {recompute_hint(key)}") from None
        check_manifest(manifest, where)
        if manifest.get("key", key) != key or manifest.get("stage", stage) != stage:
            raise ArtifactCorrupt(f"corrupt manifest {where}: names artifact {manifest.get('stage')}/{manifest.get('key')}, "
                                  f"not {name}; {recompute_hint(key)}")
        return manifest

    @contextmanager
    def _io(self, op: str, path: str) -> Iterator[None]:
        """Turn a storage failure into one :class:`StoreError` naming ``op`` and ``path``."""
        try:
            yield
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, StoreError):
            raise
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            where = redact_uri(self.fs.unstrip_protocol(path)) if path and hasattr(self, "fs") else self._root
            raise store_error(op, where, exc, self._secrets) from exc


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def open_store(root: str, credentials_block: str = "") -> ArtifactStore:
    """Open the store at ``root``; S3 credentials come from the environment, or from a Prefect
    Secret block (JSON with ``key``, ``secret``, optional ``endpoint_url``) named by
    ``credentials_block``. They are used in memory only, never written anywhere."""
    options: dict = {}
    if credentials_block:
        from prefect.blocks.system import Secret

        secret = Secret.load(credentials_block).get()
        if not isinstance(secret, dict) or not {"key", "secret"} <= set(secret):
            raise ValueError(f"Prefect Secret block {credentials_block!r} must hold JSON with 'key' and 'secret'")
        options = {"key": secret["key"], "secret": secret["secret"]}
        if secret.get("endpoint_url"):
            options["client_kwargs"] = {"endpoint_url": secret["endpoint_url"]}
    return ArtifactStore(root, storage_options=options)
