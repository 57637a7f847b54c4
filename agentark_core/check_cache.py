"""An on-disk memo for expensive, deterministic recipe checks, so a rerun of a checked recipe is quick.

Checking a recipe's ``train.*`` sections means importing the trainer configs they name (TRL,
transformers, peft: ~5 s of a ~6 s check on 2 cores), although the answer depends only on the
recipe and on code that rarely changes. :func:`memo` keeps a check's JSON result under a key made of

- the check's kind and its input (JSON),
- the bytes of every ``.py`` file under the given package folders (the project's own code), and
- the installed versions of the given distributions and the Python version,

so editing a config class, upgrading TRL or switching interpreters checks afresh. Only results are
kept, never the inputs' objects. The folder is ``$AGENTARK_CACHE_DIR``, else
``$XDG_CACHE_HOME/agentark`` or ``~/.cache/agentark``; ``AGENTARK_CACHE_DIR=off`` turns the memo
off, and an unwritable folder only costs the time (a debug log line, no error).

Example:
    >>> memo("demo", {"x": 1}, lambda: 2, roots=(), dists=())  # doctest: +SKIP
    2
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHE_ENV = "AGENTARK_CACHE_DIR"
# The distributions whose code the trainer configs run (their field lists and __post_init__ checks).
TRAINER_DISTS = ("trl", "transformers", "peft", "accelerate", "torch")
CORE_ROOT = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """The memo's folder, or None when ``$AGENTARK_CACHE_DIR`` is ``off``."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "false") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentark"


@functools.cache
def fingerprint(roots: tuple[str, ...], dists: tuple[str, ...]) -> str:
    """A digest of every ``.py`` file under ``roots`` (path and bytes), the versions of ``dists``
    (``-`` where not installed) and the Python version; computed once per process."""
    digest = hashlib.sha256(sys.version.encode())
    for root in map(Path, roots):
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for dist in dists:
        digest.update(f"{dist}={_version(dist)}\0".encode())
    return digest.hexdigest()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def memo(kind: str, payload: Any, compute: Callable[[], Any], *, roots: Iterable[Path | str],
         dists: Iterable[str]) -> Any:
    """``compute()``'s JSON result, from the memo when this ``kind`` + ``payload`` was computed before
    with the same code (``roots``) and packages (``dists``); computed and kept otherwise.

    A ``compute`` that raises is not kept: a failing check fails again, with its own message.
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    key = hashlib.sha256(json.dumps(
        [kind, payload, fingerprint(tuple(str(r) for r in roots), tuple(dists))],
        sort_keys=True, default=repr).encode()).hexdigest()
    path = folder / "checks" / kind / f"{key}.json"
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError):
        pass
    value = compute()
    _keep(path, value)
    return value


def _keep(path: Path, value: Any) -> None:
    """Write ``{"value": value}`` to ``path`` atomically; a folder that cannot be written is skipped."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump({"value": value}, handle)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        logger.debug("check memo not kept at %s: %s", path, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
