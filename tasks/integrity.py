"""Integrity of committed artifacts: what a manifest must hold and what each shard must match.

A manifest records every shard's row count and SHA-256 (computed from the bytes written, so
no extra read). Readers check the manifest's fields, that the shard files present are exactly
``part-00000 .. part-{n_shards-1}``, and each shard's bytes and rows against the manifest
while reading them. A mismatch raises :class:`ArtifactCorrupt` naming the artifact, the shard
and how to recompute it, instead of handing changed or missing data downstream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from agentark_core.data.question import question_id


class ArtifactCorrupt(ValueError):
    """A committed artifact whose manifest or shards do not match what was committed."""


def recompute_hint(key: str) -> str:
    return f"remove it with `agentark artifacts rm {key}` and rerun to recompute it"


@dataclass(frozen=True)
class ShardDigest:
    """What the manifest records of one shard."""

    sha256: str
    rows: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_manifest(manifest: object, where: str) -> dict:
    """Return ``manifest`` if its integrity fields are well formed, else raise naming ``where``.

    Required: ``n_shards`` (int >= 0). Optional but checked when present: ``rows`` (int >= 0),
    ``shard_rows`` and ``shard_sha256`` (one entry per shard; rows summing to ``rows``).
    """
    def bad(what: str) -> ArtifactCorrupt:
        return ArtifactCorrupt(f"corrupt manifest {where}: {what}")

    if not isinstance(manifest, dict):
        raise bad(f"expected a JSON object, got {type(manifest).__name__}")
    n = manifest.get("n_shards")
    if not _is_count(n):
        raise bad(f"'n_shards' must be an integer >= 0, got {n!r}")
    rows = manifest.get("rows")
    if rows is not None and not _is_count(rows):
        raise bad(f"'rows' must be an integer >= 0, got {rows!r}")
    shard_rows = manifest.get("shard_rows")
    if shard_rows is not None:
        if not isinstance(shard_rows, list) or len(shard_rows) != n or not all(map(_is_count, shard_rows)):
            raise bad(f"'shard_rows' must list {n} row counts, got {shard_rows!r:.200}")
        if rows is not None and sum(shard_rows) != rows:
            raise bad(f"'rows' is {rows} but 'shard_rows' sum to {sum(shard_rows)}")
    for name in ("stage", "key", "uri", "recipe", "created_at"):
        if name in manifest and not isinstance(manifest[name], str):
            raise bad(f"{name!r} must be a string, got {manifest[name]!r:.80}")
    schema = manifest.get("schema")
    if schema is not None and not (isinstance(schema, dict) and isinstance(schema.get("name"), str)):
        raise bad(f"'schema' must be an object with a 'name', got {schema!r:.80}")
    hashes = manifest.get("shard_sha256")
    if hashes is not None and (not isinstance(hashes, list) or len(hashes) != n
                               or not all(isinstance(h, str) and len(h) == 64 for h in hashes)):
        raise bad(f"'shard_sha256' must list {n} SHA-256 hex digests")
    return manifest


def check_shard_files(manifest: dict, present: set[int], name: str) -> None:
    """The published shard indices must be exactly ``range(n_shards)``."""
    expected = set(range(manifest["n_shards"]))
    if present != expected:
        missing, extra = sorted(expected - present), sorted(present - expected)
        detail = "; ".join(part for part in (
            f"missing shard(s) {missing[:10]}" if missing else "",
            f"unexpected shard(s) {extra[:10]}" if extra else "") if part)
        raise ArtifactCorrupt(f"artifact {name}: manifest says {manifest['n_shards']} shard(s) but the folder has "
                              f"{len(present)}: {detail}; {recompute_hint(manifest.get('key', '?'))}")


def check_shard(manifest: dict, index: int, digest: ShardDigest, name: str, uri: str) -> None:
    """Shard ``index``'s bytes and rows must match what the manifest recorded at commit."""
    if index >= manifest["n_shards"]:
        raise ArtifactCorrupt(f"artifact {name} has {manifest['n_shards']} shard(s); shard {index} does not exist")
    hashes, rows = manifest.get("shard_sha256"), manifest.get("shard_rows")
    problem = ""
    if hashes is not None and hashes[index] != digest.sha256:
        problem = f"content changed since commit (sha256 {digest.sha256[:12]}…, manifest {hashes[index][:12]}…)"
    elif rows is not None and rows[index] != digest.rows:
        problem = f"has {digest.rows} rows, manifest says {rows[index]}"
    if problem:
        raise ArtifactCorrupt(f"artifact {name} shard {index} ({uri}) {problem}; "
                              f"{recompute_hint(manifest.get('key', '?'))}")


def check_question_ids(frame: pd.DataFrame, name: str) -> None:
    """Every ``question_id`` of a questions artifact must still be the hash of its question's text."""
    for row in frame.itertuples(index=False):
        expected = question_id(row.dataset, row.query, row.context, tuple(row.choices))
        if row.question_id != expected:
            raise ArtifactCorrupt(f"artifact {name}: question {row.question_id} no longer matches its text "
                                  f"(its content hashes to {expected}); {recompute_hint(name.rsplit('/', 1)[-1])}")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
