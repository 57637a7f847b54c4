"""``agentark store gc``: find (and, when asked, delete) what crashed runs leave in a store.

Three kinds of leftovers, none of which any reader trusts, but which accumulate:

- ``temp``: ``.tmp-*`` files of writes killed before their publish, older than ``temp_age_s``
  (a younger one may belong to a write in progress);
- ``lock``: ``_lock.json`` files nobody alive holds (judged exactly as a waiting run would,
  ``ArtifactLock.is_stale``), e.g. left by a run killed after its commit;
- ``empty folder``: folders holding nothing once the above are gone (local stores; S3 has none).

Published shards of an uncommitted artifact are not leftovers: a rerun resumes from them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tasks.lock import LOCK, ArtifactLock
from tasks.store import TEMP_PREFIX, ArtifactStore, info_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leftover:
    kind: str  # "temp" | "lock" | "empty folder"
    path: str
    reason: str


def find_leftovers(store: ArtifactStore, temp_age_s: float = 3600.0, lock_ttl_s: float = 300.0) -> list[Leftover]:
    """Leftovers under the store's root, files first, then folders deepest first."""
    entries = store.walk()
    root = store.root_path
    now = time.time()
    found: list[Leftover] = []
    for path, info in sorted(entries.items()):
        if info["type"] != "file":
            continue
        name = path.rsplit("/", 1)[-1]
        if name.startswith(TEMP_PREFIX) and now - info_time(info) > temp_age_s:
            found.append(Leftover("temp", path, f"unpublished write, {(now - info_time(info)) / 3600:.1f} h old"))
        elif name == LOCK and _is_artifact_file(path, root):
            stage, key = path.rsplit("/", 3)[-3:-1]
            if ArtifactLock(store, stage, key, ttl_s=lock_ttl_s).is_stale():
                committed = "committed" if store.is_committed(stage, key) else "uncommitted"
                found.append(Leftover("lock", path, f"no live holder ({committed} artifact)"))
    removed = {f.path for f in found}
    holding = {parent for p, info in entries.items() if info["type"] == "file" and p not in removed
               for parent in _parents(p)}
    # Only local stores have folders of their own; an S3 "folder" is a prefix of the objects left.
    folders = [p.rstrip("/") for p, info in entries.items()
               if store.is_local and info["type"] == "directory" and p.rstrip("/") != root.rstrip("/")]
    for folder in sorted(folders, key=lambda p: p.count("/"), reverse=True):
        if folder not in holding:
            found.append(Leftover("empty folder", folder, "nothing left inside"))
    return found


def _parents(path: str) -> list[str]:
    """Every folder above ``path``: ``a/b/c`` -> ``a/b``, ``a``."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def remove_leftovers(store: ArtifactStore, leftovers: list[Leftover]) -> int:
    """Delete the leftovers (in the order found: files, then folders deepest first); returns how many."""
    for item in leftovers:
        if item.kind == "empty folder":
            store.remove_empty_dir(item.path)
        else:
            store.remove(item.path)
        log.info("removed %s %s", item.kind, item.path)
    return len(leftovers)


def _is_artifact_file(path: str, root: str) -> bool:
    """``{root}/{stage}/{key}/{name}``: directly inside an artifact folder."""
    return path.startswith(root.rstrip("/") + "/") and path[len(root.rstrip("/")) + 1:].count("/") == 2
