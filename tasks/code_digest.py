"""Code digests for content keys: the bytes of every project module a stage's code imports.

A stage's key must change when any code it runs changes, so the digest is computed, not listed:
starting from the modules defining the stage's callables, the project-internal imports
(``agentark_core``, ``tasks``, ``schemas``) are followed transitively by parsing each source
file with ``ast``. Imports inside functions count too: the project imports heavy things lazily
inside functions, and those modules are the ones doing the work. Importing ``a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py``, so parent packages count as well.

One module is a leaf: the stage table (``tasks.stages``) imports every stage module to register
it. Following those imports would make each stage's key depend on every other stage's code,
which reaches a stage only through its input artifacts' keys. Its own bytes still count, and a
stage module importing another stage module directly (``evaluate`` -> ``debate``) is followed.

Closures and file digests are cached per process: a process runs the code it imported first, so
later edits on disk would not change what it computes either.

What this cannot see: code reached only by a name in data (a ``package.module:attr`` plugin path
in a recipe) and third-party packages (their versions are the environment's business).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

PROJECT_PACKAGES = ("agentark_core", "tasks", "schemas")
STAGE_TABLE = "tasks.stages"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def module_file(name: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The source file of project module ``name`` under ``root`` (None: not a project module)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``: importing a module runs its parent packages first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _source_file(name: str, root: Path) -> Path:
    """A project module's file under ``root``; a module outside the project (a stage defined in
    a test or a user's script) is located by Python and hashed too, and its project imports
    followed (its imports of other non-project modules are not)."""
    path = module_file(name, root)
    if path is None and name.split(".")[0] not in PROJECT_PACKAGES:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None)
        if origin is None and module is None:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec else None
        path = Path(origin) if origin and origin.endswith(".py") else None
    if path is None:
        raise ModuleNotFoundError(f"cannot find the source of module {name!r} for its code digest "
                                  f"(project packages {PROJECT_PACKAGES} under {root})")
    return path


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module named by a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _import_statements(body: list) -> Iterable[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in a statement list: in functions, classes, ifs, trys, loops.

    Only statement bodies are walked (imports are statements), which skips the expressions that
    make up most of a tree.
    """
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, attr, None)
            if isinstance(inner, list):
                yield from _import_statements(inner)


@functools.cache
def direct_imports(name: str, root: Path = PROJECT_ROOT) -> frozenset[str]:
    """Project modules that module ``name``'s source imports anywhere (module level or in functions)."""
    path = _source_file(name, root)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise SyntaxError(f"cannot compute the code digest: {path} does not parse: {exc}") from None
    found: set[str] = set()
    for node in _import_statements(tree.body):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            target = _absolute(node, name, path.name == "__init__.py")
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        for candidate in candidates:
            found.update(m for m in _with_parents(candidate) if module_file(m, root) is not None)
    found.discard(name)
    return frozenset(found)


@functools.cache
def import_closure(name: str, root: Path = PROJECT_ROOT) -> frozenset[str]:
    """Module ``name``, its parent packages and every project module they import, transitively."""
    _source_file(name, root)  # fails early, naming the module, if it has no source
    seen: set[str] = set()
    todo = [m for m in _with_parents(name) if module_file(m, root) is not None] + [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current != STAGE_TABLE:
            todo.extend(direct_imports(current, root) - seen)
    return frozenset(seen)


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest(modules: Iterable[str], root: Path = PROJECT_ROOT) -> str:
    """Hash of the source bytes of ``modules`` and everything they import in the project.

    Module names (not paths) enter the hash, so two copies of the same tree digest alike.
    """
    return _digest(frozenset(modules), root)


@functools.cache
def _digest(modules: frozenset[str], root: Path) -> str:
    closure = set().union(*(import_closure(name, root) for name in modules))
    h = hashlib.sha256()
    for name in sorted(closure):
        h.update(name.encode())
        h.update(_file_digest(_source_file(name, root)).encode())
    return h.hexdigest()[:16]
