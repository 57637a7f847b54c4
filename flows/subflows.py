"""Running stage flows as subflows of an in-process parent flow.

Prefect joins a flow run's heartbeat thread when the run ends, which costs up to a second per
subflow (it sleeps in one-second steps). Subflows run inside the parent's process, whose own
heartbeats already detect a crash, so their heartbeats are switched off here: a fully cached
20-stage pipeline then takes seconds instead of twenty.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.context import SettingsContext, get_settings_context


@contextmanager
def without_subflow_heartbeats() -> Iterator[None]:
    ctx = get_settings_context()
    settings = ctx.settings
    quiet = settings.model_copy(update={"flows": settings.flows.model_copy(update={"heartbeat_frequency": None})})
    with SettingsContext(profile=ctx.profile, settings=quiet):
        yield
