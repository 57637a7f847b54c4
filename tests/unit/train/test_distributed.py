"""Training on several processes: our own loops (the PRM's, PPO's) under DDP on two real CPU processes (gloo)
through ``accelerate launch``, and the refusals of launches a trainer or the machine cannot do."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agentark_core.train.launch import accelerate_command, check_devices, check_strategy, launch

WORKER = Path(__file__).with_name("ddp_worker.py")


def _prm_rows() -> list[dict]:
    """Four questions, each with a correct trace and two wrong ones (a wrong step each)."""
    rows = []
    for q in range(4):
        a, b = q + 3, q + 4
        traces = {"good": ([f"{a} + {b} = {a + b}.", f"{a + b} * 2 = {2 * (a + b)}."], [1, 1]),
                  "late": ([f"{a} + {b} = {a + b}.", f"{a + b} * 2 = {a + b}."], [1, 0]),
                  "early": ([f"{a} + {b} = {a}.", f"{a} * 2 = {2 * a}."], [0, 0])}
        rows += [{"question_id": f"q{q}", "trace_id": f"q{q}-{name}", "prompt": f"What is {a} + {b} times 2?",
                  "steps": steps, "step_labels": labels, "is_correct": name == "good", "source": "final"}
                 for name, (steps, labels) in traces.items()]
    return rows


def test_prm_trains_on_two_processes_with_shared_gradients(tiny_model_path, tmp_path):
    """Two gloo processes: each takes its own questions, DDP averages the gradients, so both end with
    the same weights; the loss (mean over ranks) goes down; rank 0 writes the metrics and the PRM."""
    from agentark_core.train.prm_model import PRM

    config = {"stage1_max_steps": 4, "stage2_max_steps": 16, "traces_per_batch": 3, "stage1_learning_rate": 1e-2,
              "stage2_learning_rate": 3e-3, "warmup_ratio": 0.0, "heldout_fraction": 0.0, "resume": False}
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": tiny_model_path, "examples": _prm_rows(),
                               "output_dir": str(tmp_path / "prm"), "config": config}))
    metrics_file = tmp_path / "metrics.json"
    ranks = _launch_two(tmp_path, "prm", run, metrics_file)
    start = PRM.from_student(tiny_model_path).state_dict()
    assert any(not torch.equal(start[name], ranks[0][name].to(start[name].dtype)) for name in start
               if name.startswith("backbone"))  # Stage II trained the backbone too

    metrics = json.loads(metrics_file.read_text())
    losses = [row["loss"] for row in metrics["loss_curve"]]
    assert len(losses) == 20 and metrics["stage1_steps"] == 4 and metrics["stage2_steps"] == 16
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    saved = PRM.load(tmp_path / "prm").state_dict()
    assert all(torch.equal(saved[name].float(), ranks[0][name].float()) for name in saved)


def _launch_two(tmp_path: Path, route: str, run: Path, metrics_file: Path) -> list[dict]:
    """Train ``route`` on two gloo processes through the recording worker; each rank's final weights, checked
    equal (DDP averaged every gradient)."""
    command = accelerate_command(route, str(run), 2, "ddp", str(metrics_file))
    entry = command.index("-m", 3)  # the launch module's entry -> the recording worker (same arguments)
    command = [*command[:entry], str(WORKER), *command[entry + 2:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert all(torch.equal(ranks[0][name], ranks[1][name]) for name in ranks[0])
    return ranks


def test_ppo_trains_on_two_processes_with_shared_gradients(tiny_model_path, tmp_path):
    """Two gloo processes, each its own share of the prompts and its own samples: DDP keeps policy and value
    head equal on both, training moved them, rank 0 saved them and wrote the metrics."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from agentark_core.train.ppo import VALUE_HEAD_FILE

    rows = [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
             "choices": []} for i in range(6)]  # fmt: skip
    config = {"max_steps": 3, "batch_size": 2, "mini_batch_size": 1, "ppo_epochs": 2, "max_completion_length": 8,
              "learning_rate": 1e-2, "kl_coef": 0.1, "max_prompt_length": 64, "device": "cpu"}
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": tiny_model_path, "examples": rows, "output_dir": str(tmp_path / "ppo"),
                               "config": config}))
    metrics_file = tmp_path / "metrics.json"
    ranks = _launch_two(tmp_path, "ppo", run, metrics_file)
    start = AutoModelForCausalLM.from_pretrained(tiny_model_path).state_dict()
    trained = {name.removeprefix("policy."): t for name, t in ranks[0].items() if name.startswith("policy.")}
    assert any(not torch.equal(start[name], trained[name]) for name in start)
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "ppo").state_dict()
    assert all(torch.equal(saved[name], trained[name]) for name in saved)
    head = load_file(tmp_path / "ppo" / VALUE_HEAD_FILE)
    assert torch.equal(head["weight"], ranks[0]["value_head.weight"])

    metrics = json.loads(metrics_file.read_text())
    assert metrics["global_step"] == 3 and len(metrics["loss_curve"]) == 3 and metrics["algorithm"] == "ppo"
    assert all(math.isfinite(row["loss"]) and 0.0 <= row["reward"] <= 1.0 for row in metrics["loss_curve"])


def test_launches_a_trainer_or_the_machine_cannot_do_are_refused(tmp_path):
    check_strategy("sft", "zero3")
    check_strategy("grpo", "zero2")
    check_strategy("prm", "ddp")
    with pytest.raises(ValueError, match=r"route 'prm' cannot train under 'zero3'; .* with: ddp"):
        check_strategy("prm", "zero3")
    check_strategy("ppo", "ddp")
    with pytest.raises(ValueError, match=r"route 'ppo' cannot train under 'zero2'; .* with: ddp"):
        check_strategy("ppo", "zero2")
    check_devices(2, devices=2)
    with pytest.raises(ValueError, match="4 GPUs asked for, 2 visible here"):
        check_devices(4, devices=2)
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": "m", "examples": [], "output_dir": str(tmp_path / "o")}))
    with pytest.raises(ValueError, match="2 GPUs asked for, 0 visible here"):
        launch("prm", str(run), num_gpus=2, devices=0)  # refused before any process starts
    assert not (tmp_path / "o").exists()


def test_accelerate_command_picks_a_free_rendezvous_port():
    first = accelerate_command("prm", "r.json", 2, None, "m.json")
    port = int(first[first.index("--main_process_port") + 1])
    assert 0 < port < 65536 and first[0] == sys.executable
