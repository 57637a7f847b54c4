"""The ``pipeline`` flow: the recipe's stages as one Prefect task graph, chained by artifact key.

Every stage is its cached Prefect task (``tasks.prefect_stage.stage_task``, whose cache key is the
artifact key), submitted with its upstream stages' futures as ``wait_for``: Prefect starts a stage
as soon as its inputs are committed, so independent stages (the extraction sets, the trainings, the
evaluations) run at the same time, ``orchestration.max_concurrency`` at most. Unchanged stages are
reused (their task shows as Cached). A failed stage stops only what depends on it: the other stages
finish, then the flow raises the first failure.

``only`` runs a subset, taking the other stages' keys from the recipe (they must already be
committed). With ``fanout.deployment`` set, the debate stage runs as the ``debate-fanout`` subflow,
its shards sent to that deployment's workers in groups.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from agentark_core.recipe import Recipe, load_recipe, recipe_source
from flows.fanout import debate_fanout
from tasks.prefect_stage import stage_call, store_for
from tasks.runner import Stage, plan_keys
from tasks.stages import pipeline_order
from tasks.store import ArtifactNotFound, ArtifactStore
from tasks.validate import validate_recipe


@task(name="debate-fanout", task_run_name="debate-fanout")
def fanout_step(recipe: str | None, overrides: list[str], inputs: dict[str, str], fanout: dict) -> dict:
    """The debate stage through the fan-out subflow (its shards on the deployment's workers)."""
    return debate_fanout(recipe=recipe, overrides=overrides, inputs=inputs, **fanout)


def selected_stages(recipe: Recipe, only: list[str] | None) -> list[Stage]:
    """The recipe's stages in dependency order, limited to ``only`` when given.

    Raises:
        ValueError: ``only`` names a stage the recipe does not plan.
    """
    order = pipeline_order(recipe, recipe.stages)
    unknown = sorted(set(only or []) - {s.name for s in order})
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(s.name for s in order)}")
    return [s for s in order if not only or s.name in only]


def check_outside_inputs(stages: list[Stage], recipe: Recipe, store: ArtifactStore, keys: dict[str, str]) -> None:
    """Inputs the run does not produce itself (``only``) must be committed before anything starts."""
    running = {s.name for s in stages}
    for stage in stages:
        for name in stage.inputs_for(recipe):
            if name not in running and not store.is_committed(name, keys[name]):
                raise ArtifactNotFound(
                    f"stage {stage.name!r} needs {name!r} artifact {keys[name]} which is not committed under "
                    f"{store.root_uri}: run the pipeline or `agentark run --only {name}` first")


def gather(futures: dict[str, PrefectFuture], finish) -> dict[str, dict]:
    """Wait for every stage, then return their refs or raise the first stage failure.

    ``finish(name, result)`` turns a task's result into the stage's ref. Stages that never ran
    because an upstream failed are not failures of their own.
    """
    for future in futures.values():
        future.wait()
    for future in futures.values():
        if future.state.is_failed() or future.state.is_crashed():
            future.result()  # raises the stage's own exception
    not_run = [name for name, f in futures.items() if not f.state.is_completed()]
    if not_run:
        raise RuntimeError(f"stage(s) {not_run} did not run: " + futures[not_run[0]].state.message)
    return {name: finish(name, future.result()) for name, future in futures.items()}


@flow(name="pipeline", flow_run_name="pipeline-{recipe}")
def pipeline(recipe: str | None = None, overrides: list[str] | None = None,
             only: list[str] | None = None) -> dict[str, dict]:
    """Run the recipe's stages; returns ``{stage: artifact ref}`` for the stages run."""
    overrides = list(overrides or [])
    loaded = load_recipe(recipe, overrides)
    validate_recipe(loaded, recipe_source(recipe, overrides), only)  # the whole recipe, before any stage
    stages = selected_stages(loaded, only)
    keys = plan_keys(pipeline_order(loaded, loaded.stages), loaded)
    store = store_for(loaded)
    check_outside_inputs(stages, loaded, store, keys)
    futures: dict[str, PrefectFuture] = {}
    calls = {}
    with ThreadPoolTaskRunner(max_workers=loaded.orchestration.max_concurrency) as runner:
        for stage in stages:
            names = stage.inputs_for(loaded)
            inputs = {name: keys[name] for name in names}
            wait_for = [futures[name] for name in names if name in futures]
            if stage.name == "debate" and loaded.fanout.deployment:
                fanout = {"deployment": loaded.fanout.deployment, "shards_per_run": loaded.fanout.shards_per_run,
                          "max_concurrency": loaded.fanout.max_concurrency}
                futures[stage.name] = runner.submit(
                    fanout_step, {"recipe": recipe, "overrides": overrides, "inputs": inputs, "fanout": fanout},
                    wait_for=wait_for)
                continue
            calls[stage.name] = call = stage_call(stage.name, loaded, store, inputs)
            futures[stage.name] = runner.submit(call.task, call.parameters, wait_for=wait_for)
        return gather(futures, lambda name, result: calls[name].ref(result) if name in calls else result)
