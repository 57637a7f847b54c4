"""Work pool base job templates render through Prefect with the GPU fields set."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from prefect.utilities.templating import apply_values
from prefect.workers.base import BaseJobConfiguration
from prefect.workers.process import ProcessJobConfiguration

from flows.server import pool_specs

POOLS = Path(__file__).resolve().parents[3] / "infra" / "work_pools"


def template(name: str) -> dict:
    return json.loads((POOLS / name).read_text())


def render(base: dict, values: dict) -> dict:
    """What a worker does: variable defaults, then the deployment's values, applied to the template."""
    defaults = {k: v["default"] for k, v in base["variables"]["properties"].items() if v.get("default") is not None}
    return apply_values(base["job_configuration"], {**defaults, **values})


def test_process_gpu_template_through_the_process_worker_configuration():
    config = asyncio.run(ProcessJobConfiguration.from_template_and_values(
        template("process-gpu.json"), {"cuda_visible_devices": "2,3", "env": {"HF_HOME": "/cache/hf"}}))
    assert config.env == {"CUDA_VISIBLE_DEVICES": "2,3", "HF_HOME": "/cache/hf"}
    default = asyncio.run(ProcessJobConfiguration.from_template_and_values(template("process-gpu.json"), {}))
    assert default.env == {"CUDA_VISIBLE_DEVICES": "0"}
    cpu = asyncio.run(ProcessJobConfiguration.from_template_and_values(template("process-cpu.json"), {}))
    assert cpu.env == {"CUDA_VISIBLE_DEVICES": ""}


def test_kubernetes_template_gpu_limit_node_selector_tolerations():
    selector = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    tolerations = [{"key": "gpu", "operator": "Equal", "value": "h100", "effect": "NoSchedule"}]
    job = render(template("kubernetes-gpu.json"), {"gpu_count": 4, "node_selector": selector,
                                                   "tolerations": tolerations, "namespace": "ml"})
    pod = job["job_manifest"]["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 4 and resources["requests"]["nvidia.com/gpu"] == 4
    assert pod["nodeSelector"] == selector and pod["tolerations"] == tolerations
    assert job["namespace"] == "ml" and job["job_manifest"]["metadata"]["namespace"] == "ml"
    assert pod["containers"][0]["image"] == "agentark:gpu"
    # the generic job configuration accepts the rendered fields it knows
    BaseJobConfiguration(**{k: v for k, v in job.items() if k in BaseJobConfiguration.model_fields})


def test_docker_template_device_requests():
    job = render(template("docker-gpu.json"), {"gpu_count": 2, "image": "registry/agentark:gpu"})
    [request] = job["container_create_kwargs"]["device_requests"]
    assert request == {"driver": "nvidia", "count": 2, "capabilities": [["gpu"]]}
    assert job["image"] == "registry/agentark:gpu" and job["container_create_kwargs"]["shm_size"] == "16g"
    from docker.types import DeviceRequest

    assert DeviceRequest(**request)["Count"] == 2  # the shape docker-py accepts


def test_pool_specs_pick_the_gpu_template_and_reject_unknown():
    specs = pool_specs("kubernetes")
    assert specs["agentark-gpu"]["type"] == "kubernetes" and specs["agentark-cpu"]["type"] == "process"
    assert "job_manifest" in specs["agentark-gpu"]["base_job_template"]["job_configuration"]
    with pytest.raises(ValueError, match="valid: process, kubernetes, docker"):
        pool_specs("slurm")


def test_accelerate_configs():
    folder = POOLS.parent / "accelerate"
    stages = {name: yaml.safe_load((folder / f"{name}.yaml").read_text()) for name in ("ddp", "zero2", "zero3")}
    assert stages["ddp"]["distributed_type"] == "MULTI_GPU"
    assert stages["zero2"]["deepspeed_config"]["zero_stage"] == 2
    assert stages["zero3"]["deepspeed_config"]["zero_stage"] == 3
