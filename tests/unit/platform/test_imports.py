"""``import agentark_core`` (and its submodules) must stay free of orchestration and heavy engines."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ["prefect", "pandera", "fsspec", "s3fs", "vllm", "deepspeed"]
MODULES = ["agentark_core", "agentark_core.recipe", "agentark_core.data", "agentark_core.llm",
           "agentark_core.mas", "agentark_core.answers", "agentark_core.verify", "agentark_core.extract",
           "agentark_core.train", "agentark_core.evaluate", "agentark_core.toy"]


def test_core_imports_no_orchestration_or_engines():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}:\n    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"agentark_core imported: {out.stdout.strip()}"
