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

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from agentark_core.llm.types import Generator
from agentark_core.registry import Registry

BACKENDS: Registry[Callable[..., Generator]] = Registry("backend")


def lazy_backend(target: str) -> Callable[..., Generator]:
    """A factory building ``target`` (``"module:Class"``), imported only when a generator is built.

    The class's keyword arguments are the backend's options (see its docstring); ``check_options``
    reads them from the same ``target`` without building anything.
    """

    def factory(**options) -> Generator:
        return _load(target)(**options)

    factory.target = target
    factory.__doc__ = f"Options: the keyword arguments of ``{target}``."
    return factory


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


BACKENDS.register("transformers")(lazy_backend("agentark_core.llm.hf_backend:TransformersGenerator"))
BACKENDS.register("vllm")(lazy_backend("agentark_core.llm.vllm_backend:VLLMGenerator"))
BACKENDS.register("openai")(lazy_backend("agentark_core.llm.openai_backend:OpenAIGenerator"))


def check_options(backend: str, /, **options) -> None:
    """Check ``options`` against the backend's keyword arguments without building it (no model loaded):
    an option it does not take, or a required one missing, fails as :func:`make_generator` would.

    A factory that takes ``**options`` (a dotted-path plugin) checks its own options when it builds.

    Raises:
        KeyError: unknown backend. TypeError: naming the bad or missing option and the valid ones.
    """
    factory = BACKENDS.get(backend)
    target = getattr(factory, "target", None)
    signature = inspect.signature(_load(target) if target else factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    try:
        signature.bind(**options)
    except TypeError as err:
        valid = [n for n, p in signature.parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        raise TypeError(f"backend {backend!r}: {err}; its options: {', '.join(valid)}") from None


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
