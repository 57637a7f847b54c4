"""The stage runner: content keys, reuse, sharded resumable compute, validation and commit.

A ``Stage`` declares its name, version, output schema, the recipe fields it reads, its
upstream stages, how many shards it has and how to compute one. ``run_stage``:

1. computes the key = hash(stage name, version, the fields it reads, input keys, code digest);
2. reuses the artifact if committed (no stage body runs);
3. otherwise takes the key's lock, computes only the shards not yet published (so a killed
   run resumes), validates each shard against the schema before publishing it, and commits
   the manifest last.

Nothing here imports Prefect: ``tasks/prefect_stage.py`` wraps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

import agentark_core
from agentark_core.config_loader import select, to_dict
from schemas import get_schema, validate
from tasks import progress as shard_progress
from tasks.code_digest import code_digest
from tasks.integrity import ShardDigest, check_question_ids
from tasks.lock import ArtifactLock
from tasks.recipe_view import DeclaredRecipe
from tasks.store import ArtifactNotFound, ArtifactStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    Args:
        name: stage name, also the artifact folder under the store root.
        version: bump to invalidate old artifacts when semantics change without code change.
        schema: output schema name (``schemas``).
        reads: dotted recipe fields this stage depends on (only these enter the key).
        plan: ``ctx -> number of shards``.
        run_shard: ``(ctx, index) -> DataFrame`` of that shard's rows.
        inputs: upstream stage names whose artifact keys this stage consumes, or a function of
            the recipe returning them (e.g. a model stage that needs the toy bootstrap only when
            the recipe asks for a toy model).
        code: extra modules whose source (and imports) enter the key. Rarely needed: the modules
            defining the stage's callables and every project module they import, transitively,
            always do (``tasks.code_digest``); list only code the stage reaches by name.
        summarize: optional ``ctx -> dict`` of metrics for the manifest, run after all shards exist.
        fingerprint: optional ``recipe -> JSON-able`` content digest of local inputs the recipe
            names (files, model folders), so the key follows their content, not just their path.
        unkeyed: recipe fields the body may read that cannot change its output (test hooks,
            progress display); readable through ``ctx.recipe`` but kept out of the key.
        pool: the hardware its work needs, ``cpu`` | ``gpu``: the work pool of its Prefect
            deployment (``flows/server.py``); never part of the key.
    """

    name: str
    version: str
    schema: str
    reads: tuple[str, ...]
    plan: Callable[[StageContext], int]
    run_shard: Callable[[StageContext, int], pd.DataFrame]
    inputs: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ()
    code: tuple[str, ...] = ()
    summarize: Callable[[StageContext], dict] | None = None
    fingerprint: Callable[[Any], Any] | None = None
    unkeyed: tuple[str, ...] = ()
    pool: str = "cpu"

    def inputs_for(self, recipe: Any) -> tuple[str, ...]:
        return tuple(self.inputs(recipe)) if callable(self.inputs) else self.inputs


@dataclass(frozen=True)
class ArtifactRef:
    """A pointer to a committed artifact, small enough to pass between flows."""

    stage: str
    key: str
    uri: str
    schema: str
    rows: int
    reused: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class StageContext:
    """What a stage body sees: its recipe, inputs, store and a per-run scratch dict.

    ``recipe`` is given whole and handed to the body as a ``DeclaredRecipe``: reading a field
    outside the stage's ``reads`` (and ``unkeyed``) raises, so a body cannot depend on config
    its key does not hash. ``full_recipe`` keeps the recipe itself for the runner.
    """

    stage: Stage
    recipe: Any
    key: str
    store: ArtifactStore
    inputs: dict[str, ArtifactRef]
    scratch: dict = field(default_factory=dict)
    full_recipe: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.full_recipe = self.recipe
        self.recipe = DeclaredRecipe(self.recipe, self.stage.reads + self.stage.unkeyed, self.stage.name)

    def config(self, dotted: str) -> Any:
        return select(self.recipe, dotted)

    def input_frame(self, name: str) -> pd.DataFrame:
        """The whole input artifact, validated against its schema."""
        ref = self.inputs[name]
        frame = validate(self.store.read_frame(ref.stage, ref.key), ref.schema)
        if ref.schema == "questions":
            check_question_ids(frame, f"{ref.stage}/{ref.key}")
        return frame

    def output_frames(self) -> Iterator[pd.DataFrame]:
        """This stage's own published shards, in order (for ``summarize``)."""
        for index in sorted(self.store.done_shards(self.stage.name, self.key)):
            yield self.store.read_shard(self.stage.name, self.key, index, verify=False)


def stage_modules(stage: Stage) -> tuple[str, ...]:
    """Modules defining the stage's callables, plus its extra ``code`` modules."""
    callables = (stage.plan, stage.run_shard, stage.summarize, stage.fingerprint, stage.inputs)
    named = {getattr(fn, "__module__", None) for fn in callables if callable(fn)}
    return tuple(sorted((named - {None}) | set(stage.code)))


def compute_key(stage: Stage, recipe: Any, input_keys: dict[str, str]) -> str:
    """The content key: same stage code, read config and inputs -> same key."""
    payload = {
        "stage": stage.name,
        "version": stage.version,
        "config": {path: to_dict(select(recipe, path)) for path in stage.reads},
        "inputs": dict(sorted(input_keys.items())),
        "code": code_digest(stage_modules(stage)),
        "content": stage.fingerprint(recipe) if stage.fingerprint else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_inputs(stage: Stage, recipe: Any, store: ArtifactStore, input_keys: dict[str, str]) -> dict[str, ArtifactRef]:
    """Check every declared input is given and committed; return refs."""
    names = stage.inputs_for(recipe)
    missing = [name for name in names if name not in input_keys]
    if missing:
        raise ArtifactNotFound(f"stage {stage.name!r} needs input artifact(s) {missing}; run them first")
    refs = {}
    for name in names:
        manifest = store.read_manifest(name, input_keys[name])
        refs[name] = ArtifactRef(name, manifest["key"], manifest["uri"], manifest["schema"]["name"],
                                 manifest["rows"], reused=True)
    return refs


def run_stage(
    stage: Stage,
    recipe: Any,
    store: ArtifactStore,
    input_keys: dict[str, str] | None = None,
    progress: bool = True,
    lock_ttl_s: float = 300.0,
) -> ArtifactRef:
    """Produce (or reuse) the stage's artifact and return a reference to it."""
    input_keys = dict(input_keys or {})
    inputs = resolve_inputs(stage, recipe, store, input_keys)
    key = compute_key(stage, recipe, {k: input_keys[k] for k in stage.inputs_for(recipe)})
    if store.is_committed(stage.name, key):
        return _ref(store, stage, key, reused=True)
    lock = ArtifactLock(store, stage.name, key, ttl_s=lock_ttl_s)
    if not lock.acquire():
        return _ref(store, stage, key, reused=True)
    with lock, model_turn(stage):
        ctx = StageContext(stage, recipe, key, store, inputs)
        _compute_and_commit(ctx, progress)
    return _ref(store, stage, key, reused=False)


_MODEL_TURN = threading.Lock()


def model_turn(stage: Stage):
    """Held while a model stage (``pool == "gpu"``) computes: one at a time per process.

    Stages running concurrently in one process share the accelerator, the resident generator
    (``tasks/stages/common.py``) and torch's global RNG; two seeded model stages drawing from it in
    turn would make their artifacts depend on thread timing. Other stages overlap freely.
    """
    return _MODEL_TURN if stage.pool == "gpu" else contextlib.nullcontext()


def _compute_and_commit(ctx: StageContext, progress: bool) -> None:
    stage, store, key = ctx.stage, ctx.store, ctx.key
    started = time.time()
    n_shards = stage.plan(ctx)
    done = store.done_shards(stage.name, key)
    if done:
        log.info("%s/%s: resuming, %d of %d shards already published", stage.name, key, len(done), n_shards)
    shard_progress.started(stage.name, key, n_shards, len(done))
    shard_seconds, digests = _publish_shards(ctx, [i for i in range(n_shards) if i not in done], progress)
    # Shards of an earlier (killed) run or of fan-out workers are read once to record their digest.
    shards = [digests[i] if i in digests else store.shard_digest(stage.name, key, i) for i in range(n_shards)]
    metrics = stage.summarize(ctx) if stage.summarize else {}
    store.commit(stage.name, key, _manifest(ctx, shards, shard_seconds, started, metrics))


def _publish_shards(ctx: StageContext, indices: list[int],
                    progress: bool) -> tuple[dict[int, float], dict[int, ShardDigest]]:
    """Compute, validate and publish the given shards; returns seconds and digest per shard."""
    stage, seconds, digests = ctx.stage, {}, {}
    for index in tqdm(indices, desc=stage.name, unit="shard", disable=not progress or len(indices) < 2):
        t0 = time.perf_counter()
        try:
            frame = stage.run_shard(ctx, index)
        except Exception as exc:
            exc.add_note(f"while computing stage {stage.name!r} shard {index} (key {ctx.key}); "
                         "published shards are kept and a rerun computes only the missing ones")
            raise
        try:
            frame = validate(frame, stage.schema)
        except ValueError as exc:
            raise ValueError(f"stage {stage.name!r} shard {index}: output violates its schema:\n{exc}") from None
        digests[index] = ctx.store.write_shard(stage.name, ctx.key, index, frame)
        seconds[index] = round(time.perf_counter() - t0, 4)
        shard_progress.advanced(stage.name, ctx.key)
    return seconds, digests


def stage_plan(stage: Stage, recipe: Any, store: ArtifactStore, input_keys: dict[str, str]) -> tuple[str, int]:
    """(key, number of shards) of a stage, without computing anything."""
    inputs = resolve_inputs(stage, recipe, store, input_keys)
    key = compute_key(stage, recipe, {k: input_keys[k] for k in stage.inputs_for(recipe)})
    return key, stage.plan(StageContext(stage, recipe, key, store, inputs))


def run_shards(stage: Stage, recipe: Any, store: ArtifactStore, input_keys: dict[str, str],
               indices: list[int], progress: bool = True) -> list[int]:
    """Publish some shards of a stage without committing it (fan-out: each worker gets a group).

    Shards already published are skipped; ``run_stage`` later finds them all and commits.
    Returns the indices computed here.
    """
    inputs = resolve_inputs(stage, recipe, store, input_keys)
    key = compute_key(stage, recipe, {k: input_keys[k] for k in stage.inputs_for(recipe)})
    done = store.done_shards(stage.name, key)
    todo = [i for i in indices if i not in done]
    with model_turn(stage):
        _publish_shards(StageContext(stage, recipe, key, store, inputs), todo, progress)
    return todo


def _manifest(ctx: StageContext, shards: list[ShardDigest], shard_s: dict, started: float,
              metrics: dict) -> dict:
    stage = ctx.stage
    spec = get_schema(stage.schema)
    finished = time.time()
    return {
        "stage": stage.name,
        "key": ctx.key,
        "uri": ctx.store.uri(stage.name, ctx.key),
        "recipe": getattr(ctx.full_recipe, "name", ""),
        "schema": {"name": spec.name, "version": spec.version},
        "inputs": {n: {"key": r.key, "uri": r.uri} for n, r in ctx.inputs.items()},
        "config": {path: to_dict(select(ctx.full_recipe, path)) for path in stage.reads},
        "code": {"package_version": agentark_core.__version__, "stage_version": stage.version,
                 "digest": code_digest(stage_modules(stage))},
        "n_shards": len(shards),
        "rows": sum(s.rows for s in shards),
        "shard_rows": [s.rows for s in shards],
        "shard_sha256": [s.sha256 for s in shards],
        "timings": {"started_at": _iso(started), "finished_at": _iso(finished),
                    "wall_s": round(finished - started, 4), "computed_shard_s": shard_s},
        "metrics": metrics,
        "created_at": _iso(finished),
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _ref(store: ArtifactStore, stage: Stage, key: str, reused: bool) -> ArtifactRef:
    manifest = store.read_manifest(stage.name, key)
    return ArtifactRef(stage.name, key, manifest["uri"], stage.schema, manifest["rows"], reused=reused)


def plan_keys(order: list[Stage], recipe: Any, given: dict[str, str] | None = None) -> dict[str, str]:
    """Every stage's key from the recipe alone (stages in dependency order); ``given`` pins some."""
    keys = dict(given or {})
    for stage in order:
        if stage.name not in keys:
            keys[stage.name] = compute_key(stage, recipe, {i: keys[i] for i in stage.inputs_for(recipe)})
    return keys


def run_in_process(order: list[Stage], recipe: Any, store: ArtifactStore, progress: bool = True) -> dict[str, ArtifactRef]:
    """Run stages (in dependency order) in this process without Prefect; returns their refs."""
    refs: dict[str, ArtifactRef] = {}
    for stage in order:
        keys = {i: refs[i].key for i in stage.inputs_for(recipe)}
        refs[stage.name] = run_stage(stage, recipe, store, keys, progress=progress)
    return refs
