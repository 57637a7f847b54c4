"""The PRM's data-parallel loop on two GPUs (NCCL): the CPU test of ``tests/unit/train/test_distributed.py``
run where CUDA is, so its processes train on ``cuda:0`` / ``cuda:1`` in bf16 and share gradients over NCCL
(both ranks end with equal weights, the loss falls, rank 0 writes the PRM and the metrics)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.unit.train.test_distributed import (
    test_prm_trains_on_two_processes_with_shared_gradients as prm_ddp,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices"),
]


def test_prm_trains_on_two_gpus_over_nccl(tiny_model_path, tmp_path):
    prm_ddp(tiny_model_path, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["peak_gpu_memory_gib"] > 0  # the processes trained on the GPUs
