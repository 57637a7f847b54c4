"""Content fingerprints of local inputs named in a recipe (data files, model folders).

A recipe that points at ``/data/gsm8k.jsonl`` must get a new artifact key when the file
changes, not only when the path does. Small files are hashed whole; big files (model
weights) by name, size and first/last MiB, which is cheap and catches re-saves.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WHOLE_FILE_LIMIT = 64 * 2**20
EDGE = 2**20


def fingerprint(source: str | None) -> str | None:
    """Hash of a local file or folder's content; None for hub ids, URIs and empty values."""
    if not source or "://" in source:
        return None
    path = Path(source).expanduser()
    if not path.exists():
        return None
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if f != path else f.name.encode())
        h.update(_file_digest(f))
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> bytes:
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        if size <= WHOLE_FILE_LIMIT:
            h.update(fh.read())
        else:
            h.update(fh.read(EDGE))
            fh.seek(size - EDGE)
            h.update(fh.read(EDGE))
    return h.digest()
