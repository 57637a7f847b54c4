"""Distillation routes as registered objects: one ``Route`` holds everything the pipeline needs.

A route names the training-set stage it learns from, the checkpoint it starts from (the student
or another route), the recipe fields its config reads, its config builder, its train function
and the launcher that runs the training (in this process by default; ``accelerate_launcher`` goes
through ``agentark_core.train.launch``, on several GPUs under ``accelerate launch``). A route with a
``launch_section`` takes its GPUs from the recipe's ``train.launch.<section>``: ``num_gpus`` > 1
replaces its launcher by ``accelerate_launcher(num_gpus, distributed)`` (:func:`launcher_for`), the
whole-recipe check refuses a trainer that cannot run so (:func:`check_launch`), and the stage's
Prefect deployment asks its work pool for that many GPUs (:func:`stage_gpus`).
``register_route`` derives from it the training stage ``train_<name>`` and, unless the route is a
helper (the PRM, which PAD's reward needs), the evaluation stage ``eval_<name>``; the report's
route order, the check of ``eval.routes`` and the per-stage Prefect deployments (``flows/server.py``)
read the registry. Adding a route is one ``register_route`` call (paper §3.3, App. F).

Identical trainings train once: a training stage hashes what determines its model, not the
route's name (train function, config values, start checkpoint, examples' content, code); when a
committed training has the same identity, the new checkpoint row points at that model instead.

Example:
    >>> register_route(Route(name="rsft_lr3", data="sft_rsft", reads=("train.sft",),
    ...                      config=my_config, train=train_sft))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from agentark_core.config_loader import ConfigError
from agentark_core.registry import Registry
from tasks.lock import ArtifactLock
from tasks.runner import Stage, StageContext, code_digest, stage_modules
from tasks.stages import STAGES, add
from tasks.stages.checkpoints import checkpoint_identity, checkpoint_row, model_location, store_trained
from tasks.stages.evaluate import BASE, eval_stage

log = logging.getLogger(__name__)
STUDENT = "student"
SHARED_TRAINING = "_shared_training"  # the folder of training-identity locks (no artifact lives there)
IDENTITY_OUTPUT_DIR = "/training-identity"  # the output_dir a config is built with for its identity


@dataclass(frozen=True)
class TrainJob:
    """One training run, as a launcher receives it.

    ``helpers`` maps a keyword of the train function to a local model folder (PAD: ``prm_path``).
    """

    route: Route
    recipe: Any
    model_path: str
    examples: pd.DataFrame
    output_dir: str
    config: Any
    helpers: dict[str, str] = field(default_factory=dict)


Launcher = Callable[[TrainJob], dict]


def in_process(job: TrainJob) -> dict:
    """Train in this process on the device it sees (the default launcher)."""
    return job.route.train(job.model_path, job.examples, job.output_dir, job.config, **job.helpers)


def accelerate_launcher(num_gpus: int = 1, accelerate_config: str | None = None, where: str = "") -> Launcher:
    """A launcher that hands the job to ``agentark_core.train.launch`` through a run file.

    The launch entry is the one registered for the config's class (``sft``, ``prm``, ...); with
    ``num_gpus`` > 1 it runs under ``accelerate launch`` with ``infra/accelerate/<accelerate_config>``.
    The config travels as the fields it was built from, so every process rebuilds it (derived
    fields such as a world-size-dependent batch are computed where they apply). ``where`` (the
    recipe key that asked for the GPUs) prefixes a refusal such as too few visible GPUs.
    """

    def launch_job(job: TrainJob) -> dict:
        from agentark_core.train.launch import check_devices, config_fields, launch, trainer_for

        if num_gpus > 1:
            try:
                check_devices(num_gpus)
            except ValueError as exc:
                raise ValueError(f"{where or 'launch'}: {exc}") from None

        with tempfile.TemporaryDirectory(prefix=f"agentark-launch-{job.route.name}-") as tmp:
            examples = Path(tmp) / "examples.parquet"
            job.examples.to_parquet(examples)
            run_file = Path(tmp) / "run.json"
            run_file.write_text(json.dumps({
                "model_path": job.model_path, "examples": str(examples), "output_dir": job.output_dir,
                "config": config_fields(job.config), "helpers": job.helpers}))
            return launch(trainer_for(job.config), str(run_file), num_gpus, accelerate_config)

    launch_job.__qualname__ = f"accelerate_launcher(num_gpus={num_gpus}, accelerate_config={accelerate_config!r})"
    return launch_job


def training_set(ctx: StageContext, data: str) -> pd.DataFrame:
    """The route's training examples (the ``data`` input), which must not be empty."""
    frame = ctx.input_frame(data)
    if frame.empty:
        raise ValueError(f"stage {ctx.stage.name}: input {data} ({ctx.inputs[data].key}) has no examples; "
                         "did any question reach extract.min_correct correct agents?")
    return frame


@dataclass(frozen=True)
class Route:
    """One distillation route.

    Args:
        name: the route's name in ``eval.routes`` and the report; its stages are ``train_<name>``
            and ``eval_<name>``.
        data: the stage whose artifact it trains on (``sft_rsft``, ``sft_da``, ``prm_data``, ``ingest``).
        reads: the recipe fields the config builder reads (they enter the training stage's key).
        config: ``(recipe, output_dir) -> config object`` for ``train``.
        train: ``(model_path, examples, output_dir, config, **helpers) -> metrics`` (saves the model).
        start: the checkpoint it starts from: ``"student"`` or an earlier route's name.
        examples: ``(ctx, data) -> DataFrame`` turning the ``data`` input into ``train``'s examples.
        helpers: ``(keyword, route)`` pairs: the checkpoint of ``route`` is passed to ``train`` as
            a local folder under ``keyword`` (PAD gets the PRM as ``prm_path``).
        launcher: ``TrainJob -> metrics``; :func:`in_process` or :func:`accelerate_launcher` (on one GPU).
        launch_section: ``recipe -> name`` of the ``train.launch`` section giving its GPUs (``sft``,
            ``da``, ``prm``, ``grpo``, ``ppo``; its ``train.launch.<name>`` must be in ``reads``);
            None = always ``launcher``.
        evaluated: False for helper routes (the PRM), which get no eval stage.
        extra_inputs: further stages the training stage takes as inputs (for its ``summarize``).
        summarize: the training stage's manifest metrics (default :func:`training_summary`).
        kind: the checkpoint row's ``kind`` (``causal_lm`` | ``prm``).
        version: the training stage's version.
        code: modules whose source enters the training stage's key (besides the route's own).
    """

    name: str
    data: str
    reads: tuple[str, ...]
    config: Callable[[Any, str], Any]
    train: Callable[..., dict]
    start: str = STUDENT
    examples: Callable[[StageContext, str], pd.DataFrame] = training_set
    helpers: tuple[tuple[str, str], ...] = ()
    launcher: Launcher = in_process
    launch_section: Callable[[Any], str] | None = None
    evaluated: bool = True
    kind: str = "causal_lm"
    version: str = "1"
    code: tuple[str, ...] = ("agentark_core.train",)
    extra_inputs: tuple[str, ...] = ()
    summarize: Callable[[StageContext], dict] | None = None

    @property
    def stage(self) -> str:
        return f"train_{self.name}"

    @property
    def start_stage(self) -> str:
        return STUDENT if self.start == STUDENT else ROUTES.get(self.start).stage

    def inputs(self) -> tuple[str, ...]:
        helpers = (ROUTES.get(route).stage for _, route in self.helpers)
        return (self.start_stage, self.data, *helpers, *self.extra_inputs)


ROUTES: Registry[Route] = Registry("route")


def train_shard(route: Route) -> Callable[[StageContext, int], pd.DataFrame]:
    """The training stage's body: load the inputs, build the config, launch, store the checkpoint.

    A training identical to one already committed (:func:`training_identity`, whatever the route)
    is not run again: the row points at that artifact's model. Model stages compute one at a time
    per process, so in one pipeline the second of two identical trainings finds the first committed;
    across processes the identity's lock makes the second wait while the first trains (one arriving
    between the first's training and its commit trains again: work repeated, never wrong).
    """

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        examples = route.examples(ctx, route.data)
        identity = training_identity(ctx, route, examples)
        if identity is None:
            return trained_row(ctx, route, examples)
        ctx.scratch["training_identity"] = identity
        lock = ArtifactLock(ctx.store, SHARED_TRAINING, identity)
        lock.acquire()
        with lock:
            shared = shared_checkpoint(ctx.store, identity)
            if shared is None:
                return trained_row(ctx, route, examples)
            ctx.scratch["shared_from"], frame = shared
            log.info("%s: the same training is committed as %s; sharing its model", route.stage, shared[0])
            return frame.assign(route=route.name)

    return run_shard


def trained_row(ctx: StageContext, route: Route, examples: pd.DataFrame) -> pd.DataFrame:
    """Train the route from its start checkpoint through its launcher; the stored checkpoint's row."""
    model = model_location(ctx, route.start_stage)
    helpers = {keyword: model_location(ctx, ROUTES.get(name).stage) for keyword, name in route.helpers}

    launcher = launcher_for(route, ctx.recipe)

    def train(output_dir: str) -> dict:
        job = TrainJob(route, ctx.recipe, model, examples, output_dir, route.config(ctx.recipe, output_dir), helpers)
        return launcher(job)

    return store_trained(ctx, train, route=route.name, kind=route.kind,
                         base_model=checkpoint_row(ctx, route.start_stage)["base_model"])


def training_identity(ctx: StageContext, route: Route, examples: pd.DataFrame) -> str | None:
    """Hash of everything that determines the trained model, not the route's name: train function,
    launcher (processes change the effective batch), config values, start and helper checkpoints,
    the examples' content and the stage's code.

    None when the config cannot be written as fields (that route then trains unshared).
    """
    from agentark_core.train.launch import config_fields

    try:
        config = config_fields(route.config(ctx.recipe, IDENTITY_OUTPUT_DIR))
    except ValueError as exc:
        log.info("%s: trained unshared (%s)", route.stage, exc)
        return None
    launcher = launcher_for(route, ctx.recipe)
    payload = {
        "train": f"{route.train.__module__}:{route.train.__qualname__}", "kind": route.kind,
        "launcher": f"{launcher.__module__}:{launcher.__qualname__}",
        "version": route.version, "config": config, "start": checkpoint_identity(ctx, route.start_stage),
        "helpers": {keyword: checkpoint_identity(ctx, ROUTES.get(name).stage) for keyword, name in route.helpers},
        "examples": hashlib.sha256(examples.to_json(orient="records").encode()).hexdigest(),
        "code": code_digest(stage_modules(ctx.stage)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# A launch section's trainer in agentark_core.train.launch.ROUTES (DA trains with the SFT trainer).
LAUNCH_TRAINERS = {"sft": "sft", "da": "sft", "prm": "prm", "grpo": "grpo", "ppo": "ppo"}


def launch_settings(route: Route, recipe: Any) -> tuple[str, Any] | None:
    """``(section, train.launch.<section>)`` of ``route`` for ``recipe``, or None (no launch section)."""
    if route.launch_section is None:
        return None
    section = route.launch_section(recipe)
    return section, getattr(recipe.train.launch, section)


def launcher_for(route: Route, recipe: Any) -> Launcher:
    """The launcher of one training: ``accelerate_launcher(num_gpus, distributed)`` when the route's
    ``train.launch.<section>`` asks for more than one GPU, else the route's own launcher."""
    settings = launch_settings(route, recipe)
    if settings is None or settings[1].num_gpus <= 1:
        return route.launcher
    section, launch = settings
    return accelerate_launcher(launch.num_gpus, launch.distributed, where=f"train.launch.{section}.num_gpus")


def check_launch(route: Route, recipe: Any) -> None:
    """The route's trainer must be able to train on ``train.launch.<section>``'s GPUs as asked.

    Raises:
        ConfigError: one line naming the recipe key, e.g. ``recipe train.launch.prm: ...``.
    """
    from agentark_core.train.launch import check_strategy

    settings = launch_settings(route, recipe)
    if settings is None or settings[1].num_gpus <= 1:
        return
    section, launch = settings
    try:
        check_strategy(LAUNCH_TRAINERS[section], launch.distributed)
    except ValueError as exc:
        raise ConfigError(f"recipe train.launch.{section}: num_gpus {launch.num_gpus} with "
                          f"distributed {launch.distributed!r}: {exc}") from None


def stage_gpus(stage: str, recipe: Any) -> int:
    """GPUs a run of ``stage`` needs for ``recipe``: a training stage its ``train.launch`` section's
    ``num_gpus``; a stage generating with a model on vLLM (it reads ``<role>.options``) that
    model's ``tensor_parallel_size``; else 1."""
    for name in ROUTES.registered():
        route = ROUTES.get(name)
        if route.stage == stage:
            settings = launch_settings(route, recipe)
            return settings[1].num_gpus if settings else 1
    reads = STAGES.get(stage).reads
    sizes = [int(section.options.get("tensor_parallel_size", 1))
             for role, section in (("teacher", recipe.teacher), ("student", recipe.student))
             if f"{role}.options" in reads and section.backend == "vllm"]
    return max(sizes, default=1)


def shared_checkpoint(store, identity: str) -> tuple[str, pd.DataFrame] | None:
    """(``stage/key``, checkpoint frame) of a committed training with this identity, if any."""
    for name in ROUTES.registered():
        stage = ROUTES.get(name).stage
        for manifest in store.manifests(stage):
            if (manifest.get("metrics") or {}).get("training_identity") == identity:
                return f"{stage}/{manifest['key']}", store.read_frame(stage, manifest["key"])
    return None


def training_summary(ctx: StageContext) -> dict:
    """Headline training numbers of the checkpoint (the full loss curve stays in metrics_json)."""
    row = next(ctx.output_frames()).iloc[0]
    metrics = json.loads(row["metrics_json"])
    curve = metrics.get("loss_curve") or []
    return {
        "route": row["route"],
        "steps": metrics.get("global_step", len(curve)),
        "first_loss": curve[0]["loss"] if curve else None,
        "last_loss": curve[-1]["loss"] if curve else None,
        "train_runtime_s": round(float(metrics.get("train_runtime", 0.0)), 2),
        "loss_curve": [[p["step"], round(p["loss"], 5)] for p in curve],
        **{name: ctx.scratch[name] for name in ("training_identity", "shared_from") if name in ctx.scratch},
    }


def register_route(route: Route) -> Route:
    """Register ``route`` and its stages (``train_<name>``, and ``eval_<name>`` when evaluated).

    Raises:
        ValueError: the name is taken (as a route, ``base``, or a stage name).
        KeyError: ``start`` or a helper names no registered route, or ``data`` no registered stage.
    """
    if route.name == BASE or route.stage in STAGES or f"eval_{route.name}" in STAGES:
        raise ValueError(f"route {route.name!r}: the name or one of its stages is already registered")
    inputs = route.inputs()  # unknown start/helper routes fail here, before anything is registered
    for name in (route.data, *route.extra_inputs):  # so does an unknown training-set or extra stage
        STAGES.get(name)
    code = (*route.code, route.train.__module__, route.config.__module__, route.examples.__module__)
    stage = Stage(name=route.stage, version=route.version, schema="checkpoints", reads=route.reads,
                  inputs=inputs, plan=lambda ctx: 1, run_shard=train_shard(route), code=code,
                  summarize=route.summarize or training_summary, pool="gpu")
    ROUTES.register(route.name)(route)
    add(stage)
    if route.evaluated:
        eval_stage(route.name, route.stage, mas=False)  # registers itself
    return route


def unregister_route(name: str) -> None:
    """Remove a route and its stages (tests that register a route of their own clean up with it)."""
    route = ROUTES.get(name)
    ROUTES.remove(name)
    STAGES.remove(route.stage)
    if route.evaluated:
        STAGES.remove(f"eval_{name}")


def evaluable_routes() -> list[str]:
    """Valid ``eval.routes`` names: ``base`` then every evaluated route, in registration order."""
    return [BASE, *(name for name in ROUTES.registered() if ROUTES.get(name).evaluated)]


def check_eval_routes(recipe: Any) -> None:
    """``eval.routes`` must name evaluable routes.

    Raises:
        ConfigError: naming the unknown route(s) and the valid ones.
    """
    valid = evaluable_routes()
    unknown = [name for name in recipe.eval.routes if name not in valid]
    if unknown:
        raise ConfigError(f"recipe {getattr(recipe, 'name', '')!r}: eval.routes: unknown route(s) {unknown}; "
                          f"valid: {', '.join(valid)}")
