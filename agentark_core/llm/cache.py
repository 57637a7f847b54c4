"""One generator per (backend, options) per process: every stage that runs a model shares its engine.

Issue 18 item 3. The debate, the LLM verifier, the DA diversity judge, student/teacher evaluation and the
reasoning-quality judge each ask for a generator; building one per stage (or per call) starts a vLLM
engine each time (about a minute) and, worse, a second engine on a GPU that the first still holds fails
for lack of memory. So every stage asks :func:`shared_generator` instead of ``make_generator``: a stage
that names the model, backend and options another stage already loaded gets that same object.

What may stay resident together is decided by each generator's share of the accelerator
(:func:`gpu_share`): a ``vllm`` engine claims its ``gpu_memory_utilization`` (vLLM reserves that fraction
of the card for itself), a ``transformers`` model the whole device (its memory is not bounded up front),
an ``openai`` client nothing (the model lives in a server). Building a generator first releases the least
recently used resident ones until the shares fit in 1.0, so two vLLM engines at 0.45 each (say a teacher
and its verifier) stay loaded side by side, while a 0.9 engine replaces the one before it. Releasing
calls the generator's ``close()`` (a vLLM engine frees its GPU memory only when its engine process stops)
and returns the cached memory of torch's allocator to the device.

A dotted-path plugin (``pkg.module:factory``) claims nothing unless its factory says otherwise with a
``gpu_share`` attribute: a float, or a function of its options returning one.

Stages that share a model must not run at the same time in one process (``tasks.runner.model_turn``
serialises model stages): releasing a generator another thread is using would pull it away mid-call.

Example:
    >>> first = shared_generator("openai", base_url="http://127.0.0.1:8000/v1", model="m")
    >>> shared_generator("openai", model="m", base_url="http://127.0.0.1:8000/v1") is first
    True
    >>> release_generators()
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agentark_core.llm.factory import BACKENDS, make_generator
from agentark_core.llm.types import Generator

logger = logging.getLogger(__name__)

FULL_DEVICE = 1.0


def _vllm_share(options: dict[str, Any]) -> float:
    from agentark_core.llm.vllm_backend import VLLMGenerator  # vllm itself is imported only when built

    default = inspect.signature(VLLMGenerator).parameters["gpu_memory_utilization"].default
    return float(options.get("gpu_memory_utilization", default))


GPU_SHARES: dict[str, Callable[[dict[str, Any]], float]] = {
    "vllm": _vllm_share,
    "transformers": lambda options: FULL_DEVICE,
    "openai": lambda options: 0.0,
}


def gpu_share(backend: str, options: dict[str, Any]) -> float:
    """The fraction of the accelerator a generator of ``backend`` built with ``options`` holds, in [0, 1].

    Raises:
        KeyError: unknown backend (the message lists the valid names).
        ValueError: a share outside [0, 1] (e.g. ``gpu_memory_utilization: 1.5``), naming the backend.
    """
    if backend in GPU_SHARES:
        share = GPU_SHARES[backend](options)
    else:
        declared = getattr(BACKENDS.get(backend), "gpu_share", 0.0)
        share = declared(options) if callable(declared) else declared
    if not 0.0 <= float(share) <= FULL_DEVICE:
        raise ValueError(f"backend {backend!r}: its share of the accelerator must be in [0, 1], got {share!r}")
    return float(share)


def cache_key(backend: str, options: dict[str, Any]) -> tuple[str, str]:
    """``(backend, options as canonical JSON)``: equal options in any key order give one key."""
    try:
        return backend, json.dumps(options, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"backend {backend!r}: options must be JSON values (recipe values): {err}") from None


class GeneratorCache:
    """Resident generators keyed by (backend, options), least recently used first.

    Args:
        build: ``(backend, **options) -> Generator``; :func:`make_generator` in the pipeline.
        capacity: the total share of the accelerator residents may hold (1.0: one card's worth).

    Attributes:
        builds: how many generators this cache has built (tests read it).
    """

    def __init__(self, build: Callable[..., Generator] = make_generator, capacity: float = FULL_DEVICE) -> None:
        self._build = build
        self.capacity = capacity
        self._resident: OrderedDict[tuple[str, str], tuple[Generator, float]] = OrderedDict()
        self._lock = threading.RLock()
        self.builds = 0

    def get(self, backend: str, /, **options) -> Generator:
        """The resident generator for ``backend`` + ``options``, built (after making room) if there is none."""
        key = cache_key(backend, options)
        with self._lock:
            if key in self._resident:
                self._resident.move_to_end(key)
                return self._resident[key][0]
            share = gpu_share(backend, options)
            self._make_room(share)
            generator = self._build(backend, **options)
            self.builds += 1
            self._resident[key] = (generator, share)
            logger.info("built a %s generator (accelerator share %.2f; %d resident)", backend, share,
                        len(self._resident))
            return generator

    def resident(self) -> list[Generator]:
        """The resident generators, least recently used first."""
        with self._lock:
            return [generator for generator, _ in self._resident.values()]

    def release(self, generator: Generator) -> bool:
        """Close and forget ``generator`` if it is resident; returns whether it was."""
        with self._lock:
            key = next((k for k, (g, _) in self._resident.items() if g is generator), None)
            if key is None:
                return False
            self._close(key)
            _free_accelerator_memory()
            return True

    def release_all(self) -> None:
        """Close and forget every resident generator (e.g. before training needs the whole GPU)."""
        with self._lock:
            for key in list(self._resident):
                self._close(key)
            _free_accelerator_memory()

    def _make_room(self, share: float) -> None:
        """Release the least recently used residents holding accelerator memory until ``share`` fits."""
        released = False
        while share > 0 and self._held() + share > self.capacity + 1e-9:
            key = next((k for k, (_, s) in self._resident.items() if s > 0), None)
            if key is None:
                break
            self._close(key)
            released = True
        if released:
            _free_accelerator_memory()

    def _held(self) -> float:
        return sum(share for _, share in self._resident.values())

    def _close(self, key: tuple[str, str]) -> None:
        generator, _ = self._resident.pop(key)
        logger.info("releasing the %s generator %s", key[0], type(generator).__name__)
        close = getattr(generator, "close", None)
        if close is not None:
            close()


def _free_accelerator_memory() -> None:
    """Collect the released objects and hand torch's cached CUDA blocks back (when torch is loaded)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


SHARED = GeneratorCache()


def shared_generator(backend: str, /, **options) -> Generator:
    """The process-wide generator for ``backend`` + ``options`` (see the module docstring)."""
    return SHARED.get(backend, **options)


def release_generators() -> None:
    """Close every process-wide generator."""
    SHARED.release_all()
