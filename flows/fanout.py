"""Fan-out of the ``debate`` stage over several flow runs, then one commit.

The debate (the teacher's multi-agent data generation, paper §3.2) is the costliest
stage and is sharded by questions. ``debate_fanout`` plans its shards, splits the ones not yet
published into groups of ``shards_per_run`` and runs ``debate_shard_group`` for each: through
a deployment (``run_deployment``: every group a flow run on some worker / GPU, at most
``max_concurrency`` in flight) or, with no deployment, in this process. Groups only publish
shards; the normal ``debate`` stage flow then finds every shard and commits the artifact, so
the artifact (and its key) is the same whichever way it was computed::

    debate_fanout("recipes/gsm8k.yaml", deployment="debate-shard-group/default", shards_per_run=4)

A group that fails is retried once (``retries=1``); a group that still fails fails the fan-out
after the others finish, and a rerun computes only the shards still missing.
"""

from __future__ import annotations

import logging

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from agentark_core.recipe import load_recipe
from flows.stages import STAGE_FLOWS
from tasks.prefect_stage import store_for, upstream_keys
from tasks.runner import run_shards, stage_plan
from tasks.stages import STAGES

log = logging.getLogger(__name__)
STAGE = "debate"


@flow(name="debate-shard-group", flow_run_name="debate-shards-{indices}", retries=1, retry_delay_seconds=10)
def debate_shard_group(recipe: str | None = None, overrides: list[str] | None = None,
                       inputs: dict[str, str] | None = None, indices: list[int] | None = None) -> list[int]:
    """Publish the given debate shards (not the manifest: the fan-out commits).

    Args:
        recipe: recipe path (on the worker: relative to the project folder, or absolute).
        overrides: recipe overrides.
        inputs: upstream artifact keys (``{"ingest": key, ...}``); planned from the recipe if absent.
        indices: shard indices of this group.

    Returns:
        The indices computed here (those already published are skipped).
    """
    loaded = load_recipe(recipe, overrides or [])
    store = store_for(loaded)
    keys = upstream_keys(STAGE, loaded, store, dict(inputs or {}))
    return run_shards(STAGES.get(STAGE), loaded, store, keys, list(indices or []), progress=False)


def shard_groups(indices: list[int], shards_per_run: int) -> list[list[int]]:
    """Consecutive groups of at most ``shards_per_run`` indices, e.g. ``[0..4], 2 -> [[0,1],[2,3],[4]]``."""
    if shards_per_run < 1:
        raise ValueError(f"shards_per_run must be >= 1, got {shards_per_run}")
    return [indices[i:i + shards_per_run] for i in range(0, len(indices), shards_per_run)]


@task(name="debate-shard-group-run", task_run_name="debate-shards-{group}")
def run_group(deployment: str, parameters: dict, group: list[int], timeout_s: float | None) -> str | None:
    """Run one group through the deployment and wait for it; None when it completed, else its state."""
    from prefect.deployments import run_deployment

    run = run_deployment(deployment, parameters={**parameters, "indices": group}, timeout=timeout_s,
                         poll_interval=2, flow_run_name=f"debate-shards-{group}")
    if run.state is not None and run.state.is_completed():
        return None
    return run.state.name if run.state else "no state"


def run_groups_through(deployment: str, groups: list[list[int]], parameters: dict, max_concurrency: int,
                       timeout_s: float | None) -> None:
    """One ``deployment`` run per group, ``max_concurrency`` at a time; raises if any did not complete."""
    with ThreadPoolTaskRunner(max_workers=max(1, max_concurrency)) as runner:
        futures = [runner.submit(run_group, {"deployment": deployment, "parameters": parameters, "group": group,
                                             "timeout_s": timeout_s}) for group in groups]
        states = [f.result() for f in futures]
    failed = [f"shards {group}: {state}" for group, state in zip(groups, states) if state is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(groups)} shard group run(s) of {deployment!r} did not complete: "
                           + "; ".join(failed))


@flow(name="debate-fanout", flow_run_name="debate-fanout-{recipe}")
def debate_fanout(recipe: str | None = None, overrides: list[str] | None = None,
                  inputs: dict[str, str] | None = None, deployment: str = "", shards_per_run: int = 1,
                  max_concurrency: int = 4, timeout_s: float | None = None) -> dict:
    """Compute the debate stage's missing shards in groups, then run the stage (which commits).

    Args:
        recipe: recipe path.
        overrides: recipe overrides.
        inputs: upstream artifact keys; planned from the recipe (and must be committed) if absent.
        deployment: ``debate-shard-group/<name>`` deployment to run groups through; empty = in process.
        shards_per_run: shards per group (one flow run each).
        max_concurrency: group runs in flight at once.
        timeout_s: how long to wait for one group run (None = no limit).

    Returns:
        The debate artifact ref, like the ``debate`` stage flow.
    """
    loaded = load_recipe(recipe, overrides or [])
    store = store_for(loaded)
    keys = upstream_keys(STAGE, loaded, store, dict(inputs or {}))
    key, n_shards = stage_plan(STAGES.get(STAGE), loaded, store, keys)
    if not store.is_committed(STAGE, key):
        done = store.done_shards(STAGE, key)
        groups = shard_groups([i for i in range(n_shards) if i not in done], shards_per_run)
        log.info("debate/%s: %d shard(s) to compute in %d group(s)%s", key, n_shards - len(done), len(groups),
                 f" through {deployment}" if deployment else " in process")
        parameters = {"recipe": recipe, "overrides": list(overrides or []), "inputs": keys}
        if deployment:
            run_groups_through(deployment, groups, parameters, max_concurrency, timeout_s)
        else:
            for group in groups:
                debate_shard_group(**parameters, indices=group)
    return STAGE_FLOWS[STAGE](recipe=recipe, overrides=overrides, inputs=keys)
