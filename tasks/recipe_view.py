"""The recipe as a stage body sees it: only the fields the stage declares can be read.

A stage's key hashes the recipe fields in its ``reads``; a body reading any other field would
reuse a stale artifact when that field changes. ``StageContext`` therefore hands the body a
``DeclaredRecipe``: reading a declared field (or anything under a declared section) returns the
real value, walking towards a declared field returns another view, and anything else raises
``UndeclaredRecipeField`` naming the stage, the field and what it declares. Every stage test
that runs a stage body thus also checks its ``reads``.
"""

from __future__ import annotations

from typing import Any


class UndeclaredRecipeField(LookupError):
    """A stage body read a recipe field that is not in its ``reads`` (so not in its key)."""


def is_covered(dotted: str, declared: tuple[str, ...]) -> bool:
    """Whether ``dotted`` or one of its parent sections is declared."""
    return any(dotted == d or dotted.startswith(d + ".") for d in declared)


class DeclaredRecipe:
    """A read-only view of ``target`` (the recipe, or a section at ``path``) limited to ``declared``."""

    __slots__ = ("_declared", "_path", "_stage", "_target")

    def __init__(self, target: Any, declared: tuple[str, ...], stage: str, path: str = "") -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_declared", tuple(declared))
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy/pickle protocol probes: not recipe fields
            raise AttributeError(name)
        dotted = f"{self._path}.{name}" if self._path else name
        value = getattr(self._target, name)
        if is_covered(dotted, self._declared):
            return value
        if any(d.startswith(dotted + ".") for d in self._declared):
            return DeclaredRecipe(value, self._declared, self._stage, dotted)
        raise UndeclaredRecipeField(
            f"stage {self._stage!r} read recipe field {dotted!r}, which is not in its reads "
            f"{list(self._declared)}: declare it (it then enters the stage's key) or do not read it")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the recipe is read-only inside stage {self._stage!r} (tried to set {name!r})")

    def __repr__(self) -> str:
        return f"DeclaredRecipe({self._path or 'recipe'}, stage={self._stage!r}, reads={list(self._declared)})"
