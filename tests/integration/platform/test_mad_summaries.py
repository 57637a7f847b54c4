"""MAD through the debate and label stages: the judge row is the final answer, not an agent."""

from __future__ import annotations

import json

from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k


def test_mad_summaries_count_debaters_and_score_the_judge(tmp_path):
    data = write_gsm8k(tmp_path / "gsm8k.jsonl")
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.dataset=gsm8k", f"data.source={data}", "data.limit=null",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={json.dumps({'answers': gsm8k_answers(), 'wrong_every': 2})}",
        "debate.protocol=mad", "debate.rounds=2", "debate.consensus_stop=false", "debate.shard_size=2",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    keys = {n: r.key for n, r in run_in_process(pipeline_order(recipe, ["label"]), recipe, store,
                                                 progress=False).items()}
    turns = validate(store.read_frame("debate", keys["debate"]), "debate_turns")
    assert set(turns["role"]) == {"affirmative", "negative", "judge"}
    assert turns.loc[turns["role"] == "judge", "round"].eq(3).all()  # the judge sits after round 2

    debate = store.read_manifest("debate", keys["debate"])["metrics"]
    assert debate["mean_rounds"] == 2.0  # two debate rounds, not three

    labels = validate(store.read_frame("label", keys["label"]), "labels")
    judge = labels[labels["role"] == "judge"]
    debaters = labels[labels["role"] != "judge"]
    last = debaters[debaters["round"] == 2]
    metrics = store.read_manifest("label", keys["label"])["metrics"]
    assert metrics["aggregator_accuracy"] == round(float(judge["correct"].mean()), 4)
    assert metrics["final_round_agent_accuracy"] == round(float(last["correct"].mean()), 4)
