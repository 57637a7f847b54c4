"""Stages that run the same model share one loaded model in a process (issue 18 item 3): the debate's
teacher, the LLM verifier, the teacher's evaluation (with its reasoning perplexity) and the
reasoning-quality judge on a real tiny model through the ``transformers`` backend load it once."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM

from agentark_core.llm import cache
from agentark_core.recipe import load_recipe
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore

OPTIONS = {"show_progress": False, "device": "cpu"}


@pytest.fixture
def loads(monkeypatch):
    """The model folders ``AutoModelForCausalLM.from_pretrained`` loaded, in order; a fresh process cache."""
    seen: list[str] = []
    original = AutoModelForCausalLM.from_pretrained.__func__

    def counting(cls, path, *args, **kwargs):
        seen.append(str(path))
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(counting))
    monkeypatch.setattr(cache, "SHARED", cache.GeneratorCache())
    yield seen
    cache.SHARED.release_all()


def _recipe(tmp_path, model: str, label_options: dict):
    return load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "data.limit=3", "stages=[label, eval_teacher]",
        f"teacher={json.dumps({'model': model, 'options': OPTIONS})}",
        "debate.n_agents=2", "debate.rounds=1", "debate.max_tokens=4", "debate.shard_size=2",
        "label.verifier=llm", f"label.model={json.dumps({'model': model, 'options': label_options})}",
        "eval.data={dataset: toy, split: test, limit: 3}", "eval.max_tokens=4", "eval.routes=[]",
        f"eval.judge={json.dumps({'model': model, 'options': OPTIONS})}", "eval.judge_sample=2",
    ])


def test_debate_verifier_evaluation_and_judge_load_the_teacher_once(tmp_path, tiny_model_path, loads):
    recipe = _recipe(tmp_path, tiny_model_path, OPTIONS)
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    assert loads == [tiny_model_path]  # debate, label, eval_teacher, its perplexity and the judge: one load
    assert cache.SHARED.builds == 1 and len(cache.SHARED.resident()) == 1
    labels = store.read_frame("label", refs["label"].key)
    assert len(labels) == 3 * (2 + 1) and set(labels["verifier"]) == {"llm"}  # 2 agents + aggregator
    metrics = store.read_manifest("eval_teacher", refs["eval_teacher"].key)["metrics"]
    assert metrics["judge"]["n_judged"] == 2 and metrics["reasoning_perplexity"] > 1


def test_a_verifier_with_other_options_is_another_load_that_replaces_the_teacher(tmp_path, tiny_model_path, loads):
    recipe = _recipe(tmp_path, tiny_model_path, OPTIONS | {"micro_batch_size": 4})
    recipe.stages = ["label"]
    store = ArtifactStore(str(tmp_path / "store"))
    run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    assert loads == [tiny_model_path, tiny_model_path]  # the teacher, then the verifier in its place
    [verifier] = cache.SHARED.resident()
    assert verifier.micro_batch_size == 4
