"""Shards in worker processes with bounded memory (paper §3.2: a ~2M-trajectory log, shard by shard).

Labeling and extraction are pure CPU work per shard and shards are independent, so a log is
processed by a pool of processes. ``map_shards`` keeps at most ``max_in_flight`` shards
submitted at a time (so memory is bounded by a few shards, not the log) and yields results in
input order, which keeps a streamed output identical to the one-process run.

Example:
    >>> for out in map_shards(process_shard, shard_paths, workers=2):   # doctest: +SKIP
    ...     write(out)
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def map_shards(
    fn: Callable[[In], Out],
    items: Iterable[In],
    workers: int = 1,
    max_in_flight: int | None = None,
    start_method: str | None = None,
) -> Iterator[Out]:
    """``fn`` over ``items`` in order, in ``workers`` processes with bounded in-flight work.

    Args:
        fn: a picklable (module-level) function of one shard.
        items: the shards (or what names them, e.g. paths), read lazily.
        workers: processes; 1 runs everything here, in this process.
        max_in_flight: most shards submitted but not yet yielded (default ``2 * workers``).
        start_method: multiprocessing start method ("fork", "forkserver", "spawn"); None: the
            platform default.

    Returns:
        An iterator of ``fn(item)``, in the order of ``items``.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    limit = 2 * workers if max_in_flight is None else max_in_flight
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_in_flight must be None or an int >= 1, got {max_in_flight!r}")
    if workers == 1:
        yield from map(fn, items)
        return
    context = multiprocessing.get_context(start_method)
    pool = ProcessPoolExecutor(workers, mp_context=context)
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
