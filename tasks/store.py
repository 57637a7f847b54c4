"""Content-addressed artifact store on fsspec: local folder by default, ``s3://bucket/prefix`` via s3fs.

Layout (DESIGN.md, "Artifact store")::

    {root}/{stage}/{key}/part-00000.parquet ...   shards, each written to a temp name then published
    {root}/{stage}/{key}/files/...                 extra files (e.g. an HF checkpoint folder)
    {root}/{stage}/{key}/_manifest.json            written last: the commit marker
    {root}/{stage}/{key}/_lock.json                held while a run computes the artifact

Readers trust only committed artifacts (a manifest exists). Credentials are never stored:
s3fs reads them from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL) or from ``storage_options`` passed at run time.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
SHARD_RE = re.compile(r"part-(\d{5})\.parquet$")


class ArtifactNotFound(LookupError):
    """No committed artifact matches the stage/key asked for."""


def redact_uri(uri: str) -> str:
    """Drop any user:password@ from a URI so it can go into manifests and logs."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


class ArtifactStore:
    """Read and write artifacts under one root URI."""

    def __init__(self, root: str, storage_options: dict | None = None) -> None:
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        self.fs, self._root = fsspec.core.url_to_fs(root, **(storage_options or {}))
        self._root = self._root.rstrip("/")
        self.root_uri = redact_uri(self.fs.unstrip_protocol(self._root))
        if self.is_local:
            self.fs.makedirs(self._root, exist_ok=True)

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    # ---- paths ---------------------------------------------------------------------------
    def path(self, stage: str, key: str, name: str = "") -> str:
        base = f"{self._root}/{stage}/{key}"
        return f"{base}/{name}" if name else base

    def uri(self, stage: str, key: str, name: str = "") -> str:
        return redact_uri(self.fs.unstrip_protocol(self.path(stage, key, name)))

    # ---- shards --------------------------------------------------------------------------
    def write_shard(self, stage: str, key: str, index: int, df: pd.DataFrame) -> None:
        """Write shard ``index`` under a temporary name, then publish it atomically."""
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        self._publish(self.path(stage, key, shard_name(index)), buf.getvalue())

    def done_shards(self, stage: str, key: str) -> set[int]:
        """Indices of shards already published (temp files excluded)."""
        base = self.path(stage, key)
        if not self.fs.exists(base):
            return set()
        names = (p.rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False))
        return {int(m.group(1)) for n in names if (m := SHARD_RE.fullmatch(n))}

    def read_shard(self, stage: str, key: str, index: int) -> pd.DataFrame:
        with self.fs.open(self.path(stage, key, shard_name(index)), "rb") as fh:
            return pq.read_table(fh).to_pandas()

    def shard_rows(self, stage: str, key: str, index: int) -> int:
        """Row count from the Parquet footer, without reading the data."""
        with self.fs.open(self.path(stage, key, shard_name(index)), "rb") as fh:
            return pq.ParquetFile(fh).metadata.num_rows

    def iter_frames(self, stage: str, key: str) -> Iterator[pd.DataFrame]:
        """Committed artifact's shards in order, one frame at a time (bounded memory)."""
        manifest = self.read_manifest(stage, key)
        for index in range(manifest["n_shards"]):
            yield self.read_shard(stage, key, index)

    def read_frame(self, stage: str, key: str) -> pd.DataFrame:
        frames = list(self.iter_frames(stage, key))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ---- manifests -----------------------------------------------------------------------
    def is_committed(self, stage: str, key: str) -> bool:
        return self.fs.exists(self.path(stage, key, MANIFEST))

    def commit(self, stage: str, key: str, manifest: dict) -> None:
        """Publish the manifest last: from now on readers see the artifact."""
        data = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
        self._publish(self.path(stage, key, MANIFEST), data)

    def read_manifest(self, stage: str, key: str) -> dict:
        path = self.path(stage, key, MANIFEST)
        try:
            with self.fs.open(path, "rb") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            raise ArtifactNotFound(f"no committed artifact {stage}/{key} under {self.root_uri}") from None

    def manifests(self, stage: str | None = None) -> list[dict]:
        """All committed manifests (optionally of one stage), newest first."""
        pattern = f"{self._root}/{stage or '*'}/*/{MANIFEST}"
        out = []
        for path in self.fs.glob(pattern):
            with self.fs.open(path, "rb") as fh:
                out.append(json.loads(fh.read()))
        return sorted(out, key=lambda m: m.get("created_at", ""), reverse=True)

    def find(self, key_prefix: str) -> dict:
        """The manifest whose key starts with ``key_prefix`` (any stage); ambiguity is an error."""
        if not re.fullmatch(r"[0-9a-f]{4,64}", key_prefix):
            raise ArtifactNotFound(f"{key_prefix!r} is not an artifact key (4+ hex characters)")
        matches = self.fs.glob(f"{self._root}/*/{key_prefix}*/{MANIFEST}")
        if not matches:
            raise ArtifactNotFound(f"no committed artifact with key {key_prefix!r} under {self.root_uri}")
        if len(matches) > 1:
            keys = sorted(p.rsplit("/", 2)[-2] for p in matches)
            raise ArtifactNotFound(f"key prefix {key_prefix!r} is ambiguous: {', '.join(keys)}")
        with self.fs.open(matches[0], "rb") as fh:
            return json.loads(fh.read())

    # ---- files (checkpoints, reports) --------------------------------------------------------
    def put_dir(self, local_dir: str | Path, stage: str, key: str, name: str) -> str:
        """Upload a local folder to ``{artifact}/files/{name}``; returns its URI."""
        target = self.path(stage, key, f"files/{name}")
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
            self.fs.get(src + "/", str(dest) + "/", recursive=True)
            (dest / ".complete").touch()
        return str(dest)

    # ---- primitives -----------------------------------------------------------------------------
    def _publish(self, final_path: str, data: bytes) -> None:
        parent = final_path.rsplit("/", 1)[0]
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{final_path.rsplit('/', 1)[-1]}"
        self.fs.makedirs(parent, exist_ok=True)
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, final_path)

    def write_text(self, path: str, text: str, exclusive: bool = False) -> None:
        """Write a small file; ``exclusive`` fails with FileExistsError when it exists."""
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            with self.fs.open(path, "xb" if exclusive else "wb") as fh:
                fh.write(text.encode())
        except OSError as exc:
            # s3fs reports a failed If-None-Match as a generic OSError.
            if exclusive and "PreconditionFailed" in repr(getattr(exc, "__cause__", None)):
                raise FileExistsError(path) from exc
            raise

    def read_text(self, path: str) -> str | None:
        try:
            with self.fs.open(path, "rb") as fh:
                return fh.read().decode()
        except FileNotFoundError:
            return None

    def remove(self, path: str) -> None:
        try:
            self.fs.rm(path)
        except FileNotFoundError:
            pass


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
