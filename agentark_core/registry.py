"""Name -> plugin registries shared by every plugin kind (protocol, verifier, reward, metric, dataset).

Example:
    >>> METRICS = Registry("metric")
    >>> @METRICS.register("exact")
    ... def exact(pred, gt): return float(pred == gt)
    >>> METRICS.get("exact")("a", "a")
    1.0

Unknown names fail with the list of valid ones; a dotted path ``pkg.module:attr``
is accepted as an escape hatch for user plugins.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of plugins of one kind; registering a name twice is an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if ":" in name:
            module_name, _, attr = name.partition(":")
            return getattr(importlib.import_module(module_name), attr)
        raise KeyError(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}")

    def names(self) -> list[str]:
        return sorted(self._items)

    def registered(self) -> list[str]:
        """Names in registration order."""
        return list(self._items)

    def remove(self, name: str) -> None:
        """Unregister ``name`` (KeyError with the valid names when absent)."""
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}")
        del self._items[name]

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
