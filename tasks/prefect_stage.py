"""Prefect wrapping of the stage runner: one cached task per stage, artifacts for the UI.

The task's Prefect cache key IS the artifact key, so a rerun with unchanged inputs shows
as Cached; when the store has lost the artifact the cache is refreshed and the stage runs.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from prefect import Task, task

from agentark_core.config_loader import build, to_dict
from agentark_core.recipe import Recipe, load_recipe
from tasks.progress import listening
from tasks.publish import publish_stage_artifacts
from tasks.runner import plan_keys, run_stage
from tasks.stages import STAGES, pipeline_order
from tasks.store import ArtifactNotFound, ArtifactStore, canonical_root, open_store

log = logging.getLogger(__name__)


def _cache_key(_context, parameters: dict) -> str:
    """The artifact key and the store holding it: one key in two stores is two artifacts, so a
    shared PREFECT_HOME never hands one store's artifact to a run against another."""
    recipe = build(Recipe, parameters["recipe_data"], source="<flow parameters>")
    root = hashlib.sha256(canonical_root(recipe.store.resolved_root()).encode()).hexdigest()[:12]
    return f"agentark-{parameters['stage_name']}-{parameters['key']}-{root}"


def _worth_retrying(_task, _task_run, state) -> bool:
    """Retry a failed stage only when a second try can succeed (a storage hiccup, a crash), not
    for bad input, a corrupt artifact or a missing upstream (ValueError/LookupError): same again."""
    return not isinstance(state.result(raise_on_failure=False), ValueError | LookupError)


@task(name="stage", cache_key_fn=_cache_key, persist_result=True, result_serializer="json",
      task_run_name="{stage_name}-{key}", retries=1, retry_delay_seconds=5, retry_condition_fn=_worth_retrying)
def stage_task(stage_name: str, key: str, recipe_data: dict, input_keys: dict[str, str]) -> dict:
    """Run (or reuse) one stage's artifact and publish its Prefect artifacts."""
    recipe = build(Recipe, recipe_data, source="<flow parameters>")
    store = store_for(recipe)
    with listening(ShardProgressArtifact()):
        ref = run_stage(STAGES.get(stage_name), recipe, store, input_keys)
    if ref.key != key:
        raise RuntimeError(f"stage {stage_name}: planned key {key} but computed {ref.key} (code changed mid-run?)")
    publish_stage_artifacts(ref, store)
    return ref.to_dict()


class ShardProgressArtifact:
    """Shows a computing stage's shards as a Prefect progress artifact on its task run."""

    def __init__(self) -> None:
        self.artifact_id = None
        self.total = self.done = 0

    def started(self, stage: str, key: str, total: int, done: int) -> None:
        from prefect.artifacts import create_progress_artifact

        self.total, self.done = max(total, 1), done
        self.artifact_id = create_progress_artifact(
            progress=self._percent(), description=f"{stage} {key}: shards published of {total}")

    def advanced(self, stage: str, key: str) -> None:
        from prefect.artifacts import update_progress_artifact

        self.done += 1
        if self.artifact_id is not None:
            update_progress_artifact(artifact_id=self.artifact_id, progress=self._percent())

    def _percent(self) -> float:
        return round(100.0 * self.done / self.total, 2)


def store_for(recipe: Recipe) -> ArtifactStore:
    return open_store(recipe.store.resolved_root(), recipe.store.credentials_block)


@dataclass(frozen=True)
class StageCall:
    """One stage's cached task, ready to call or to submit: ``task(**parameters)``.

    ``committed`` says whether the artifact existed when the call was prepared: the task's cache is
    refreshed when it did not (the store lost it), and ``ref`` marks the returned ref reused when it did
    (a Cached task returns the ref of the run that computed it).
    """

    task: Task
    parameters: dict
    committed: bool

    def ref(self, result: dict) -> dict:
        return {**result, "reused": self.committed or result["reused"]}


def stage_call(stage_name: str, recipe: Recipe, store: ArtifactStore, input_keys: dict[str, str]) -> StageCall:
    """The stage task with its artifact key as cache key (refreshed if the store lost the artifact)."""
    stage = STAGES.get(stage_name)
    given = {k: input_keys[k] for k in stage.inputs_for(recipe) if k in input_keys}
    key = plan_keys([stage], recipe, given)[stage_name]
    committed = store.is_committed(stage_name, key)
    parameters = {"stage_name": stage_name, "key": key, "recipe_data": to_dict(recipe), "input_keys": input_keys}
    return StageCall(stage_task.with_options(refresh_cache=not committed), parameters, committed)


def submit_stage(stage_name: str, recipe: Recipe, store: ArtifactStore, input_keys: dict[str, str]) -> dict:
    """Run the stage task here and now; returns its artifact ref."""
    call = stage_call(stage_name, recipe, store, input_keys)
    return call.ref(call.task(**call.parameters))


def upstream_keys(stage_name: str, recipe: Recipe, store: ArtifactStore, given: dict[str, str]) -> dict[str, str]:
    """Keys of the stage's inputs: the given ones, else planned from the recipe (must be committed)."""
    order = pipeline_order(recipe, [stage_name])
    keys = plan_keys(order[:-1], recipe, given)
    out = {}
    for name in STAGES.get(stage_name).inputs_for(recipe):
        if not store.is_committed(name, keys[name]):
            raise ArtifactNotFound(
                f"stage {stage_name!r} needs {name!r} artifact {keys[name]} which is not committed under "
                f"{store.root_uri}: run the pipeline or `agentark run --only {name}` first"
            )
        out[name] = keys[name]
    return out


def run_stage_flow(stage_name: str, recipe_path: str | None, overrides: list[str] | None,
                   inputs: dict[str, str] | None) -> dict:
    """Body of every stage flow: load the recipe, resolve upstream keys, run the cached task."""
    recipe = load_recipe(recipe_path, overrides or [])
    store = store_for(recipe)
    keys = upstream_keys(stage_name, recipe, store, dict(inputs or {}))
    return submit_stage(stage_name, recipe, store, keys)
