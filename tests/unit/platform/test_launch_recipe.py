"""A training's GPUs from the recipe (``train.launch.<section>``): loaded and checked with the whole
recipe, reaching the route's launcher and the training stage's key, and the GPU deployments' job
variables (issue 20 deliverable 4)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from agentark_core.config_loader import ConfigError
from agentark_core.recipe import load_recipe, recipe_source
from tasks.runner import compute_key
from tasks.stages import STAGES
from tasks.stages.routes import ROUTES, TrainJob, in_process, launcher_for, stage_gpus
from tasks.validate import validate_recipe

DEMO = Path(__file__).resolve().parents[3] / "recipes" / "demo.yaml"


def _recipe(*overrides: str):
    return load_recipe(DEMO, ["stages=[report]", *overrides])


@pytest.mark.parametrize("override, message", [
    ("train.launch.prm.num_gpus=0", "train.launch.prm: num_gpus must be >= 1, got 0"),
    ("train.launch.sft.distributed=zero4", "train.launch.sft.distributed: 'zero4' is not one of"),
    ("train.launch.dpo.num_gpus=2", "unknown key 'train.launch.dpo' (valid under train.launch: sft, da, prm"),
    ("train.launch.grpo.num_gpus=two", "train.launch.grpo.num_gpus: expected int"),
])
def test_bad_launch_fields_fail_at_load_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        _recipe(override)
    assert message in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["train.launch.prm.num_gpus=2", "train.launch.prm.distributed=zero3"],
     "train.launch.prm: num_gpus 2 with distributed 'zero3': route 'prm' cannot train under 'zero3'"),
    (["train.rl=ppo", "train.launch.ppo.num_gpus=4", "train.launch.ppo.distributed=zero2"],
     "train.launch.ppo: num_gpus 4 with distributed 'zero2': route 'ppo' cannot train under 'zero2'"),
])
def test_a_trainer_that_cannot_take_the_gpus_fails_the_whole_recipe(overrides, message, monkeypatch):
    from agentark_core.train import launch

    for name in ("prm", "ppo"):  # every built-in trainer takes every config: a DDP-only one (as theirs were)
        monkeypatch.setitem(launch.ROUTES._items, name, dataclasses.replace(launch.ROUTES.get(name),
                                                                            strategies=("ddp",)))
    source = recipe_source(DEMO, overrides)
    with pytest.raises(ConfigError) as err:
        validate_recipe(_recipe(*overrides), source)
    assert str(err.value).startswith(f"{source}: ") and message in str(err.value)
    monkeypatch.undo()
    validate_recipe(_recipe(*overrides), source)  # the real trainers train under ZeRO too


def test_ppo_gpus_are_not_checked_when_pad_runs_grpo():
    validate_recipe(_recipe("train.launch.ppo.num_gpus=4", "train.launch.ppo.distributed=zero3",
                            "train.launch.grpo.num_gpus=2",
                            "train.launch.grpo.distributed=zero3", "train.launch.sft.num_gpus=4",
                            "train.launch.sft.distributed=zero3", "train.launch.prm.num_gpus=2"), "<r>")


def test_gpus_reach_the_launcher_and_the_training_key():
    plain, multi = _recipe(), _recipe("train.launch.prm.num_gpus=2", "train.launch.sft.num_gpus=4",
                                      "train.launch.sft.distributed=zero3", "train.rl=ppo")
    prm, rsft, da, pad = (ROUTES.get(n) for n in ("prm", "rsft", "da", "pad"))
    assert launcher_for(prm, plain) is in_process and launcher_for(da, multi) is in_process
    assert launcher_for(prm, multi).__qualname__ == "accelerate_launcher(num_gpus=2, accelerate_config='ddp')"
    assert launcher_for(rsft, multi).__qualname__ == "accelerate_launcher(num_gpus=4, accelerate_config='zero3')"
    assert launcher_for(pad, multi) is in_process  # train.rl = ppo: train.launch.ppo, one GPU by default
    ppo_ddp = _recipe("train.rl=ppo", "train.launch.ppo.num_gpus=2")
    assert launcher_for(pad, ppo_ddp).__qualname__ == "accelerate_launcher(num_gpus=2, accelerate_config='ddp')"
    stage = STAGES.get("train_prm")
    inputs = {name: "k" for name in stage.inputs}
    assert compute_key(stage, plain, inputs) != compute_key(stage, multi, inputs)  # the effective batch changes
    assert compute_key(STAGES.get("train_da"), plain, inputs) == compute_key(STAGES.get("train_da"), multi, inputs)


def _visible_gpus() -> int:
    from agentark_core.train.launch import visible_gpus

    return visible_gpus()


@pytest.mark.skipif(_visible_gpus() >= 2, reason="this machine has the two GPUs")
def test_too_few_visible_gpus_fail_the_training_naming_the_recipe_key(tmp_path):
    import pandas as pd

    recipe = _recipe("train.launch.prm.num_gpus=2")
    route = ROUTES.get("prm")
    launcher = launcher_for(route, recipe)
    job = TrainJob(route, recipe, "student", pd.DataFrame(), str(tmp_path / "out"), object())
    with pytest.raises(ValueError, match=r"^train.launch.prm.num_gpus: 2 GPUs asked for, 0 visible here"):
        launcher(job)
    assert not (tmp_path / "out").exists()


def test_stage_gpus_and_deployment_job_variables(tmp_path):
    from flows.server import deploy_file

    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(yaml.safe_dump({
        "stages": ["report"], "teacher": {"model": "t", "backend": "vllm", "options": {"tensor_parallel_size": 2}},
        "train": {"launch": {"prm": {"num_gpus": 2}, "sft": {"num_gpus": 4, "distributed": "zero3"}}}}))
    recipe = load_recipe(recipe_file)
    assert [stage_gpus(s, recipe) for s in ("train_rsft", "train_prm", "train_da", "debate", "eval_mas", "ingest")] \
        == [4, 2, 1, 2, 2, 1]
    for pool, key, four in (("process", "cuda_visible_devices", "0,1,2,3"), ("kubernetes", "gpu_count", 4)):
        config = yaml.safe_load(deploy_file("local", tmp_path / f"{pool}.yaml", str(recipe_file), pool).read_text())
        asks = {d["entrypoint"]: d["work_pool"].get("job_variables") for d in config["deployments"]
                if d["name"] in ("default", "gpu")}
        assert asks["flows/stages.py:train_rsft"] == {key: four}
        assert asks["flows/pipeline.py:pipeline"] == {key: four}  # the whole pipeline in one flow run
        assert asks["flows/stages.py:train_prm"][key] in ("0,1", 2)
        assert asks["flows/fanout.py:debate_shard_group"][key] in ("0,1", 2)
        assert asks["flows/stages.py:train_da"] is None and asks["flows/stages.py:ingest"] is None
    plain = yaml.safe_load(deploy_file("local", tmp_path / "plain.yaml").read_text())
    assert not any("job_variables" in d["work_pool"] for d in plain["deployments"])


def test_the_plan_bills_a_training_on_its_gpus():
    from tasks.plan import plan_recipe

    paper = DEMO.parent / "paper" / "qwen3_32b" / "qwen3-0.6b_gsm8k.yaml"

    def prm_row(*overrides):
        plan = plan_recipe(load_recipe(paper, ["data.limit=100", *overrides]), "paper")
        return next(row for row in plan["stages"] if row["stage"] == "train_prm")

    one, two = prm_row(), prm_row("train.launch.prm.num_gpus=2")
    assert one["gpus"] == 1 and two["gpus"] == 2 and two["gpu_hours"] == one["gpu_hours"]
    assert any("train.launch.prm: 2 GPUs (ddp), linear scaling assumed" in note for note in two["notes"])


def test_the_job_variables_render_into_the_gpu_templates(tmp_path):
    """What a worker does with a training deployment's variables: the process pool's flow run sees the
    GPUs in CUDA_VISIBLE_DEVICES, a kubernetes pod requests and is limited to that many."""
    import asyncio
    import json

    from prefect.utilities.templating import apply_values
    from prefect.workers.process import ProcessJobConfiguration

    from flows.server import deploy_file

    pools = DEMO.parents[1] / "infra" / "work_pools"
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(yaml.safe_dump({"stages": ["report"], "train": {"launch": {"prm": {"num_gpus": 2}}}}))

    def prm_variables(pool: str) -> dict:
        config = yaml.safe_load(deploy_file("local", tmp_path / f"{pool}.yaml", str(recipe_file), pool).read_text())
        return next(d["work_pool"]["job_variables"] for d in config["deployments"]
                    if d["entrypoint"] == "flows/stages.py:train_prm")

    process = json.loads((pools / "process-gpu.json").read_text())
    job = asyncio.run(ProcessJobConfiguration.from_template_and_values(process, prm_variables("process")))
    assert job.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    kubernetes = json.loads((pools / "kubernetes-gpu.json").read_text())
    defaults = {k: v["default"] for k, v in kubernetes["variables"]["properties"].items() if v.get("default") is not None}
    rendered = apply_values(kubernetes["job_configuration"], {**defaults, **prm_variables("kubernetes")})
    limits = rendered["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 2
