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
