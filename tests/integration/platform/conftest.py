"""Fixtures shared by the platform integration tests."""

from __future__ import annotations

import pytest

from tasks.store import ArtifactStore


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path) -> ArtifactStore:
    """An empty artifact store, once in a local folder and once on the real S3 server (SeaweedFS)."""
    if request.param == "file":
        return ArtifactStore(str(tmp_path / "store"))
    server = request.getfixturevalue("s3_server")
    return ArtifactStore(server.new_root(), storage_options=server.storage_options())
