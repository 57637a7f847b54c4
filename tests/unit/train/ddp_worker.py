"""One process of the two-process tests (``test_distributed.py``), started by ``accelerate launch``.

It runs the launch module's own entry point (``agentark_core.train.launch.main``: the route's trainer,
rank 0 writing the metrics and the model) and records the model this process trained (the PRM, or PPO's
policy + value head), so the test can compare every rank's final weights: ``<output_dir>/../rank<R>.pt``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from agentark_core.train import launch, ppo, prm_train

built = []


def recording(module, name: str, pick):
    """Replace ``module.name`` by a wrapper that also keeps ``pick(result)``: the trainer's own model, not a copy."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        built.append(pick(result))
        return result

    setattr(module, name, wrapper)


if __name__ == "__main__":
    if os.environ.get("TEST_CHUNK_TOKENS"):  # small LM-head chunks: the processes need different numbers of them
        from agentark_core.train import prm_likelihood

        prm_likelihood.CHUNK_TOKENS = int(os.environ["TEST_CHUNK_TOKENS"])
    argv = sys.argv[1:]
    route = argv[argv.index("--route") + 1]
    if route == "prm":
        recording(prm_train, "build_prm", lambda prm: prm)
    else:
        recording(ppo, "load_models", lambda models: models[0])
    launch.main(argv)
    output_dir = Path(json.loads(Path(argv[argv.index("--args") + 1]).read_text())["output_dir"])
    weights = {name: tensor.detach().cpu() for name, tensor in built[0].state_dict().items()}
    if os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") != "3":  # a ZeRO-3 process holds only its shard
        torch.save(weights, output_dir.parent / f"rank{os.environ['RANK']}.pt")
