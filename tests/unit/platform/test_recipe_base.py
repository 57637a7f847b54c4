"""Recipe files extending another with ``base:``: merged deep, relative to the file, cycles refused."""

from __future__ import annotations

import pytest

from agentark_core.config_loader import ConfigError, deep_merge, load_layered
from agentark_core.recipe import load_recipe


def _write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_recipe_extends_its_base_deeply_and_its_own_values_win(tmp_path):
    _write(tmp_path / "base.yaml", "name: base\nstages: [debate, label]\n"
           "debate: {n_agents: 5, rounds: 3, temperature: 0.7}\n"
           "train: {grpo: {beta: 0.001, num_generations: 8}}\n")
    child = _write(tmp_path / "sub" / "child.yaml", "base: ../base.yaml\nname: child\nstages: [label]\n"
                   "debate: {temperature: 0.5}\ntrain: {grpo: {beta: 0.01}}\n")
    recipe = load_recipe(child)
    assert recipe.name == "child" and recipe.stages == ["label"]  # a list replaces the base's
    assert (recipe.debate.n_agents, recipe.debate.rounds, recipe.debate.temperature) == (5, 3, 0.5)
    assert recipe.train.grpo == {"beta": 0.01, "num_generations": 8}


def test_bases_chain_and_overrides_apply_last(tmp_path):
    _write(tmp_path / "a.yaml", "debate: {n_agents: 3, rounds: 1}\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\ndebate: {rounds: 2}\n")
    top = _write(tmp_path / "c.yaml", "base: b.yaml\nname: c\n")
    recipe = load_recipe(top, ["debate.n_agents=7"])
    assert (recipe.name, recipe.debate.n_agents, recipe.debate.rounds) == ("c", 7, 2)


def test_deep_merge_leaves_its_inputs_alone():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    top = {"a": {"c": [3]}, "e": {"f": 2}}
    assert deep_merge(base, top) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 2}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1} and top == {"a": {"c": [3]}, "e": {"f": 2}}


def test_a_base_cycle_is_refused_naming_the_files(tmp_path):
    _write(tmp_path / "x.yaml", "base: y.yaml\n")
    _write(tmp_path / "y.yaml", "base: x.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: .*x\.yaml -> .*y\.yaml -> .*x\.yaml"):
        load_recipe(tmp_path / "x.yaml")
    _write(tmp_path / "self.yaml", "base: ./self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_layered(tmp_path / "self.yaml")


@pytest.mark.parametrize("text, message", [
    ("base: missing.yaml\n", r"base: recipe file .*missing\.yaml not found"),
    ("base: [a.yaml]\n", r"base: expected a recipe path .*\['a.yaml'\]"),
    ("base: ''\n", "base: expected a recipe path"),
])
def test_a_bad_base_fails_naming_the_file(tmp_path, text, message):
    path = _write(tmp_path / "r.yaml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_recipe(path)
    assert str(info.value).startswith(str(path))


def test_a_bad_key_in_a_base_still_fails_at_load(tmp_path):
    _write(tmp_path / "base.yaml", "debate: {n_agnets: 5}\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\n")
    with pytest.raises(ConfigError, match="unknown key 'debate.n_agnets'"):
        load_recipe(child)
