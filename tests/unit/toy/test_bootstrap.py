"""Toy bootstrap (quick preset): loadable teacher/student folders whose tokenizer covers every debate prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentark_core.data.loader import load_questions
from agentark_core.mas import prompts
from agentark_core.mas.base import Turn
from agentark_core.mas.debate import DebateConfig, _update_slot
from agentark_core.toy.bootstrap import ModelSpec, ToyBootstrapConfig, bootstrap_toy_models


@pytest.fixture(scope="module")
def boot(tmp_path_factory):
    return bootstrap_toy_models(tmp_path_factory.mktemp("toy"), ToyBootstrapConfig.preset("quick"))


def test_quick_preset_saves_loadable_models_and_metrics(boot):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = ToyBootstrapConfig.preset("quick")
    sizes = {}
    for name, spec in (("teacher", config.teacher), ("student", config.student)):
        model = AutoModelForCausalLM.from_pretrained(boot[name])
        tok = AutoTokenizer.from_pretrained(boot[name])
        assert model.config.hidden_size == spec.hidden and model.config.num_hidden_layers == spec.layers
        assert model.config.vocab_size == len(tok)
        sizes[name] = sum(p.numel() for p in model.parameters())
    assert sizes["student"] < sizes["teacher"]
    assert boot["teacher_metrics"]["global_step"] == config.teacher.steps
    assert boot["teacher_debate_metrics"]["global_step"] == config.teacher_debate_steps
    assert boot["student_metrics"]["global_step"] == config.student.steps
    assert boot["examples"]["teacher_debate"] == {"single": 24, "revision": 24, "aggregate": 24}
    assert boot["teacher_debate_metrics"]["loss_curve"] and boot["runtime_s"] > 0
    saved = json.loads((Path(boot["teacher"]).parent / "bootstrap.json").read_text())
    assert saved["config"]["teacher"]["hidden"] == config.teacher.hidden


def test_saved_tokenizer_covers_debate_prompts_of_test_questions(boot):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(boot["teacher"])
    questions = load_questions("toy", split="test", limit=20, seed=1, distractors=(0, 2))
    for q in questions:
        answers = [(a, q.gold_reasoning) for a in range(3)]
        own = Turn(q.question_id, "debate", 0, "agent", 1, (), "", q.gold_reasoning, q.gt, 0, 0, 0.0)
        peers = [Turn(q.question_id, "debate", a, "agent", 1, (), "", r, q.gt, 0, 0, 0.0) for a, r in answers]
        chats = [
            _update_slot(q, own, peers, DebateConfig(n_agents=3)).messages,
            ({"role": "user", "content": prompts.aggregate(q, answers)},),
        ]
        for messages in chats:
            text = tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False).input_ids
            assert tok.unk_token_id not in ids, text
            # the decoder spaces quotes (' X '), so compare token ids of the round trip, not text
            assert tok(tok.decode(ids), add_special_tokens=False).input_ids == ids


def test_demo_recipe_trains_and_evaluates_on_the_demo_preset_difficulty():
    from agentark_core.recipe import load_recipe
    from agentark_core.toy.problems import ToyConfig

    recipe = load_recipe(Path(__file__).resolve().parents[3] / "recipes" / "demo.yaml")
    preset = ToyBootstrapConfig.preset(recipe.toy.preset)
    assert recipe.toy.preset == "demo"
    for options in (recipe.toy.difficulty, recipe.data.options, recipe.eval.data.options):
        assert ToyConfig.from_options(**options) == preset.toy
    assert preset.teacher.steps > preset.student.steps and preset.teacher.hidden > preset.student.hidden
    assert recipe.eval.temperature == recipe.debate.temperature  # single vs debate at one decoding


def test_presets_and_specs_are_validated():
    with pytest.raises(ValueError, match="quick"):
        ToyBootstrapConfig.preset("huge")
    with pytest.raises(ValueError, match="divisible"):
        ModelSpec(hidden=30, heads=4)
    with pytest.raises(ValueError, match="steps"):
        ModelSpec(steps=0)
