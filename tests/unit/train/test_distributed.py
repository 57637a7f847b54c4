"""Training on several processes: our own loops (the PRM's, PPO's) under DDP on two real CPU processes (gloo)
through ``accelerate launch``, and the refusals of launches a trainer or the machine cannot do."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agentark_core.train.launch import ROUTES, accelerate_command, check_devices, check_strategy, launch

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


PRM_CONFIG = {"stage1_max_steps": 4, "stage2_max_steps": 16, "traces_per_batch": 3, "stage1_learning_rate": 1e-2,
              "stage2_learning_rate": 3e-3, "warmup_ratio": 0.0, "heldout_fraction": 0.0, "resume": False}


def test_prm_trains_on_two_processes_with_shared_gradients_under_ddp_and_zero(tiny_model_path, tmp_path):
    """Two gloo processes under DDP, ZeRO-2 and ZeRO-3: each takes its own questions, the gradients are averaged,
    so both end with the same weights; the loss (mean over ranks) goes down; rank 0 writes the metrics and the
    PRM; the curriculum's Stage II trained the backbone too. ZeRO shards what DDP replicates (fp32 weights,
    gradients, AdamW moments), so the three give one loss curve and one PRM up to the float error of other
    reduction orders (measured: <= 0.14% on the losses, 20 steps at lr 1e-2). The LM head of the likelihood
    features runs in 16-token chunks, so the processes need different numbers of head calls (ZeRO-3 evens them)."""
    from agentark_core.train.prm_model import PRM

    start = PRM.from_student(tiny_model_path).state_dict()
    runs = {name: _train_prm_on_two(tiny_model_path, tmp_path / name, name) for name in ("ddp", "zero2", "zero3")}
    for name, (metrics, saved, ranks) in runs.items():
        assert any(not torch.equal(start[k], saved[k].to(start[k].dtype)) for k in start if k.startswith("backbone"))
        losses = [row["loss"] for row in metrics["loss_curve"]]
        assert len(losses) == 20 and metrics["stage1_steps"] == 4 and metrics["stage2_steps"] == 16, name
        assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, (name, losses)
        if ranks:  # ZeRO-3's processes each hold a shard: its saved PRM is the gathered whole
            assert all(torch.equal(saved[k].float(), ranks[0][k].float()) for k in saved), name
    ddp_losses, ddp_prm = [r["loss"] for r in runs["ddp"][0]["loss_curve"]], runs["ddp"][1]
    for name in ("zero2", "zero3"):
        metrics, prm, _ = runs[name]
        assert [r["loss"] for r in metrics["loss_curve"]] == pytest.approx(ddp_losses, rel=5e-3), name
        assert prm.keys() == ddp_prm.keys()
        worst = max((prm[k].float() - ddp_prm[k].float()).abs().max().item() for k in prm)
        assert worst < 1e-3, (name, worst)


def _train_prm_on_two(model_path: str, tmp_path: Path, strategy: str) -> tuple[dict, dict, list[dict]]:
    """Train the PRM on :func:`_prm_rows` on two processes: ``(metrics, saved PRM state, each rank's weights)``
    (no per-rank weights under ZeRO-3: its processes hold shards)."""
    from agentark_core.train.prm_model import PRM

    tmp_path.mkdir(parents=True, exist_ok=True)
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": model_path, "examples": _prm_rows(),
                               "output_dir": str(tmp_path / "prm"), "config": PRM_CONFIG}))
    metrics_file = tmp_path / "metrics.json"
    ranks = _launch_two(tmp_path, "prm", run, metrics_file, strategy, {"TEST_CHUNK_TOKENS": "16"})
    return json.loads(metrics_file.read_text()), PRM.load(tmp_path / "prm").state_dict(), ranks


def _launch_two(tmp_path: Path, route: str, run: Path, metrics_file: Path, strategy: str = "ddp",
                env: dict | None = None) -> list[dict]:
    """Train ``route`` on two gloo processes under ``strategy`` (``env`` added to their environment) through the
    recording worker; each rank's final weights, checked equal (the gradients were averaged); none under ZeRO-3
    (each rank holds a shard)."""
    command = accelerate_command(route, str(run), 2, strategy, str(metrics_file))
    entry = command.index("-m", 3)  # the launch module's entry -> the recording worker (same arguments)
    command = [*command[:entry], str(WORKER), *command[entry + 2:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    if strategy == "zero3":
        return []
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert all(torch.equal(ranks[0][name], ranks[1][name]) for name in ranks[0])
    return ranks


@pytest.mark.parametrize("strategy", ["ddp", "zero2", "zero3"])
def test_ppo_trains_on_two_processes_with_shared_gradients(tiny_model_path, tmp_path, strategy):
    """Two gloo processes, each its own share of the prompts and its own samples: DDP (or DeepSpeed ZeRO-2/3)
    keeps policy and value head equal on both, training moved them, rank 0 saved them and wrote the metrics
    (under ZeRO-3 the held-out prompts are sampled by both processes: each forward is a collective)."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from agentark_core.train.ppo import VALUE_HEAD_FILE

    rows = [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
             "choices": []} for i in range(6)]  # fmt: skip
    config = {"max_steps": 3, "batch_size": 2, "mini_batch_size": 1, "ppo_epochs": 2, "max_completion_length": 8,
              "learning_rate": 1e-2, "kl_coef": 0.1, "max_prompt_length": 64, "device": "cpu",
              "heldout_prompts": 2, "eval_steps": 2}
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_path": tiny_model_path, "examples": rows, "output_dir": str(tmp_path / "ppo"),
                               "config": config}))
    metrics_file = tmp_path / "metrics.json"
    ranks = _launch_two(tmp_path, "ppo", run, metrics_file, strategy)
    start = AutoModelForCausalLM.from_pretrained(tiny_model_path).state_dict()
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "ppo").state_dict()
    assert any(not torch.equal(start[name], saved[name]) for name in start)
    head = load_file(tmp_path / "ppo" / VALUE_HEAD_FILE)
    assert head["weight"].shape == (1, saved["model.embed_tokens.weight"].shape[1]) and head["weight"].abs().sum() > 0
    if ranks:  # ZeRO-3's processes each hold a shard: the saved policy is the gathered whole
        trained = {name.removeprefix("policy."): t for name, t in ranks[0].items() if name.startswith("policy.")}
        assert all(torch.equal(saved[name], trained[name]) for name in saved)
        assert torch.equal(head["weight"], ranks[0]["value_head.weight"])

    metrics = json.loads(metrics_file.read_text())
    assert metrics["global_step"] == 3 and len(metrics["loss_curve"]) == 3 and metrics["algorithm"] == "ppo"
    assert all(math.isfinite(row["loss"]) and 0.0 <= row["reward"] <= 1.0 for row in metrics["loss_curve"])
    assert [row["step"] for row in metrics["eval_curve"]] == [0, 2]  # rank 0's held-out rows only


def test_launches_a_trainer_or_the_machine_cannot_do_are_refused(tmp_path, monkeypatch):
    for route in ("sft", "grpo", "prm", "ppo"):  # every route trains on several GPUs under each config
        for name in ("ddp", "zero2", "zero3"):
            check_strategy(route, name)
    ddp_only = dataclasses.replace(ROUTES.get("prm"), strategies=("ddp",))  # a loop without ZeRO (as PRM's was)
    monkeypatch.setitem(ROUTES._items, "prm", ddp_only)
    with pytest.raises(ValueError, match=r"route 'prm' cannot train under 'zero3'; .* with: ddp"):
        check_strategy("prm", "zero3")
    one_device = dataclasses.replace(ROUTES.get("ppo"), strategies=())
    monkeypatch.setitem(ROUTES._items, "ppo", one_device)
    with pytest.raises(ValueError, match=r"route 'ppo' trains on one device; multi-GPU routes: \['grpo', 'prm', 'sft'\]"):
        check_strategy("ppo", "ddp")
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
