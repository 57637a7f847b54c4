"""One process of the two-process PRM test (``test_distributed.py``), started by ``accelerate launch``.

It runs the launch module's own entry point (``agentark_core.train.launch.main``: the PRM trainer,
rank 0 writing the metrics and the PRM) and records the PRM this process trained, so the test can
compare every rank's final weights: ``<output_dir>/../rank<R>.pt``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from agentark_core.train import launch, prm_train

built = []
build_prm = prm_train.build_prm


def recording_build_prm(*args, **kwargs):
    """``build_prm`` that also keeps the model it returns (the trainer's own, not a copy)."""
    built.append(build_prm(*args, **kwargs))
    return built[-1]


if __name__ == "__main__":
    prm_train.build_prm = recording_build_prm
    argv = sys.argv[1:]
    launch.main(argv)
    output_dir = Path(json.loads(Path(argv[argv.index("--args") + 1]).read_text())["output_dir"])
    weights = {name: tensor.detach().cpu() for name, tensor in built[0].state_dict().items()}
    torch.save(weights, output_dir.parent / f"rank{os.environ['RANK']}.pt")
