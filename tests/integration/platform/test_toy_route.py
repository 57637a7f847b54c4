"""A route added through the registry alone runs through the real Prefect pipeline: trained (through
``agentark_core.train.launch``, the multi-GPU launch path, here on one CPU process), evaluated and
in the report, with no other module touched. A second added route identical to R-SFT shares R-SFT's
training and evaluation instead of repeating them.

The teacher is the scripted oracle; the student the toy world's ``quick`` student.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from agentark_core.data import load_questions
from schemas import validate
from tasks.stages.checkpoints import SCHEME
from tasks.stages.routes import Route, accelerate_launcher, register_route, unregister_route
from tasks.stages.train import sft_builder, train_sft
from tasks.store import ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_harness")
LAUNCHED: list[str] = []


def fast_rsft_config(recipe, output_dir: str):
    """R-SFT's config with ten times the learning rate."""
    config = sft_builder("sft")(recipe, output_dir)
    return dataclasses.replace(config, learning_rate=config.learning_rate * 10)


def launch_recorded(job):
    LAUNCHED.append(job.route.name)
    return accelerate_launcher(num_gpus=1)(job)


@pytest.fixture
def added_routes():
    fast = register_route(Route(name="rsft_fast", data="sft_rsft", reads=("train.sft",), config=fast_rsft_config,
                                train=train_sft, launcher=launch_recorded))
    twin = register_route(Route(name="rsft_twin", data="sft_rsft", reads=("train.sft",), config=sft_builder("sft"),
                                train=train_sft))
    yield fast, twin
    unregister_route(fast.name)
    unregister_route(twin.name)


def test_a_route_added_through_the_registry_is_trained_evaluated_and_reported(added_routes, tmp_path):
    from flows.pipeline import pipeline

    answers = {q.query: q.gt for q in load_questions("toy", split="train", limit=6, seed=0)}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "toy-route", "stages": ["report"], "store": {"root": str(tmp_path / "store")},
        "data": {"dataset": "toy", "limit": 6, "shard_size": 6},
        "teacher": {"model": "oracle", "backend": "tests.fake_backends:oracle",
                    "options": {"answers": answers, "wrong_every": 2}},
        "student": {"model": "toy:student", "options": {"show_progress": False}}, "toy": {"preset": "quick"},
        "debate": {"n_agents": 3, "rounds": 2, "consensus_stop": False, "shard_size": 6},
        "train": {"sft": {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 0.001}},
        "eval": {"data": {"dataset": "toy", "split": "test", "limit": 4}, "max_tokens": 16, "teacher": False,
                 "routes": ["base", "rsft", "rsft_twin", "rsft_fast"]},
    }))
    refs = pipeline(recipe=str(path))
    assert {"train_rsft_fast", "eval_rsft_fast", "eval_base", "report"} <= set(refs)
    assert "train_da" not in refs and LAUNCHED == ["rsft_fast"]
    store = ArtifactStore(str(tmp_path / "store"))
    key = refs["train_rsft_fast"]["key"]
    row = validate(store.read_frame("train_rsft_fast", key), "checkpoints").iloc[0]
    assert row["route"] == "rsft_fast" and row["path"] == f"{SCHEME}train_rsft_fast/{key}/model"
    manifest = store.read_manifest("train_rsft_fast", key)
    assert manifest["inputs"]["sft_rsft"]["key"] == refs["sft_rsft"]["key"]
    assert manifest["metrics"]["steps"] == 2 and len(manifest["metrics"]["loss_curve"]) == 2
    assert json.loads(row["metrics_json"])["global_step"] == 2
    _assert_weights_changed(store, refs)
    records = validate(store.read_frame("eval_rsft_fast", refs["eval_rsft_fast"]["key"]), "eval_records")
    assert len(records) == 4 and set(records["model"]) == {"rsft_fast"}
    _assert_identical_trainings_shared(store, refs)
    summary = validate(store.read_frame("report", refs["report"]["key"]), "eval_summary")
    assert set(summary[summary["metric"] == "accuracy"]["model"]) == {"base", "rsft", "rsft_twin", "rsft_fast"}
    report = store.local_dir("report", refs["report"]["key"], "report", "/nonexistent")
    assert "rsft_fast" in Path(report, "report.md").read_text()


def _assert_weights_changed(store: ArtifactStore, refs: dict) -> None:
    """Every trainable tensor of the route's checkpoint moved away from the student's."""
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(
        store.local_dir("train_rsft_fast", refs["train_rsft_fast"]["key"], "model", "/nonexistent"))
    student = validate(store.read_frame("student", refs["student"]["key"]), "checkpoints").iloc[0]["path"]
    stage, key, name = student[len(SCHEME):].split("/", 2)
    before = AutoModelForCausalLM.from_pretrained(store.local_dir(stage, key, name, "/nonexistent")).state_dict()
    changed = [name for name, tensor in trained.state_dict().items() if not tensor.equal(before[name])]
    assert len(changed) > len(before) // 2, changed


def _assert_identical_trainings_shared(store: ArtifactStore, refs: dict) -> None:
    """R-SFT and its twin (same data, config, start, code) trained once: one shares the other's model,
    whichever ran first; the faster-learning route, whose config differs, trained its own."""
    stages = ("train_rsft", "train_rsft_twin", "train_rsft_fast")
    rows = {s: validate(store.read_frame(s, refs[s]["key"]), "checkpoints").iloc[0] for s in stages}
    metrics = {s: store.read_manifest(s, refs[s]["key"])["metrics"] for s in stages}
    assert rows["train_rsft"]["path"] == rows["train_rsft_twin"]["path"] != rows["train_rsft_fast"]["path"]
    assert rows["train_rsft_twin"]["route"] == "rsft_twin"
    identity = metrics["train_rsft"]["training_identity"]
    assert metrics["train_rsft_twin"]["training_identity"] == identity != metrics["train_rsft_fast"]["training_identity"]
    shared = {s: metrics[s].get("shared_from") for s in stages if metrics[s].get("shared_from")}
    assert len(shared) == 1, shared
    [(stage, source)] = shared.items()
    other = "train_rsft" if stage == "train_rsft_twin" else "train_rsft_twin"
    assert source == f"{other}/{refs[other]['key']}"
    # one model, so one evaluation: the second eval stage copies the first's rows under its label
    evals = {s: store.read_manifest(s, refs[s]["key"])["metrics"] for s in ("eval_rsft", "eval_rsft_twin")}
    assert [s for s, m in evals.items() if "shared_from" in m] in (["eval_rsft"], ["eval_rsft_twin"])
    assert evals["eval_rsft"]["accuracy"] == evals["eval_rsft_twin"]["accuracy"]
