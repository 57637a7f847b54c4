"""Run the `agentark` CLI as a user does, on a given store (the demo tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def agentark(*args: str, store: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI as a user does (no Prefect API in the environment) on ``store``; (result, seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"AGENTARK_STORE": str(store), "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", *args], check=False, cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=3600)
    return out, time.perf_counter() - start
