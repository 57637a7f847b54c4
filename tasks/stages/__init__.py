"""The stage table: every pipeline stage registers here; flows look stages up by name.

Adding a stage = one module with a ``Stage`` and one ``STAGES.register`` line; the pipeline
order follows each stage's declared ``inputs``.
"""

from __future__ import annotations

from typing import Any

from agentark_core.registry import Registry
from tasks.runner import Stage

STAGES: Registry[Stage] = Registry("stage")


def add(stage: Stage) -> Stage:
    STAGES.register(stage.name)(stage)
    return stage


def pipeline_order(recipe: Any, names: list[str] | None = None) -> list[Stage]:
    """Stages in dependency order (inputs first); ``names`` limits the set (with their upstreams).

    The recipe decides stages' inputs where they depend on it (``Stage.inputs_for``).
    """
    wanted = set(names) if names is not None else set(STAGES.names())
    order: list[Stage] = []
    seen: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in trail:
            raise ValueError(f"stage cycle: {' -> '.join(trail + (name,))}")
        stage = STAGES.get(name)
        for upstream in stage.inputs_for(recipe):
            visit(upstream, trail + (name,))
        seen.add(name)
        order.append(stage)

    for name in sorted(wanted):
        visit(name, ())
    return order


from tasks.stages import (  # noqa: F401  (registration)
    debate,
    evaluate,
    extract,
    ingest,
    label,
    models,
    report,
    toy,
    train,
)
