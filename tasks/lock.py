"""A lease on one artifact key so that two runs racing on the same key do the work once.

The first run creates ``_lock.json`` exclusively, content and all in one step (a temp file
hard-linked into place locally, one If-None-Match PUT on S3), and refreshes its heartbeat
while it computes; the other run waits for the manifest and reuses the artifact. A lock whose
owner died (same host and its PID is gone, or no heartbeat for ``ttl_s``) is taken over, so a
killed run never blocks its rerun. A lock that cannot be read (empty, truncated, garbage, left
by some other writer) is judged by its file time: older than ``ttl_s`` means stale. Correctness
never rests on the lock alone: shards are deterministic and published atomically, so at worst
work is repeated, never corrupted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Self

from tasks.store import ArtifactStore

log = logging.getLogger(__name__)
LOCK = "_lock.json"
# Run ids of the locks this process holds now: a lock naming this process but none of these was
# left by an earlier attempt here (a release that failed), so a retry takes it over at once.
_HELD: set[str] = set()


class LockTimeout(TimeoutError):
    """Another live run held the key longer than we were willing to wait."""


class ArtifactLock:
    def __init__(self, store: ArtifactStore, stage: str, key: str, ttl_s: float = 300.0, poll_s: float = 0.5):
        self.store, self.stage, self.key = store, stage, key
        self.path = store.path(stage, key, LOCK)
        self.ttl_s, self.poll_s = ttl_s, poll_s
        self.run_id = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self, timeout_s: float | None = None) -> bool:
        """Own the key (True) or return False once another run has committed it."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        waited = False
        while True:
            if self.store.is_committed(self.stage, self.key):
                return False
            _HELD.add(self.run_id)  # before the file exists, so a thread beside us never judges it stale
            if self._try_create():
                self._start_heartbeat()
                return True
            _HELD.discard(self.run_id)
            holder = self._read()
            if self._take_over_if_stale(holder):
                continue
            if not waited:
                log.info("%s/%s is being computed by another run; waiting for it", self.stage, self.key)
                waited = True
            if deadline is not None and time.monotonic() > deadline:
                raise LockTimeout(f"{self.path} still held by {holder or 'an unreadable lock'} after {timeout_s}s")
            time.sleep(self.poll_s)

    def release(self) -> None:
        """Stop the heartbeat and delete the lock if it is still ours (and, locally, the key's and
        stage's folders if left empty: a run that failed before publishing leaves the store as it was)."""
        self._stop.set()
        _HELD.discard(self.run_id)
        if self._beat is not None:
            self._beat.join(timeout=5)
        holder = self._read()
        if holder is not None and holder.get("run_id") == self.run_id:
            self.store.remove(self.path)
            if self.store.is_local:
                key_folder = self.path.rsplit("/", 1)[0]
                for folder in (key_folder, key_folder.rsplit("/", 1)[0]):  # the key's, then the stage's
                    with contextlib.suppress(OSError):  # not empty, or another run just wrote into it
                        os.rmdir(folder)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.release()
            return
        try:  # the body's error is the one to report; a failed release only leaves a lock that expires
            self.release()
        except (OSError, ValueError) as release_error:
            log.warning("could not release the lock on %s/%s: %s", self.stage, self.key, release_error)

    # ---- internals --------------------------------------------------------------------------
    def _info(self) -> dict:
        return {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}

    def _try_create(self) -> bool:
        try:
            self.store.write_text(self.path, json.dumps(self._info()), exclusive=True)
        except FileExistsError:
            return False
        # Object stores that ignore If-None-Match: the last writer wins, so read back.
        holder = self._read()
        return holder is not None and holder.get("run_id") == self.run_id

    def _read(self) -> dict | None:
        """The holder's record; None when there is no lock or it cannot be read as one."""
        text = self.store.read_text(self.path)
        if not text:
            return None
        try:
            holder = json.loads(text)
            _ = float(holder["heartbeat"]), int(holder["pid"])  # the fields staleness is judged by
        except (ValueError, TypeError, KeyError):
            return None
        return holder

    def is_stale(self) -> bool:
        """Whether the lock file (if any) belongs to nobody alive: what ``acquire`` would take over."""
        holder = self._read()
        if holder is not None:
            return self._is_stale(holder)
        modified = self.store.modified(self.path)
        return modified is not None and time.time() - modified > self.ttl_s

    def _take_over_if_stale(self, holder: dict | None) -> bool:
        """Delete a stale lock (True); False while its holder may still be alive."""
        if holder is not None:
            if not self._is_stale(holder) or self._read() != holder:
                return False
            log.warning("taking over stale lock on %s/%s (owner %s)", self.stage, self.key, holder.get("pid"))
        else:
            modified = self.store.modified(self.path)
            if modified is None:
                return True  # gone meanwhile: try to create it again
            if time.time() - modified <= self.ttl_s or self._read() is not None:
                return False
            log.warning("taking over unreadable lock %s (unchanged for %.0f s)", self.path, time.time() - modified)
        self.store.remove(self.path)
        return True

    def _is_stale(self, holder: dict) -> bool:
        if time.time() - float(holder["heartbeat"]) > self.ttl_s:
            return True
        if holder.get("host") != socket.gethostname():
            return False
        pid = int(holder["pid"])
        return not _pid_alive(pid) or (pid == os.getpid() and holder.get("run_id") not in _HELD)

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.ttl_s / 4):
                holder = self._read()
                if holder is None or holder.get("run_id") != self.run_id:
                    log.warning("lost the lock on %s/%s", self.stage, self.key)
                    return
                try:
                    self.store.write_text(self.path, json.dumps(self._info()))
                except OSError as exc:  # a store hiccup: the next beat tries again
                    log.warning("lock heartbeat on %s/%s failed: %s", self.stage, self.key, exc)

        self._beat = threading.Thread(target=beat, name=f"lock-{self.key}", daemon=True)
        self._beat.start()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
