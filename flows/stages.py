"""One Prefect flow per stage. Each takes the recipe path + overrides and, optionally, the
upstream artifact keys to run from (otherwise they are planned from the recipe and must exist).

Deployment entrypoints: ``flows/stages.py:<stage>`` (``ingest``, ``sft_rsft``, ...), one per stage.
"""

from __future__ import annotations

from prefect import Flow, flow

from tasks.prefect_stage import run_stage_flow
from tasks.stages import STAGES


def stage_flow(stage_name: str) -> Flow:
    """Build the flow for one stage (the same body for every stage: orchestration only)."""

    def body(recipe: str | None = None, overrides: list[str] | None = None,
             inputs: dict[str, str] | None = None) -> dict:
        return run_stage_flow(stage_name, recipe, overrides, inputs)

    body.__name__ = stage_name
    body.__doc__ = f"Run the {stage_name!r} stage (reusing its artifact when the inputs are unchanged)."
    return flow(name=stage_name.replace("_", "-"), flow_run_name=f"{stage_name}-{{recipe}}", retries=0)(body)


class StageFlows(dict):
    """``{stage name: flow}``, built on first use, so a stage registered later (a route added through
    ``tasks.stages.routes.register_route``) has its flow too; an unknown name fails with the valid list."""

    def __missing__(self, name: str) -> Flow:
        STAGES.get(name)
        self[name] = stage_flow(name)
        return self[name]


STAGE_FLOWS: dict[str, Flow] = StageFlows({name: stage_flow(name) for name in STAGES.names()})
globals().update(STAGE_FLOWS)  # module attributes for deployment entrypoints (flows/server.py)


def __getattr__(name: str) -> Flow:
    """Entrypoint ``flows/stages.py:<stage>`` of a stage registered after this module was imported."""
    if name in STAGES:
        return STAGE_FLOWS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
