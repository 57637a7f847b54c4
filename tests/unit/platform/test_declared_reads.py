"""A stage body sees only the recipe fields it declares: reading any other field fails the stage
(so every stage test also checks that a stage's ``reads`` cover what its body reads)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pytest

from tasks.recipe_view import DeclaredRecipe, UndeclaredRecipeField
from tasks.runner import Stage, compute_key, run_stage
from tasks.store import ArtifactStore


@dataclass
class Inner:
    size: int = 3
    seed: int = 7


@dataclass
class Section:
    inner: Inner = field(default_factory=Inner)
    temperature: float = 0.5


@dataclass
class Recipe:
    name: str = "view-test"
    section: Section = field(default_factory=Section)
    other: int = 1


def test_declared_fields_and_their_children_read_through():
    view = DeclaredRecipe(Recipe(), ("section.inner", "other"), "s")
    assert view.other == 1
    assert view.section.inner == Inner() and view.section.inner.seed == 7  # the real object, whole


def test_walking_towards_a_declared_field_gives_a_narrower_view():
    view = DeclaredRecipe(Recipe(), ("section.inner.size",), "s")
    assert view.section.inner.size == 3
    with pytest.raises(UndeclaredRecipeField, match=r"stage 's' read recipe field 'section.inner.seed'"):
        view.section.inner.seed  # noqa: B018  (the read is the test)
    with pytest.raises(UndeclaredRecipeField, match="'section.temperature'"):
        view.section.temperature  # noqa: B018


def test_undeclared_fields_fail_and_the_view_is_read_only():
    view = DeclaredRecipe(Recipe(), ("section",), "s")
    with pytest.raises(UndeclaredRecipeField, match=r"'name', which is not in its reads \['section'\]"):
        view.name  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        view.other = 2
    with pytest.raises(AttributeError):
        view.no_such_field  # noqa: B018  (a missing field stays an AttributeError)


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "question_id": [f"q{i}" for i in range(n)], "dataset": "t", "split": "train", "task_type": "math",
        "query": "1+1?", "gt": "2", "context": "", "choices": [[] for _ in range(n)], "gold_reasoning": "",
    })


def test_a_stage_reading_an_undeclared_field_fails_and_commits_nothing(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    sneaky = Stage(name="sneaky", version="1", schema="questions", reads=("section.inner.size",),
                   plan=lambda ctx: 1, run_shard=lambda ctx, i: _rows(ctx.recipe.other))
    with pytest.raises(UndeclaredRecipeField, match="stage 'sneaky' read recipe field 'other'"):
        run_stage(sneaky, Recipe(), store, progress=False)
    key = compute_key(sneaky, Recipe(), {})
    assert not store.is_committed("sneaky", key) and store.done_shards("sneaky", key) == set()
    honest = Stage(name="honest", version="1", schema="questions", reads=("section.inner.size",),
                   plan=lambda ctx: 1, run_shard=lambda ctx, i: _rows(ctx.recipe.section.inner.size),
                   summarize=lambda ctx: {"n": ctx.config("section.inner.size")})
    ref = run_stage(honest, Recipe(), store, progress=False)
    assert ref.rows == 3
    manifest = store.read_manifest("honest", ref.key)
    assert manifest["recipe"] == "view-test" and manifest["metrics"] == {"n": 3}
    assert manifest["config"] == {"section.inner.size": 3}


@pytest.mark.parametrize("rl", ["grpo", "ppo"])
def test_model_building_stages_build_their_configs_from_declared_fields(tmp_path, rl):
    """The fast suite does not train, so the toy bootstrap's and every route's config builders run
    here against their stage's declared view of the demo recipe (a missing read fails here)."""
    from agentark_core.recipe import load_recipe
    from tasks.code_digest import PROJECT_ROOT
    from tasks.stages import STAGES
    from tasks.stages.routes import ROUTES
    from tasks.stages.toy import bootstrap_config

    recipe = load_recipe(PROJECT_ROOT / "recipes" / "demo.yaml", [f"train.rl={rl}"])
    toy = STAGES.get("toy_models")
    assert bootstrap_config(DeclaredRecipe(recipe, toy.reads + toy.unkeyed, toy.name)).seed == recipe.toy.seed
    for name in ROUTES.names():
        route = ROUTES.get(name)
        stage = STAGES.get(route.stage)
        assert route.config(DeclaredRecipe(recipe, stage.reads + stage.unkeyed, stage.name), str(tmp_path / name))
