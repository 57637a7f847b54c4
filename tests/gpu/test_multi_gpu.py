"""The PRM's data-parallel loop on two GPUs (NCCL): the CPU test of ``tests/unit/train/test_distributed.py``
run where CUDA is, under DDP, ZeRO-2 and ZeRO-3, so its processes train on ``cuda:0`` / ``cuda:1`` with bf16
autocast and share gradients over NCCL (the loss falls, rank 0 writes the PRM and the metrics, DDP and ZeRO-2
ranks end with equal weights)."""

from __future__ import annotations

import pytest
import torch

from tests.unit.train.test_distributed import _train_prm_on_two

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices"),
]


@pytest.mark.parametrize("strategy", ["ddp", "zero2", "zero3"])
def test_prm_trains_on_two_gpus_over_nccl(tiny_model_path, tmp_path, strategy):
    metrics, saved, _ = _train_prm_on_two(tiny_model_path, tmp_path, strategy)
    assert metrics["peak_gpu_memory_gib"] > 0  # the processes trained on the GPUs
    losses = [row["loss"] for row in metrics["loss_curve"]]
    assert len(losses) == 20 and sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    assert saved and all(torch.isfinite(tensor.float()).all() for tensor in saved.values())
