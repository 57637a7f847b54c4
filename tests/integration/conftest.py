"""The cold demo run (`agentark demo` on an empty store), shared by every module that checks it: the run takes
~8-10 min on 2 cores, so it happens once per session."""

from __future__ import annotations

import pytest

from tasks.store import ArtifactStore
from tests.integration.demo_cli import agentark


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """(store, cold CompletedProcess, cold seconds, the report manifest's metrics) of one cold demo."""
    store = tmp_path_factory.mktemp("demo") / "store"
    cold, cold_s = agentark("demo", store=store)
    assert cold.returncode == 0, cold.stderr[-3000:]
    manifest = ArtifactStore(str(store)).manifests("report")[0]
    return store, cold, cold_s, manifest["metrics"]
