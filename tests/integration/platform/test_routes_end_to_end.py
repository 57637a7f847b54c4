"""Every distillation route and the evaluation stages, end to end on tiny models, in process.

The teacher is the scripted oracle (debate data with known corrective trajectories); the
student is the toy world's ``quick`` student, trained a couple of steps per route.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentark_core.data import load_questions
from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.stages.checkpoints import SCHEME
from tasks.store import ArtifactStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    answers = {q.query: q.gt for q in load_questions("toy", split="train", limit=8, seed=0)}
    recipe = load_recipe(None, [
        f"store.root={root / 'store'}", "stages=[report]",
        "data.dataset=toy", "data.limit=8", "data.shard_size=4",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={json.dumps({'answers': answers, 'wrong_every': 2})}",
        "student.model=toy:student", "student.options={show_progress: false}", "toy.preset=quick",
        "debate.n_agents=3", "debate.rounds=2", "debate.consensus_stop=false", "debate.shard_size=4",
        "train.sft={max_steps: 2, per_device_train_batch_size: 4, learning_rate: 0.001}",
        "train.da={max_steps: 2, per_device_train_batch_size: 4, learning_rate: 0.001}",
        ("train.prm={stage1_max_steps: 1, stage2_max_steps: 1, traces_per_batch: 4, heldout_fraction: 0.4, "
         "eval_best_of: [2, 4], eval_max_tokens: 24}"),
        ("train.grpo={max_steps: 1, num_generations: 2, per_device_train_batch_size: 2, "
        "max_completion_length: 8, learning_rate: 0.001}"),
        "eval.data={dataset: toy, split: test, limit: 6}", "eval.max_tokens=24", "eval.teacher=false",
        "eval.routes=[base, rsft, da, pad, rsft_da, pad_da]",
    ])
    store = ArtifactStore(str(root / "store"))
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    return recipe, store, refs


def test_every_route_produces_a_loadable_checkpoint(e2e):
    from transformers import AutoModelForCausalLM

    _recipe, store, refs = e2e
    for stage in ("train_rsft", "train_da", "train_pad", "train_rsft_da", "train_pad_da"):
        row = validate(store.read_frame(stage, refs[stage].key), "checkpoints").iloc[0]
        assert row["path"] == f"{SCHEME}{stage}/{refs[stage].key}/model"
        folder = store.local_dir(stage, refs[stage].key, "model", "/nonexistent")  # local store: no copy
        assert AutoModelForCausalLM.from_pretrained(folder).num_parameters() > 0
        curve = store.read_manifest(stage, refs[stage].key)["metrics"]["loss_curve"]
        assert curve and all(abs(loss) < 1e6 for _, loss in curve)
        if len(curve) > 1:
            plot = store.local_dir(stage, refs[stage].key, "plots", "/nonexistent")
            assert Path(plot, "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prm = validate(store.read_frame("train_prm", refs["train_prm"].key), "checkpoints").iloc[0]
    assert prm["kind"] == "prm"


def test_combination_routes_start_from_the_first_route(e2e):
    _recipe, store, refs = e2e
    assert store.read_manifest("train_rsft_da", refs["train_rsft_da"].key)["inputs"]["train_rsft"]["key"] == \
        refs["train_rsft"].key
    assert store.read_manifest("train_pad_da", refs["train_pad_da"].key)["inputs"]["train_pad"]["key"] == \
        refs["train_pad"].key


def test_evaluations_and_report(e2e):
    recipe, store, refs = e2e
    for route in recipe.eval.routes:
        records = validate(store.read_frame(f"eval_{route}", refs[f"eval_{route}"].key), "eval_records")
        assert len(records) == 6 and set(records["model"]) == {route}
        assert (records["calls"] == 1).all()
    summary = validate(store.read_frame("report", refs["report"].key), "eval_summary")
    assert set(summary["model"]) == set(recipe.eval.routes)
    assert {"accuracy", "reasoning_perplexity", "completion_tokens_per_question"} <= set(summary["metric"])
    files = store.local_dir("report", refs["report"].key, "report", "/nonexistent")
    text = Path(files, "report.md").read_text()
    assert "accuracy" in text and "## Training sets" in text
    paired = text.split("## Paired differences (95% bootstrap over questions)")[1].split("##")[0]
    assert all(f"| {route} | base |" in paired for route in ("rsft", "da", "pad", "rsft_da", "pad_da"))
    # every route's training sets and their sizes, found through the manifests; tiny sets said loudly
    metrics = store.read_manifest("report", refs["report"].key)["metrics"]
    rows = {stage: store.read_manifest(stage, refs[stage].key)["rows"] for stage in ("sft_rsft", "sft_da", "prm_data")}
    assert metrics["rsft"]["training_sets"] == {"sft_rsft": rows["sft_rsft"]}
    assert metrics["rsft_da"]["training_sets"] == {"sft_rsft": rows["sft_rsft"], "sft_da": rows["sft_da"]}
    assert metrics["pad"]["training_sets"] == {"prm_data": rows["prm_data"]}
    assert "training_sets" not in metrics["base"] and metrics["base"]["n"] == 6
    assert any(w.startswith("rsft was trained on sft_rsft: only") for w in metrics["warnings"])


def test_the_prm_is_evaluated_on_held_out_questions_and_reported(e2e):
    from agentark_core.evaluate.prm_eval import heldout_questions

    _, store, refs = e2e
    examples = store.read_frame("prm_data", refs["prm_data"].key)
    held = heldout_questions(examples["question_id"].tolist(), 0.4, seed=0)
    metrics = store.read_manifest("train_prm", refs["train_prm"].key)["metrics"]
    result = metrics["prm_eval"]
    assert result["n_questions"] == len(held) >= 1
    assert result["steps"]["n_steps"] == sum(len(s) for s in examples.loc[examples["question_id"].isin(held), "steps"])
    assert set(result["best_of_n"]) == {"2", "4"}
    for n, r in result["best_of_n"].items():
        assert r["trials"] == len(held) * (4 // int(n))
        assert 0 <= r["random"] <= r["oracle"] <= 1 and r["prm"] <= r["oracle"] and r["majority"] <= r["oracle"]
    trained = json.loads(store.read_frame("train_prm", refs["train_prm"].key).iloc[0]["metrics_json"])
    assert trained["heldout_questions"] == len(held)
    files = store.local_dir("report", refs["report"].key, "report", "/nonexistent")
    text = Path(files, "report.md").read_text()
    assert "## PRM on held-out questions: steps" in text and "## PRM best-of-N" in text
    assert f"train_prm/{refs['train_prm'].key}" in text
