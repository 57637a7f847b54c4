"""Shard progress, reported by the stage runner and shown by whoever listens (Prefect's UI).

The runner knows nothing of Prefect: it calls ``started``/``advanced`` and a listener set for the
current context (``listening``) turns them into, e.g., a Prefect progress artifact. With no
listener both calls do nothing. Context variables follow each Prefect task into its thread, so
stages running concurrently report to their own listener.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class ShardListener(Protocol):
    def started(self, stage: str, key: str, total: int, done: int) -> None: ...

    def advanced(self, stage: str, key: str) -> None: ...


_LISTENER: ContextVar[ShardListener | None] = ContextVar("agentark_shard_listener", default=None)


@contextmanager
def listening(listener: ShardListener) -> Iterator[None]:
    """Send this context's shard progress to ``listener`` while the block runs."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def started(stage: str, key: str, total: int, done: int) -> None:
    """A stage begins computing: ``total`` shards, ``done`` of them already published."""
    listener = _LISTENER.get()
    if listener is not None:
        listener.started(stage, key, total, done)


def advanced(stage: str, key: str) -> None:
    """One more shard of the stage was published."""
    listener = _LISTENER.get()
    if listener is not None:
        listener.advanced(stage, key)
