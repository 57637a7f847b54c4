"""Torch CPU threads for local generation: how many by default, and a block run on a given count.

The ``transformers`` backend generates on a CPU with ``threads`` torch threads (restored afterwards);
these two helpers choose and apply that count.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def default_threads() -> int:
    """Torch threads for CPU generation when ``threads`` is unset: torch's own count when
    ``OMP_NUM_THREADS`` sets it, else half the usable cores (1 on a 2-core machine), at most 4.

    Small-batch decoding splits tiny matrix products over threads that wait for each other at
    every op; when another process takes a core, the waits dominate (measured on a loaded 2-core
    machine: 2 threads 10x slower than 1). Half the cores leaves room for the rest of the pipeline.
    """
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores // 2))


@contextmanager
def torch_threads(threads: int | None):
    """Run the block on ``threads`` torch threads (None = unchanged), then restore the count.

    The count is process-wide: generators running at once in one process share it.
    """
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
