"""Prefect wrapping of the stage runner: one cached task per stage, artifacts for the UI.

The task's Prefect cache key IS the artifact key, so a rerun with unchanged inputs shows
as Cached; when the store has lost the artifact the cache is refreshed and the stage runs.
"""

from __future__ import annotations

import logging

from prefect import task

from agentark_core.config_loader import build, to_dict
from agentark_core.recipe import Recipe, load_recipe
from tasks.publish import publish_stage_artifacts
from tasks.runner import plan_keys, run_stage
from tasks.stages import STAGES, pipeline_order
from tasks.store import ArtifactNotFound, ArtifactStore, open_store

log = logging.getLogger(__name__)


def _cache_key(_context, parameters: dict) -> str:
    return f"agentark-{parameters['stage_name']}-{parameters['key']}"


@task(name="stage", cache_key_fn=_cache_key, persist_result=True, result_serializer="json",
      task_run_name="{stage_name}-{key}", retries=1, retry_delay_seconds=5)
def stage_task(stage_name: str, key: str, recipe_data: dict, input_keys: dict[str, str]) -> dict:
    """Run (or reuse) one stage's artifact and publish its Prefect artifacts."""
    recipe = build(Recipe, recipe_data, source="<flow parameters>")
    store = store_for(recipe)
    ref = run_stage(STAGES.get(stage_name), recipe, store, input_keys)
    if ref.key != key:
        raise RuntimeError(f"stage {stage_name}: planned key {key} but computed {ref.key} (code changed mid-run?)")
    publish_stage_artifacts(ref, store)
    return ref.to_dict()


def store_for(recipe: Recipe) -> ArtifactStore:
    return open_store(recipe.store.resolved_root(), recipe.store.credentials_block)


def submit_stage(stage_name: str, recipe: Recipe, store: ArtifactStore, input_keys: dict[str, str]) -> dict:
    """Call the stage task with its artifact key as cache key (refreshed if the store lost it)."""
    stage = STAGES.get(stage_name)
    given = {k: input_keys[k] for k in stage.inputs_for(recipe) if k in input_keys}
    key = plan_keys([stage], recipe, given)[stage_name]
    committed = store.is_committed(stage_name, key)
    ref = stage_task.with_options(refresh_cache=not committed)(stage_name, key, to_dict(recipe), input_keys)
    return {**ref, "reused": committed or ref["reused"]}


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
