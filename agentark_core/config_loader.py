"""Strict, typed loading of nested dataclass configs from YAML, with dotted overrides.

A recipe is a tree of dataclasses. ``build(cls, data, source)`` turns plain YAML data into
that tree, refusing unknown keys, wrong types and missing required fields *before any work
starts*, with a message naming the key and the file:

    >>> build(Recipe, {"debate": {"n_agents": "five"}}, source="recipes/x.yaml")  # doctest: +SKIP
    ConfigError: recipes/x.yaml: debate.n_agents: expected int, got str 'five'

Overrides use the CLI's ``--set a.b=value`` form; values are parsed as YAML scalars
(``7`` -> int, ``true`` -> bool, ``[1, 2]`` -> list).

A section that passes fields to a config class defined elsewhere (a trainer's config) is typed
``Annotated[dict[str, Any], FieldsOf("pkg.module:Class")]``: it holds only the fields a recipe
states, each checked against that class's fields and their types, and the class keeps the defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import importlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml

MISSING_TYPE = dataclasses.MISSING.__class__
# PyYAML's safe loader in C (libyaml) when built with it: ~10x faster on recipe files, same result
# (planning a 140-cell grid parsed its recipe files 280 times: 10 of its 20 s in the Python parser).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A recipe or override is invalid; the message names the file and the dotted key."""


@dataclass(frozen=True)
class FieldsOf:
    """Marks a recipe mapping as "some init fields of ``target``" (``"pkg.module:Class"``).

    The mapping states only what differs, so the class's own defaults stay the one source of
    defaults. Each key must be an init field of the class other than ``exclude`` (fields the
    pipeline sets itself, e.g. ``output_dir``); each value is checked against that field's type.
    The class is imported only for a non-empty mapping: an untouched section never imports a trainer.
    """

    target: str
    exclude: tuple[str, ...] = ()

    def resolve(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (so a section can restate it without a copy)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is dataclasses.MISSING:
        raise TypeError(f"{cls.__name__}.{name} has no default")
    return f.default


def build(cls: type, data: Any, source: str = "<recipe>", prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or '<root>'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = _join(prefix, unknown[0])
        raise ConfigError(f"{source}: unknown key {key!r} (valid under {prefix or 'root'}: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], source, key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required field {key!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{source}: {prefix or 'root'}: {exc}") from exc


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is Unchecked:
        return value
    if origin is Annotated:
        spec = next((m for m in tp.__metadata__ if isinstance(m, FieldsOf)), None)
        return _coerce(args[0], value, source, key) if spec is None else _coerce_fields(spec, value, source, key)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{source}: {key}: {value!r} matches none of {tp}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key}: expected a list, got {type(value).__name__} {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {type(value).__name__} {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(val_tp, v, source, f"{key}.{k}") for k, v in value.items()}
    return _coerce_scalar(tp, value, source, key)


def _coerce_fields(spec: FieldsOf, value: Any, source: str, key: str) -> dict:
    """A ``FieldsOf`` mapping: known field names of the target class, values of the fields' types."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key}: expected a mapping, got {type(value).__name__} {value!r}")
    if not value:
        return {}
    known = field_spec(spec)
    names = known["names"]
    for name in value:
        if name in spec.exclude:
            raise ConfigError(f"{source}: unknown key {_join(key, str(name))!r}: set by the pipeline, not a recipe")
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"see the fields of {spec.target}"
            raise ConfigError(f"{source}: unknown key {_join(key, str(name))!r}: not a field of "
                              f"{known['class']}; {hint}")
    return {name: _coerce(decode_type(known["types"].get(name, "any")), v, source, _join(key, name))
            for name, v in value.items()}


def field_spec(spec: FieldsOf) -> dict:
    """``{"class", "names", "types"}`` of ``spec``'s target: its recipe-settable init fields and each
    one's type (:func:`encode_type`). Kept in the check memo (``check_cache``), so a recipe checked
    before is checked again without importing the class (a trainer config imports TRL)."""
    from agentark_core.check_cache import CORE_ROOT, TRAINER_DISTS, memo

    def compute() -> dict:
        cls = spec.resolve()
        names = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in spec.exclude]
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError, AttributeError):  # an annotation this interpreter cannot resolve:
            hints = {}  # the class checks its values itself when it is built
        return {"class": cls.__name__, "names": names,
                "types": {name: encode_type(hints.get(name, Any)) for name in names}}

    return memo("fields", [spec.target, list(spec.exclude)], compute, roots=(CORE_ROOT,), dists=TRAINER_DISTS)


BUILTIN_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict, "list": list, "none": type(None)}
OPAQUE = "opaque"


class Unchecked:
    """The decoded type of a field whose hint the loader does not model: its value is passed through
    and the config class checks it when it is built."""


def encode_type(tp: Any) -> Any:
    """A type hint as JSON that :func:`decode_type` turns back into what ``_coerce`` checks the same way:
    ``"int"``…, ``{"union": [...]}``, ``{"list"|"tuple"|"dict": item}``, ``{"literal": [...]}``,
    ``{"enum": name}`` (never imported: a plain YAML value is never an Enum member),
    ``{"class": "module:qualname"}`` (imported only when a recipe sets that field) or ``"opaque"``
    (:class:`Unchecked`)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any"
    if origin is Annotated:
        return encode_type(args[0])
    if origin in (Union, types.UnionType):
        return {"union": [encode_type(a) for a in args]}
    if origin is Literal:
        ok = all(isinstance(a, (str, int, float, bool, type(None))) for a in args)
        return {"literal": list(args)} if ok else OPAQUE
    if origin in (list, tuple):
        return {origin.__name__: encode_type(args[0] if args else Any)}
    if origin is dict:
        return {"dict": encode_type(args[1] if len(args) == 2 else Any)}
    for name, builtin in BUILTIN_TYPES.items():
        if tp is builtin:
            return name
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": tp.__name__}  # no YAML value is an instance of an Enum: nothing to import
    if isinstance(tp, type) and "<locals>" not in tp.__qualname__:
        return {"class": f"{tp.__module__}:{tp.__qualname__}"}
    return OPAQUE


@functools.cache
def _enum_stand_in(name: str) -> type:
    """A class named like an Enum field type that no plain YAML value is an instance of: what the Enum
    is to ``_coerce`` (a union with ``str`` takes the string), without importing its module."""
    return type(name, (), {})


def decode_type(code: Any) -> Any:
    """The type hint :func:`encode_type` wrote (``"opaque"`` becomes :class:`Unchecked`)."""
    if isinstance(code, str):
        return Any if code == "any" else BUILTIN_TYPES.get(code, Unchecked)
    (kind, arg), = code.items()
    if kind == "union":
        return Union[tuple(decode_type(a) for a in arg)]  # noqa: UP007 - built from a runtime tuple
    if kind == "literal":
        return Literal[tuple(arg)]
    if kind in ("list", "tuple"):
        return {"list": list, "tuple": tuple}[kind][decode_type(arg)]
    if kind == "dict":
        return dict[str, decode_type(arg)]
    if kind == "enum":
        return _enum_stand_in(arg)
    module, _, qualname = arg.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _coerce_scalar(tp: type, value: Any, source: str, key: str) -> Any:
    if not isinstance(tp, type):  # a typing construct this loader does not model: the config checks it
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: {key}: expected bool, got {type(value).__name__} {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{source}: {key}: expected int, got bool {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{source}: {key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"debate.n_agents=7"`` into (["debate", "n_agents"], 7)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. debate.n_agents=7")
    key, _, raw = text.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from exc
    return path, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return a copy of ``data`` with each ``a.b=v`` override set (intermediate mappings created)."""
    out = _deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def _deepcopy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    try:
        data = yaml.load(path.read_text(), Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping at the top level")
    return data


BASE_KEY = "base"


def load_layered(path: str | Path, _trail: tuple[Path, ...] = ()) -> dict:
    """Read a recipe file whose optional ``base:`` names another recipe it extends.

    ``base`` is a path relative to the file (or absolute); the base is read the same way (bases
    may chain) and the file's mappings are merged into it key by key, deep; any other value (a
    list too) replaces the base's. A file naming itself, directly or through its bases, is refused.

    Raises:
        ConfigError: a base that is not a string, not found, not a mapping, or a cycle, naming the files.
    """
    path = Path(path)
    data = load_yaml(path)
    if BASE_KEY not in data:
        return data
    base = data.pop(BASE_KEY)
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: expected a recipe path (relative to this file), got {base!r}")
    base_path = (path.parent / base).resolve()
    trail = (*_trail, path.resolve())
    if base_path in trail:
        cycle = " -> ".join(str(p) for p in (*trail, base_path))
        raise ConfigError(f"{path}: base: recipe bases form a cycle: {cycle}")
    if not base_path.is_file():
        raise ConfigError(f"{path}: base: recipe file {base_path} not found")
    return deep_merge(load_layered(base_path, trail), data)


def deep_merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``: mappings present in both merge recursively; other values of ``top`` win."""
    out = _deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = _deepcopy(value)
    return out


def to_dict(obj: Any) -> Any:
    """Dataclass tree -> plain JSON-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def select(obj: Any, dotted: str) -> Any:
    """Value at a dotted path of a dataclass tree, e.g. ``select(recipe, "debate.n_agents")``."""
    node = obj
    for part in dotted.split("."):
        if not hasattr(node, part):
            raise KeyError(f"config has no field {dotted!r}")
        node = getattr(node, part)
    return node
