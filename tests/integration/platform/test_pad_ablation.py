"""PAD and its ablations end to end on the toy world (issue 19 deliverable 3): ``pad_vr`` (verifiable reward
only), ``pad_prm`` (PRM only) and ``pad_ppo`` train through the route registry from the same PRM, steps and
seed as PAD, are evaluated like every route, and sit beside PAD in the report's PAD section with their
curves; the RL manifests carry the curves (held-out prompts' accuracy included, PPO's too) and the
reward-hacking check, and the report's PPO vs GRPO table sets pad_ppo beside the three GRPO runs (item 5).

The teacher is the scripted oracle; the student the toy world's ``quick`` student, two RL steps per route.
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
from tasks.store import ArtifactStore

ROUTES = ("pad", "pad_vr", "pad_prm", "pad_ppo")


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    root = tmp_path_factory.mktemp("pad_ablation")
    answers = {q.query: q.gt for q in load_questions("toy", split="train", limit=8, seed=0)}
    recipe = load_recipe(None, [
        f"store.root={root / 'store'}", "stages=[report]", "name=pad-ablation-test",
        "data.dataset=toy", "data.limit=8", "data.shard_size=8",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={json.dumps({'answers': answers, 'wrong_every': 2})}",
        "student.model=toy:student", "student.options={show_progress: false}", "toy.preset=quick",
        "debate.n_agents=3", "debate.rounds=2", "debate.consensus_stop=false", "debate.shard_size=8",
        ("train.prm={stage1_max_steps: 1, stage2_max_steps: 1, traces_per_batch: 4, heldout_fraction: 0.25, "
         "eval_best_of: [2], eval_max_tokens: 16}"),
        ("train.grpo={max_steps: 2, num_generations: 2, per_device_train_batch_size: 4, "
         "max_completion_length: 8, learning_rate: 0.001, seed: 3, heldout_prompts: 2, eval_strategy: steps, "
         "eval_steps: 2, eval_on_start: true, num_generations_eval: 1, per_device_eval_batch_size: 2}"),
        ("train.ppo={max_steps: 2, batch_size: 4, max_completion_length: 8, learning_rate: 0.001, seed: 3, "
         "heldout_prompts: 2, eval_steps: 2}"),
        "eval.data={dataset: toy, split: test, limit: 4}", "eval.max_tokens=16", "eval.teacher=false",
        f"eval.routes=[base, {', '.join(ROUTES)}]",
    ])
    store = ArtifactStore(str(root / "store"))
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    return store, refs


def test_ablations_train_from_pads_prm_with_their_own_reward(ablation):
    store, refs = ablation
    manifests = {r: store.read_manifest(f"train_{r}", refs[f"train_{r}"].key) for r in ROUTES}
    assert {m["inputs"]["train_prm"]["key"] for m in manifests.values()} == {refs["train_prm"].key}
    metrics = {r: json.loads(validate(store.read_frame(f"train_{r}", refs[f"train_{r}"].key), "checkpoints")
                             .iloc[0]["metrics_json"]) for r in ROUTES}
    assert metrics["pad"]["reward_weights"] == [1.0, 1.0]
    assert metrics["pad_vr"]["reward_funcs"] == ["verifiable"] and metrics["pad_vr"]["reward_weights"] == [1.0]
    assert metrics["pad_prm"]["reward_funcs"] == ["prm_score", "verifiable"]
    assert metrics["pad_prm"]["reward_weights"] == [1.0, 0.0]
    assert {m["global_step"] for m in metrics.values()} == {2}
    assert {metrics[r]["num_heldout_prompts"] for r in ROUTES} == {2}
    assert {r: metrics[r]["algorithm"] for r in ROUTES} == {"pad": "grpo", "pad_vr": "grpo", "pad_prm": "grpo",
                                                            "pad_ppo": "ppo"}
    assert {metrics[r]["seed"] for r in ROUTES} == {3} and metrics["pad_ppo"]["reward_weights"] == [1.0, 1.0]
    # four different trainings: no route shares another's model
    assert len({m["metrics"]["training_identity"] for m in manifests.values()}) == 4
    for route in ("pad", "pad_prm", "pad_ppo"):
        # held-out prompts scored before the first step (a row of its own) and at step 2
        curves = manifests[route]["metrics"]["rl_curves"]
        assert [c["step"] for c in curves] == [0, 1, 2]
        assert [c["eval_accuracy"] is not None for c in curves] == [True, False, True]
        assert all(c["prm_reward"] is not None and 0 <= c["accuracy"] <= 1 and c["kl"] is not None
                   for c in curves[1:])
        check = manifests[route]["metrics"]["reward_check"]
        assert check["steps"] == 2 and isinstance(check["hacking"], bool)
    assert manifests["pad_vr"]["metrics"]["reward_check"] is None  # no PRM reward to check
    assert all("prm_reward" not in c for c in manifests["pad_vr"]["metrics"]["rl_curves"])
    ppo_curves = manifests["pad_ppo"]["metrics"]["rl_curves"][1:]
    assert all(c["clip_fraction"] is not None and c["entropy"] > 0 for c in ppo_curves)
    assert manifests["pad_ppo"]["metrics"]["algorithm"] == "ppo"


def test_ablations_are_evaluated_and_set_beside_pad_in_the_report(ablation):
    store, refs = ablation
    for route in ROUTES:
        records = validate(store.read_frame(f"eval_{route}", refs[f"eval_{route}"].key), "eval_records")
        assert len(records) == 4 and set(records["model"]) == {route}
    folder = store.local_dir("report", refs["report"].key, "report", "/nonexistent")
    text = Path(folder, "report.md").read_text()
    section = text.split("## PAD training: curves, reward-hacking check and ablations")[1]
    table = section.split("### RL runs side by side")[1].split("![")[0]
    assert [line.split(" | ")[0].lstrip("| ") for line in table.strip().splitlines()[2:]] == list(ROUTES)
    assert Path(folder, "images", "rl_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### RL curves (sampled steps)" in section
    comparison = section.split("### PPO vs GRPO (same PRM, same steps, same seed)")[1].split("![")[0]
    rows = [line.split(" | ") for line in comparison.splitlines() if line.startswith("| ")][2:]
    assert [(r[0].lstrip("| "), r[1]) for r in rows] == [("pad", "grpo"), ("pad_vr", "grpo"), ("pad_prm", "grpo"),
                                                          ("pad_ppo", "ppo")]
    assert Path(folder, "images", "ppo_vs_grpo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
