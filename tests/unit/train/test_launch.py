"""Training launch: the accelerate command line for multi-GPU SFT, the in-process path on CPU, and
config objects written to run files (the pipeline's accelerate launcher)."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from agentark_core.train.launch import (
    ACCELERATE_DIR,
    ROUTES,
    Trainer,
    accelerate_command,
    config_fields,
    launch,
    main,
    trainer_for,
)


def _run_file(tmp_path, model_path, examples):
    config = {"max_steps": 2, "per_device_train_batch_size": 2, "bf16": False, "use_cpu": True,
              "report_to": "none", "save_strategy": "no", "logging_steps": 1}  # fmt: skip
    args = {
        "model_path": model_path,
        "examples": examples,
        "output_dir": str(tmp_path / "out"),
        "config": config,
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(args))
    return path


def test_accelerate_command_line(tmp_path):
    cmd = accelerate_command("sft", "run.json", 4, "zero2", "m.json")
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[cmd.index("--config_file") + 1] == str(ACCELERATE_DIR / "zero2.yaml")
    assert cmd[cmd.index("-m", 3) :] == [
        "-m", "agentark_core.train.launch", "--route", "sft", "--args", "run.json", "--metrics", "m.json",
    ]  # fmt: skip
    assert accelerate_command("sft", "r.json", 2, None, "m.json")[6] == str(ACCELERATE_DIR / "ddp.yaml")
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("distributed_type: MULTI_GPU\n")
    assert accelerate_command("sft", "r.json", 2, str(yaml), "m.json")[6] == str(yaml)


def test_bad_routes_and_configs_fail_with_valid_names():
    with pytest.raises(KeyError, match="grpo, ppo, prm, sft"):
        accelerate_command("dpo", "r.json", 2, None, "m.json")
    with pytest.raises(ValueError, match=r"'zero9' not found; valid names: \['ddp', 'zero2', 'zero3'\]"):
        accelerate_command("sft", "r.json", 2, "zero9", "m.json")
    for route in ("prm", "ppo"):  # our own loops take ZeRO too (agentark_core.train.engine)
        command = accelerate_command(route, "r.json", 2, "zero3", "m.json")
        assert command[command.index("--config_file") + 1] == str(ACCELERATE_DIR / "zero3.yaml")


def test_in_process_launch_trains_from_a_parquet_file(tiny_model_path, tmp_path):
    rows = [
        {"prompt": f"What is {i} + 1?", "reasoning": f"{i} + 1 = {i + 1}.", "answer": f"Final Answer: {i + 1}",
         "weight": 1.0}
        for i in range(4)
    ]  # fmt: skip
    pd.DataFrame(rows).to_parquet(tmp_path / "sft.parquet")
    metrics = launch(
        "sft", str(_run_file(tmp_path, tiny_model_path, str(tmp_path / "sft.parquet"))), num_gpus=1
    )
    assert metrics["global_step"] == 2 and (tmp_path / "out" / "config.json").exists()
    main(["--route", "sft", "--args", str(tmp_path / "run.json"), "--metrics", str(tmp_path / "m.json")])
    assert json.loads((tmp_path / "m.json").read_text())["global_step"] == 2
    with pytest.raises(ValueError, match="missing key"):
        (tmp_path / "bad.json").write_text(json.dumps({"model_path": tiny_model_path}))
        launch("sft", str(tmp_path / "bad.json"))


def test_one_gpu_on_a_multi_gpu_machine_trains_in_a_child_that_sees_one(
    tiny_model_path, tmp_path, monkeypatch
):
    """With several GPUs visible, num_gpus=1 must not train in-process (transformers' Trainer would
    wrap the model in DataParallel over all of them): a child process sees only the first one."""
    from agentark_core.train import launch as launch_module

    assert launch_module.one_device_env(1) is None and launch_module.one_device_env(0) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert launch_module.one_device_env(2)["CUDA_VISIBLE_DEVICES"] == "3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the CPU child sees no GPU either way
    monkeypatch.setattr(
        launch_module, "one_device_env", lambda: {**__import__("os").environ, "AGENTARK_CHILD": "1"}
    )
    monkeypatch.setattr(launch_module, "run_route", lambda *a: pytest.fail("trained in-process"))
    rows = [
        {"prompt": "What is 1 + 1?", "reasoning": "1 + 1 = 2.", "answer": "Final Answer: 2", "weight": 1.0}
    ] * 4
    metrics = launch("sft", str(_run_file(tmp_path, tiny_model_path, rows)), num_gpus=1)
    assert metrics["global_step"] == 2 and (tmp_path / "out" / "config.json").exists()


def test_config_objects_round_trip_through_run_file_fields():
    """Each trainer's config rebuilds equal from ``config_fields`` (JSON), keeping fields that
    ``__post_init__`` derives out (GRPO's generation batch depends on the number of processes)."""
    from agentark_core.train.grpo_config import AgentArkGRPOConfig
    from agentark_core.train.prm_config import PRMConfig
    from agentark_core.train.sft_config import AgentArkSFTConfig

    configs = [
        AgentArkSFTConfig(output_dir="/tmp/o", learning_rate=3e-4, max_steps=2, use_cpu=True, bf16=False,
                          report_to="none", lr_scheduler_type="cosine"),
        AgentArkGRPOConfig(output_dir="/tmp/o", max_steps=1, num_generations=2, per_device_train_batch_size=2,
                           use_cpu=True, bf16=False, report_to="none"),
        PRMConfig(stage1_max_steps=3, traces_per_batch=4),
    ]
    for config in configs:
        fields = json.loads(json.dumps(config_fields(config)))
        trainer = ROUTES.get(trainer_for(config))
        rebuilt = trainer.build_config({k: v for k, v in fields.items() if k != "output_dir"}, "/tmp/o")
        assert type(rebuilt) is type(config)
        assert {f: getattr(rebuilt, f) for f in fields} == {f: getattr(config, f) for f in fields}
        assert rebuilt == config if not hasattr(config, "to_dict") else rebuilt.to_dict() == config.to_dict()
    sft, grpo, prm = (config_fields(c) for c in configs)
    assert sft["learning_rate"] == 3e-4 and sft["lr_scheduler_type"] == "cosine"
    assert "generation_batch_size" not in grpo and "steps_per_generation" not in grpo
    assert prm == {"stage1_max_steps": 3, "traces_per_batch": 4}
    with pytest.raises(ValueError, match="no launchable trainer takes a dict"):
        trainer_for({})


def test_grpo_launches_from_a_config_object_with_the_prm_helper(tiny_model_path, tmp_path):
    """What the pipeline's accelerate launcher writes for PAD: the GRPO config as fields, the prompts as
    parquet and the PRM as a helper path; the trainer is found from the config's class."""
    import torch

    from agentark_core.train.grpo_config import AgentArkGRPOConfig
    from agentark_core.train.prm_model import PRM

    torch.manual_seed(1)
    PRM.from_student(tiny_model_path).save(tmp_path / "prm")
    config = AgentArkGRPOConfig(output_dir=str(tmp_path / "elsewhere"), num_generations=2, max_steps=1,
                                per_device_train_batch_size=2, max_completion_length=8, bf16=False, use_cpu=True,
                                report_to="none", save_strategy="no", logging_steps=1, dataloader_pin_memory=False)
    rows = [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
             "choices": []} for i in range(2)]
    pd.DataFrame(rows).to_parquet(tmp_path / "prompts.parquet")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": tiny_model_path, "examples": str(tmp_path / "prompts.parquet"),
                               "output_dir": str(tmp_path / "out"), "config": config_fields(config),
                               "helpers": {"prm_path": str(tmp_path / "prm")}}))
    assert trainer_for(config) == "grpo"
    metrics = launch("grpo", str(run), num_gpus=1)
    assert metrics["global_step"] == 1 and metrics["reward_funcs"] == ["prm_score", "verifiable"]
    assert (tmp_path / "out" / "config.json").exists() and not (tmp_path / "elsewhere").exists()


def test_jsonl_examples_keep_their_json_types(tmp_path):
    """A ground truth that looks like a number stays the string it is (GRPO's prompt rows check it)."""
    from agentark_core.train.launch import load_examples

    rows = [{"question_id": "q1", "prompt": "2 + 10?", "gt": "12", "task_type": "math", "choices": []}]
    pd.DataFrame(rows).to_json(tmp_path / "p.jsonl", orient="records", lines=True)
    loaded = load_examples(str(tmp_path / "p.jsonl")).to_dict(orient="records")
    assert loaded == rows and isinstance(loaded[0]["gt"], str)


def test_a_one_device_trainer_is_refused_every_launch():
    """A trainer registered without strategies (a loop with no process group) gets no accelerate launch."""
    ROUTES.register("one_device")(Trainer("agentark_core.train.ppo_config:AgentArkPPOConfig",
                                          "agentark_core.train.ppo:train_ppo"))
    try:
        with pytest.raises(ValueError, match=r"route 'one_device' trains on one device; multi-GPU routes: \['grpo', "):
            accelerate_command("one_device", "r.json", 2, None, "m.json")
    finally:
        ROUTES.remove("one_device")
