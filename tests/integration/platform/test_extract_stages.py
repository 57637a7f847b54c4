"""debate -> label -> trajectories -> R-SFT / DA / PRM sets, with a scripted oracle teacher."""

from __future__ import annotations

import json

import pytest

from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.data_files import GSM8K_ROWS, gsm8k_answers, write_gsm8k


@pytest.fixture
def recipe(tmp_path):
    data = write_gsm8k(tmp_path / "gsm8k.jsonl")
    answers = gsm8k_answers()
    return load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.dataset=gsm8k", f"data.source={data}", "data.limit=null",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={json.dumps({'answers': answers, 'wrong_every': 2})}",
        "debate.n_agents=4", "debate.rounds=2", "debate.shard_size=2", "debate.consensus_stop=false",
    ])


def test_extraction_stages(recipe, tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, ["sft_rsft", "sft_da", "prm_data"]), recipe, store, progress=False)
    keys = {name: ref.key for name, ref in refs.items()}
    traj = validate(store.read_frame("trajectories", keys["trajectories"]), "trajectories")
    assert len(traj) == 4 * 4  # 4 questions x 4 agents
    assert traj["kept"].all() and traj["final_correct"].all()
    # round 1: every 2nd request answered wrong, round 2 all right -> 8 corrective agents
    assert traj["is_corrective"].sum() == 8
    assert sorted(map(tuple, traj["rounds_correct"])) == sorted([(0, 1)] * 8 + [(1, 1)] * 8)
    rsft = validate(store.read_frame("sft_rsft", keys["sft_rsft"]), "sft_examples")
    assert len(rsft) == 16 and set(rsft["kind"]) == {"rsft"}
    assert all(a.startswith("Final Answer: ") for a in rsft["answer"])
    da = validate(store.read_frame("sft_da", keys["sft_da"]), "sft_examples")
    assert set(da["kind"]) == {"da"} and da.groupby("question_id")["weight"].sum().round(6).eq(1.0).all()
    prm = validate(store.read_frame("prm_data", keys["prm_data"]), "prm_examples")
    assert set(prm["source"]) == {"correct", "corrective"}
    corrective = prm[prm["source"] == "corrective"]
    assert len(corrective) == 8 and all(0 in labels for labels in corrective["step_labels"])
    metrics = store.read_manifest("trajectories", keys["trajectories"])["metrics"]
    assert metrics["corrective"] == 8 and metrics["dropped_questions"] == 0
    assert metrics["final_correct_rate_n"] == 16 and metrics["final_correct_rate_ci95"][1] == 1.0
    # 16 and fewer examples are under the default extract.min_examples (50): said loudly, not silently trained
    warnings = store.read_manifest("sft_rsft", keys["sft_rsft"])["metrics"]["warnings"]
    assert warnings == [("only 16 training example(s) from 4 question(s), under extract.min_examples=50: "
                        "a route trained on it says little")]
    assert not any("R-SFT set" in w for w in store.read_manifest("sft_da", keys["sft_da"])["metrics"]["warnings"])


def test_da_identical_to_rsft_is_a_warning(recipe, tmp_path):
    """One trace per question for R-SFT (corrective first) is exactly what DA's greedy selection starts from."""
    from dataclasses import replace

    recipe = replace(recipe, extract=replace(recipe.extract, max_per_question=1, min_examples=1))
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, ["sft_rsft", "sft_da"]), recipe, store, progress=False)
    assert "warnings" not in store.read_manifest("sft_rsft", refs["sft_rsft"].key)["metrics"]
    (warning,) = store.read_manifest("sft_da", refs["sft_da"].key)["metrics"]["warnings"]
    assert warning.startswith("the DA set is the R-SFT set: the same 4 traces")


def test_backend_failure_fails_its_shard_not_silently(recipe, tmp_path):
    """A backend error on shard 1 fails the stage with that error; shard 0 stays published."""
    from dataclasses import replace

    from tests.fake_backends import BackendDown

    options = dict(recipe.teacher.options, fail_on=GSM8K_ROWS[2]["question"])  # question 3 -> shard 1
    broken = replace(recipe, teacher=replace(recipe.teacher, backend="tests.fake_backends:failing", options=options))
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(BackendDown) as info:
        run_in_process(pipeline_order(broken, ["debate"]), broken, store, progress=False)
    assert "stage 'debate' shard 1" in "\n".join(getattr(info.value, "__notes__", []))
    key = next(p.name for p in (tmp_path / "store" / "debate").iterdir())
    assert store.done_shards("debate", key) == {0} and not store.is_committed("debate", key)
