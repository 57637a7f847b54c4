"""ingest -> teacher -> debate -> label through the stage runner with a real tiny model."""

from __future__ import annotations

import json

import pytest

from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import STAGES, pipeline_order
from tasks.store import ArtifactStore


@pytest.fixture
def recipe(tmp_path, tiny_model_path):
    return load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.limit=5",
        f"teacher.model={tiny_model_path}", "teacher.options={show_progress: false, device: cpu}",
        "debate.n_agents=2", "debate.rounds=2", "debate.max_tokens=256", "debate.shard_size=2",
    ])


def _run_all(recipe, store, names):
    refs = run_in_process(pipeline_order(recipe, names), recipe, store, progress=False)
    return {name: ref.key for name, ref in refs.items()}


def test_debate_and_label_artifacts(recipe, tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    keys = _run_all(recipe, store, ["label"])
    turns = validate(store.read_frame("debate", keys["debate"]), "debate_turns")
    assert store.read_manifest("debate", keys["debate"])["n_shards"] == 3  # 5 questions / 2 per shard
    assert set(turns["question_id"]) == set(store.read_frame("ingest", keys["ingest"])["question_id"])
    agents = turns[turns["role"] == "agent"]
    assert set(agents["agent_id"]) == {0, 1} and agents["round"].min() == 1
    assert (turns["role"] == "aggregator").sum() == 5
    assert all(json.loads(m)[-1]["role"] == "user" for m in turns["messages_json"])
    labels = validate(store.read_frame("label", keys["label"]), "labels")
    assert len(labels) == len(turns)
    assert set(labels["status"]) <= {"correct", "incorrect", "ungradable", "truncated"}
    metrics = store.read_manifest("label", keys["label"])["metrics"]
    assert metrics["labels"] == len(labels)
    # max_tokens=256: most replies of the random-init model are cut off and some stop (its <|im_end|> is one word of
    # 441; 7 of 25 stopped, 2 at 128 tokens, 1 at 48: fewer would hang on one draw); exactly the cut ones are
    # labelled truncated, loudly reported
    both = turns.merge(labels, on=["question_id", "agent_id", "role", "round"])
    cut = both["finish_reason"] == "length"
    assert 0 < cut.sum() < len(both), f"{cut.sum()} of {len(both)} replies cut off"
    assert (both.loc[cut, "status"] == "truncated").all() and not both.loc[cut, "correct"].any()
    assert (both.loc[~cut, "status"] == both.loc[~cut, "verdict"]).all()
    assert metrics["statuses"]["truncated"] == cut.sum()
    assert metrics["round1_agent_accuracy_n"] == 10 and metrics["aggregator_accuracy_n"] == 5  # 5 questions x 2
    low, high = metrics["round1_agent_accuracy_ci95"]
    assert 0 <= low <= metrics["round1_agent_accuracy"] <= high <= 1 and high - low > 0.2  # n=10 says little
    # ungradable answers counted per dataset and per agent (the aggregator apart), each with its n
    by_agent, by_dataset = metrics["ungradable_by_agent"], metrics["ungradable_by_dataset"]
    assert set(by_agent) == {"0", "1", "aggregator"} and set(by_dataset) == {"toy"}
    assert [by_agent[a]["n"] for a in ("0", "1", "aggregator")] == [10, 10, 5] and by_dataset["toy"]["n"] == 25
    for name, agent_id in (("0", 0), ("1", 1), ("aggregator", -1)):
        mine = labels[labels["agent_id"] == agent_id]
        assert by_agent[name]["ungradable"] == (mine["status"] == "ungradable").sum()
    assert by_dataset["toy"]["ungradable"] == metrics["statuses"].get("ungradable", 0)
    debate = store.read_manifest("debate", keys["debate"])["metrics"]
    assert debate["truncated_replies"] == cut.sum()
    assert "hit max_tokens" in debate["warnings"][0]


def test_debate_key_follows_protocol_not_label(recipe, tmp_path):
    from tasks.runner import compute_key, plan_keys

    order = pipeline_order(recipe, ["label"])
    base = plan_keys(order, recipe)
    from dataclasses import replace

    relabel = replace(recipe, label=replace(recipe.label, verifier="rule_then_llm"))
    more_agents = replace(recipe, debate=replace(recipe.debate, n_agents=3))
    assert plan_keys(order, relabel)["debate"] == base["debate"]
    assert plan_keys(order, relabel)["label"] != base["label"]
    assert plan_keys(order, more_agents)["debate"] != base["debate"]
    assert compute_key(STAGES.get("teacher"), recipe, {}) == base["teacher"]


def test_empty_teacher_is_a_clear_error(tmp_path):
    recipe = load_recipe(None, [f"store.root={tmp_path}", "data.limit=2"])
    with pytest.raises(ValueError, match="teacher.model is empty"):
        _run_all(recipe, ArtifactStore(str(tmp_path)), ["teacher"])
