"""Data parallelism for our own training loops (the PRM's), in the processes ``accelerate launch`` starts.

``accelerate launch`` (``agentark_core.train.launch``) starts one process per GPU and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; TRL's trainers read them through
``Accelerator``. A loop of our own joins the same process group here: :func:`setup` (NCCL on CUDA,
gloo on the CPU, so the CPU tests run two real processes), :func:`wrap` puts the trainable model in
``DistributedDataParallel`` (gradients averaged across processes during backward), :func:`all_mean`
and :func:`all_sum` give every process the same loss-curve values, and rank 0 alone writes files
(:func:`is_main`, then :func:`barrier`). In one process every function is a no-op, so a loop that
uses them trains exactly as before.

Example:
    >>> device = setup()            # cuda:<LOCAL_RANK>, or cpu
    >>> model = wrap(prm, device)   # DDP when WORLD_SIZE > 1, else prm itself
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any


def world_size() -> int:
    """Processes of this training run (``WORLD_SIZE``; 1 outside a launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's index in the run (``RANK``; 0 outside a launch)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True in the one process that writes files and metrics (rank 0)."""
    return rank() == 0


def setup() -> Any:
    """Join the run's process group (once) and return this process's device.

    Returns:
        ``torch.device``: ``cuda:<LOCAL_RANK>`` when CUDA is available, else ``cpu``.
    """
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size() > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return device


def active() -> bool:
    """True when this process trains as one of several (a process group is up)."""
    import torch.distributed as dist

    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def wrap(model: Any, device: Any, unused_parameters: bool = True) -> Any:
    """``model`` in ``DistributedDataParallel`` over its parameters that require grad now (a new
    wrapper per curriculum stage, since the trainable set changes), or ``model`` itself in one process.

    Buffers are not broadcast each forward (the PRM's are constants such as rotary frequencies); the
    wrapper broadcasts rank 0's parameters once, when it is built. With ``unused_parameters`` (the PRM:
    a head the configured loss does not read) parameters a step leaves unused are tolerated, at one
    autograd-graph walk per step; a loss that reads every parameter (PPO's) passes False and skips it.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False, gradient_as_bucket_view=True,
                                   find_unused_parameters=unused_parameters)


def no_sync(model: Any, last: bool):
    """Skip the gradient all-reduce on micro-batches before the ``last`` one of an accumulation."""
    return model.no_sync() if active() and not last and hasattr(model, "no_sync") else nullcontext()


def all_mean(tensor: Any) -> Any:
    """The mean of ``tensor`` over every process (itself in one process)."""
    return all_sum(tensor) / world_size() if active() else tensor


def all_mean_row(row: dict) -> dict:
    """``row`` with each float value replaced by its mean over every process (a NaN anywhere stays NaN); other
    values as they are. Every process must pass the same keys. In one process, ``row`` itself."""
    keys = [k for k, v in row.items() if isinstance(v, float)]
    if not active() or not keys:
        return row
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
    means = all_mean(torch.tensor([row[k] for k in keys], dtype=torch.float64, device=device)).tolist()
    return row | dict(zip(keys, means))


def all_sum(tensor: Any) -> Any:
    """The sum of ``tensor`` over every process (itself in one process)."""
    if not active():
        return tensor
    import torch.distributed as dist

    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out


def all_max(tensor: Any) -> Any:
    """The elementwise maximum of ``tensor`` over every process (itself in one process)."""
    if not active():
        return tensor
    import torch.distributed as dist

    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out


def barrier() -> None:
    """Wait for every process (after rank 0 wrote something the others read, or before exit)."""
    if active():
        import torch.distributed as dist

        dist.barrier()
