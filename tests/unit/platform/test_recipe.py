"""Recipes: strict typed loading, dotted overrides, errors that name the key and the file."""

from __future__ import annotations

import pytest

from agentark_core.config_loader import ConfigError, parse_override, select
from agentark_core.recipe import Recipe, load_recipe


def _write(tmp_path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_default_recipe_is_the_demo():
    recipe = load_recipe()
    assert recipe == Recipe() and recipe.name == "demo"


def test_yaml_and_overrides_apply(tmp_path):
    path = _write(tmp_path, "name: x\ndebate:\n  n_agents: 3\n  temperature: 1\n")
    recipe = load_recipe(path, ["debate.n_agents=7", "data.limit=null", "data.options={n_steps: 3}"])
    assert recipe.debate.n_agents == 7
    assert recipe.debate.temperature == 1.0 and isinstance(recipe.debate.temperature, float)
    assert recipe.data.limit is None and recipe.data.options == {"n_steps": 3}
    assert select(recipe, "debate.n_agents") == 7


@pytest.mark.parametrize("text, overrides, message", [
    ("debate:\n  n_agent: 3\n", [], "unknown key 'debate.n_agent'"),
    ("debate:\n  n_agents: five\n", [], "debate.n_agents: expected int, got str 'five'"),
    ("debate:\n  consensus_stop: 1\n", [], "debate.consensus_stop: expected bool"),
    ("debate: 3\n", [], "debate: expected a mapping"),
    ("", ["debate.rounds=0"], "rounds must be >= 1"),
    ("", ["nosuch.key=1"], "unknown key 'nosuch'"),
    ("", ["data.limit"], "expected KEY=VALUE"),
])
def test_bad_recipes_name_key_and_file(tmp_path, text, overrides, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path, overrides)
    assert message in str(info.value)
    if not overrides:
        assert str(path) in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(_write(tmp_path, "a: [1,\n"))


def test_missing_required_field_is_named():
    from dataclasses import dataclass

    from agentark_core.config_loader import build

    @dataclass
    class Needs:
        model: str

    with pytest.raises(ConfigError, match="missing required field 'student.model'"):
        build(Needs, {}, source="f.yaml", prefix="student")


def test_parse_override_yaml_values():
    assert parse_override("a.b=7") == (["a", "b"], 7)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=hello world") == (["a"], "hello world")


@pytest.mark.parametrize("override, message", [
    ("train.grpo.bogus_field=1", "unknown key 'train.grpo.bogus_field': not a field of AgentArkGRPOConfig"),
    ("train.sft.learning_rat=0.1",
     "unknown key 'train.sft.learning_rat': not a field of AgentArkSFTConfig; did you mean learning_rate?"),
    ("train.sft.output_dir=/tmp/x", "unknown key 'train.sft.output_dir': set by the pipeline"),
    ("train.prm.traces_per_batch=many", "train.prm.traces_per_batch: expected int, got str 'many'"),
    ("train.ppo.whiten_advantages=1", "train.ppo.whiten_advantages: expected bool"),
    ("train.grpo.num_generations=[4]", "train.grpo.num_generations: expected int, got list"),
    ("toy.student.hiden=8", "unknown key 'toy.student.hiden': not a field of ModelSpec; did you mean hidden?"),
    ("toy.difficulty.n_steps=3", "toy.difficulty.n_steps: expected a list"),
    ("train.da=5", "train.da: expected a mapping"),
])
def test_trainer_sections_are_typed_by_their_config_class(tmp_path, override, message):
    """``train.*`` and the toy overrides hold fields of a core config class: unknown keys and wrong types
    fail at load time, naming the key and the file."""
    path = _write(tmp_path, "name: typed\n")
    with pytest.raises(ConfigError) as info:
        load_recipe(path, [override])
    assert str(info.value).startswith(f"{path} (+ --set overrides): ") and message in str(info.value)


def test_trainer_sections_keep_only_what_the_recipe_states(tmp_path):
    """A recipe states what differs; the config class keeps every other default (one source), and
    values are coerced to the field's type (an int learning rate becomes a float)."""
    path = _write(tmp_path, "train:\n  sft: {learning_rate: 1, seed: 0}\n  grpo: {beta: 0}\n"
                            "toy:\n  difficulty: {n_steps: [1, 2]}\n")
    recipe = load_recipe(path)
    assert recipe.train.sft == {"learning_rate": 1.0, "seed": 0} and isinstance(recipe.train.sft["learning_rate"],
                                                                                  float)
    assert recipe.train.grpo == {"beta": 0.0} and recipe.train.da == {} and recipe.train.prm == {}
    assert recipe.toy.difficulty == {"n_steps": (1, 2)}


def test_debate_defaults_come_from_the_protocol_config():
    """One source of defaults: every field the debate section shares with ``DebateConfig`` defaults to
    the config's value (``seed`` differs on purpose: the section's is the run's base seed)."""
    import dataclasses

    from agentark_core.mas.debate import DebateConfig
    from agentark_core.recipe import DebateSection

    core = DebateConfig()
    shared = {f.name for f in dataclasses.fields(DebateSection)} & {f.name for f in dataclasses.fields(DebateConfig)}
    assert {"n_agents", "rounds", "temperature", "max_tokens", "aggregator_temperature"} <= shared
    section = DebateSection()
    for name in shared - {"seed"}:
        assert getattr(section, name) == getattr(core, name), name


def test_eval_judge_sample_defaults_to_the_judge_config(tmp_path):
    """One source: the reasoning judge's sample size defaults to ``JudgeConfig``'s; null judges all."""
    from agentark_core.evaluate.judge import JudgeConfig

    assert Recipe().eval.judge_sample == JudgeConfig().sample_size
    assert load_recipe(_write(tmp_path, "eval: {judge_sample: null}\n")).eval.judge_sample is None
