"""The whole recipe checked before any stage runs: stage names, plugins and every planned stage's config.

``load_recipe`` already refuses unknown keys and wrong types. ``validate_recipe`` goes on to what
only the stages know: it plans the run (the ``stages`` targets and ``--only`` names must be stages
the run has), resolves the plugins the planned stages use (registered names and dotted
``package.module:name`` paths, which must import) and builds, for each planned stage, the core
config that stage builds when it runs: the debate protocol's config (temperature checks included),
the toy bootstrap config, the verifier, the step splitters, the evaluation decoding, each dataset's
and model backend's options (against what they take; nothing read or loaded) and each training
route's trainer config with a placeholder ``output_dir``. So ``--set debate.temperature=-3`` fails before ingest or the toy
bootstrap runs, and the CLI ends with exit code 2 and one line.

Nothing is written and no model is loaded; trainer configs are built in check mode
(``tasks.stages.train.CHECKING``), which starts no CUDA and changes nothing process-wide.

Example:
    >>> recipe = load_recipe("recipes/demo.yaml", ["debate.temperature=-3"])   # doctest: +SKIP
    >>> validate_recipe(recipe, "recipes/demo.yaml")                            # doctest: +SKIP
    ConfigError: recipes/demo.yaml: debate: temperature must be >= 0, got -3
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agentark_core.config_loader import ConfigError
from tasks.runner import Stage

TASKS_ROOT = Path(__file__).resolve().parent
# What the trainer configs get for ``output_dir`` when built only to be checked (never created).
PLACEHOLDER_OUTPUT = "<artifact>/files/model"
# Errors a config builder raises on a bad value (a dotted plugin path that does not import: ImportError).
BUILD_ERRORS = (ValueError, TypeError, KeyError, LookupError, ImportError, AttributeError)


def validate_recipe(recipe: Any, source: str = "<recipe>", only: Iterable[str] | None = None) -> list[Stage]:
    """Check the whole ``recipe`` for a run of its ``stages`` (limited to ``only``) before anything runs.

    Args:
        recipe: a loaded ``Recipe``.
        source: the recipe's file (and ``+ --set overrides``), named in every error.
        only: the ``--only`` stage names, if any.

    Returns:
        The planned stages in dependency order (all of them, ``only`` or not).

    Raises:
        ConfigError: one line naming the file, the recipe key and what is wrong.
    """
    from tasks.stages.train import CHECKING

    _check_models(recipe, source)
    order = _planned(recipe, source, list(only or []))
    token = CHECKING.set(True)
    try:
        for field, check in _checks(order):
            _run(check, recipe, source, field)
    finally:
        CHECKING.reset(token)
    return order


def _run(check: Callable[[Any], Any], recipe: Any, source: str, field: str) -> Any:
    try:
        return check(recipe)
    except BUILD_ERRORS as exc:  # ConfigError is a ValueError
        raise _named(exc, source, field) from exc


def _named(exc: Exception, source: str, field: str) -> ConfigError:
    """``exc`` as one line naming the file and the key: ``field``, or the key the message names itself
    (``recipe train.grpo: ...`` from a config builder, ``recipe 'name': eval.routes: ...``)."""
    detail = (exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)).strip()
    if detail.startswith(source):
        return exc if isinstance(exc, ConfigError) else ConfigError(detail)
    if detail.startswith("recipe ") and ": " in detail:
        head, rest = detail.removeprefix("recipe ").split(": ", 1)
        key, sep, tail = rest.partition(": ")
        if not head.startswith("'"):  # "recipe train.grpo: ..."
            field, detail = head, rest
        elif sep and re.fullmatch(r"[\w.\[\]]+", key):  # "recipe 'demo': eval.routes: ..."
            field, detail = key, tail
        else:
            detail = rest
    return ConfigError(f"{source}: {field}: {detail}")


def _check_models(recipe: Any, source: str) -> None:
    """``toy:<role>`` model names must name a toy model (the stage plan depends on them)."""
    from tasks.stages.models import toy_role  # wherever the model stages take it from

    for role in ("teacher", "student"):
        _run(lambda r, role=role: toy_role(getattr(r, role).model), recipe, source, f"{role}.model")


def _planned(recipe: Any, source: str, only: list[str]) -> list[Stage]:
    """The run's stages in dependency order; unknown ``stages`` / ``--only`` names fail with the valid ones."""
    from tasks.stages import STAGES, pipeline_order

    unknown = [name for name in recipe.stages if name not in STAGES]
    if unknown:
        raise ConfigError(f"{source}: stages: unknown stage(s) {unknown}; valid: {', '.join(STAGES.names())}")
    order = _run(lambda r: pipeline_order(r, r.stages), recipe, source, "stages")
    planned = [stage.name for stage in order]
    outside = [name for name in only if name not in planned]
    if outside:
        raise ConfigError(f"--only: stage(s) {outside} not in the run of {source} (stages: "
                          f"{list(recipe.stages)}); valid: {', '.join(planned)}")
    return order


def _checks(order: list[Stage]) -> list[tuple[str, Callable[[Any], Any]]]:
    """The (recipe key, check) pairs of the planned stages, each once: a route's training stage
    builds the route's config (``Route.config``), and any stage gets the checks of the keys it
    reads (or of fields under them)."""
    from tasks.stages.routes import ROUTES, check_launch

    routes = {ROUTES.get(name).stage: ROUTES.get(name) for name in ROUTES.names()}
    table = stage_checks()
    wanted: list[tuple[str, Callable[[Any], Any]]] = []
    for stage in order:
        if stage.name in routes:
            route = routes[stage.name]
            wanted.append((route.reads[0] if route.reads else stage.name,
                           lambda r, route=route: route_config_checked(route, r)))
            wanted.append(("train.launch", lambda r, route=route: check_launch(route, r)))
        for field, check in table:
            reads_it = any(r == field or r.startswith(field + ".") or field.startswith(r + ".")
                           for r in stage.reads)
            if reads_it and (field, check) not in wanted:
                wanted.append((field, check))
    return wanted


def route_config_checked(route: Any, recipe: Any) -> None:
    """Build ``route``'s trainer config from ``recipe`` (its checks run), once per recipe and code: the
    passing result is kept in the check memo (``agentark_core.check_cache``), since building a trainer
    config imports TRL and transformers (~5 s) while the answer depends only on the recipe, the
    project's code and those packages' versions."""
    from agentark_core.check_cache import CORE_ROOT, TRAINER_DISTS, memo

    def build() -> bool:
        route.config(recipe, PLACEHOLDER_OUTPUT)
        return True

    memo("route-config", [route.name, dataclasses.asdict(recipe)], build,
         roots=(CORE_ROOT, TASKS_ROOT), dists=TRAINER_DISTS)


def stage_checks() -> list[tuple[str, Callable[[Any], Any]]]:
    """Recipe key -> the core config a stage reading it builds (the stages' own builders; the
    training routes' configs come from the route registry)."""
    from agentark_core.mas import make_config
    from tasks.stages.debate import protocol_config
    from tasks.stages.toy import bootstrap_config

    return [
        ("data.dataset", lambda r: _plugin("dataset", r.data.dataset)),
        ("data", lambda r: _dataset_options(r.data)),
        ("eval.data.dataset", lambda r: _plugin("dataset", r.eval.data.dataset)),
        ("eval.data", lambda r: _dataset_options(r.eval.data)),
        ("toy", bootstrap_config),
        ("teacher.backend", lambda r: _backend(r.teacher)),
        ("student.backend", lambda r: _backend(r.student)),
        ("debate", lambda r: protocol_config(r.debate, 0)),
        ("label", _verifier),
        ("extract.pattern_splitter", lambda r: _plugin("splitter", r.extract.pattern_splitter)),
        ("extract.prm_splitter", lambda r: _plugin("splitter", r.extract.prm_splitter)),
        ("extract.judge.backend", lambda r: r.extract.judge.model and _backend(r.extract.judge)),
        ("eval.temperature", lambda r: make_config("cot", {"temperature": r.eval.temperature,
                                                           "max_tokens": r.eval.max_tokens, "seed": r.eval.seed})),
        ("eval.judge", lambda r: r.eval.judge.model and _backend(r.eval.judge)),
    ]


def _plugin(kind: str, name: str) -> Any:
    """Resolve a plugin name in its registry (a dotted path is imported)."""
    from agentark_core.data import DATASETS
    from agentark_core.extract.steps import STEP_SPLITTERS
    from agentark_core.llm import BACKENDS

    registry = {"dataset": DATASETS, "backend": BACKENDS, "splitter": STEP_SPLITTERS}[kind]
    try:
        return registry.get(name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"{kind} {name!r} does not import: {exc}") from exc


def _dataset_options(section: Any) -> None:
    """A ``DataSection``'s source and options must be ones its dataset takes (adapters with
    ``check_options`` check them without reading any data)."""
    check = getattr(_plugin("dataset", section.dataset), "check_options", None)
    if check is not None:
        check(section.source, **section.options)


def _backend(section: Any) -> None:
    """A ``ModelSection``'s backend must resolve and take its ``options`` (checked against the
    backend's keyword arguments; nothing is built, no model loaded). The stages pass ``model``."""
    from agentark_core.llm.factory import check_options

    _plugin("backend", section.backend)
    check_options(section.backend, **{"model": section.model or "<model>", **section.options})


class _UnusedGenerator:
    """Stands in for the verifier's LLM while its constructor is checked; never asked anything."""

    def generate(self, requests, params):  # pragma: no cover - never called
        raise RuntimeError("the validation placeholder generator cannot generate")


def _verifier(recipe: Any) -> Any:
    """Build the label verifier with its options (an LLM verifier gets a placeholder generator when
    ``label.model`` names one, so a missing model still fails here)."""
    from agentark_core.verify import build_verifier

    section = recipe.label
    if section.model.model:
        _backend(section.model)
    generator = _UnusedGenerator() if section.model.model else None
    try:
        return build_verifier(section.verifier, generator=generator, **section.options)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"verifier {section.verifier!r} does not import: {exc}") from exc
