"""Build a ``Generator`` from a backend name and keyword options (what a recipe's ``backend:`` section holds).

Every model call of the pipeline (debate, Sec. 3.1; verification, Sec. 3.2; evaluation, Sec. 4)
goes through a generator made here, so switching a stage from a local model to vLLM or a remote
server is a one-word recipe change. Backend modules are imported only when chosen, so asking
for ``openai`` never imports torch and asking for ``transformers`` never imports vllm.

Example:
    >>> gen = make_generator("openai", base_url="http://127.0.0.1:8000/v1", model="m")  # doctest: +SKIP
    >>> make_generator("tgi")
    Traceback (most recent call last):
    ...
    KeyError: "unknown backend 'tgi'; valid: openai, transformers, vllm"
"""

from __future__ import annotations

from typing import Callable

from agentark_core.llm.types import Generator
from agentark_core.registry import Registry

BACKENDS: Registry[Callable[..., Generator]] = Registry("backend")


@BACKENDS.register("transformers")
def _transformers(**options) -> Generator:
    """Options: model, dtype, device, micro_batch_size, show_progress, trust_remote_code."""
    from agentark_core.llm.hf_backend import TransformersGenerator

    return TransformersGenerator(**options)


@BACKENDS.register("vllm")
def _vllm(**options) -> Generator:
    """Options: model, tensor_parallel_size, enable_prefix_caching, gpu_memory_utilization,
    max_model_len, dtype, show_progress."""
    from agentark_core.llm.vllm_backend import VLLMGenerator

    return VLLMGenerator(**options)


@BACKENDS.register("openai")
def _openai(**options) -> Generator:
    """Options: base_url, model, api_key_env, max_concurrency, timeout_s, max_retries, backoff_s,
    guided_field, show_progress."""
    from agentark_core.llm.openai_backend import OpenAIGenerator

    return OpenAIGenerator(**options)


def make_generator(backend: str, /, **options) -> Generator:
    """Build the generator registered as ``backend`` with keyword-only ``options``.

    Args:
        backend: a registered name (``transformers``, ``vllm``, ``openai``) or ``pkg.module:factory``.
        **options: the backend's keyword options (see its class docstring).

    Returns:
        a ready ``Generator``.

    Raises:
        KeyError: unknown backend (the message lists the valid names).
        TypeError: an option the backend does not take.
    """
    factory = BACKENDS.get(backend)
    try:
        return factory(**options)
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        raise TypeError(f"backend {backend!r} got a bad option: {err}") from err
