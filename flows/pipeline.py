"""The ``pipeline`` flow: every stage of the recipe in dependency order, chained by artifact key.

Unchanged stages are reused (their task shows as Cached); ``only`` runs a subset, taking the
other stages' keys from the recipe (they must already be committed). With ``fanout.deployment``
set, the debate stage's shards are sent to that deployment's workers in groups.
"""

from __future__ import annotations

from prefect import flow

from agentark_core.recipe import load_recipe
from flows.fanout import debate_fanout
from flows.stages import STAGE_FLOWS
from flows.subflows import without_subflow_heartbeats
from tasks.runner import plan_keys
from tasks.stages import pipeline_order


@flow(name="pipeline", flow_run_name="pipeline-{recipe}")
def pipeline(recipe: str | None = None, overrides: list[str] | None = None,
             only: list[str] | None = None) -> dict[str, dict]:
    """Run the recipe's stages; returns ``{stage: artifact ref}`` for the stages run."""
    loaded = load_recipe(recipe, overrides or [])
    order = pipeline_order(loaded, loaded.stages)
    unknown = sorted(set(only or []) - {s.name for s in order})
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(s.name for s in order)}")
    planned = plan_keys(order, loaded)
    refs: dict[str, dict] = {}
    for stage in order:
        if only and stage.name not in only:
            continue
        inputs = {i: refs[i]["key"] if i in refs else planned[i] for i in stage.inputs_for(loaded)}
        with without_subflow_heartbeats():
            if stage.name == "debate" and loaded.fanout.deployment:
                refs[stage.name] = debate_fanout(
                    recipe=recipe, overrides=overrides, inputs=inputs, deployment=loaded.fanout.deployment,
                    shards_per_run=loaded.fanout.shards_per_run, max_concurrency=loaded.fanout.max_concurrency)
            else:
                refs[stage.name] = STAGE_FLOWS[stage.name](recipe=recipe, overrides=overrides, inputs=inputs)
    return refs
