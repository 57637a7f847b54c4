"""Fixtures shared by the GRPO tests: a tiny real student and a PRM initialised from it."""

from __future__ import annotations

import pytest
import torch

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.prm_model import PRM


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A tiny random-init Qwen3 student (HF folder); a test module may define its own ``tiny`` instead."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def prm_dir(tiny, tmp_path_factory) -> str:
    """A PRM from ``tiny`` (seeded): its scores differ between completions, so GRPO steps update the policy."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("prm") / "prm"
    PRM.from_student(tiny).save(path)
    return str(path)
