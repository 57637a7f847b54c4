"""The route registry: the built-in routes' derived stages, adding and removing a route, the checks
of bad routes and of ``eval.routes``, and the per-stage deployments generated from the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentark_core.config_loader import ConfigError
from agentark_core.recipe import load_recipe
from tasks.stages import STAGES, pipeline_order
from tasks.stages.routes import (
    ROUTES,
    Route,
    check_eval_routes,
    evaluable_routes,
    in_process,
    register_route,
    unregister_route,
)
from tasks.stages.train import sft_builder, train_sft

BUILT_IN = {  # route -> (training stage inputs, recipe fields read, evaluated)
    "rsft": ({"student", "sft_rsft"}, ("train.sft", "train.launch.sft"), True),
    "da": ({"student", "sft_da"}, ("train.da", "train.launch.da"), True),
    "prm": ({"student", "prm_data", "ingest"},
            ("train.prm", "extract.prm_splitter", "student.backend", "student.options", "train.launch.prm"), False),
    "pad": ({"student", "ingest", "train_prm"},
            ("train.rl", "train.grpo", "train.ppo", "train.launch.grpo", "train.launch.ppo"), True),
    # PAD's ablations: verifiable reward only, PRM reward only, PPO (issue 19)
    "pad_vr": ({"student", "ingest", "train_prm"},
               ("train.rl", "train.grpo", "train.ppo", "train.launch.grpo", "train.launch.ppo"), True),
    "pad_prm": ({"student", "ingest", "train_prm"},
                ("train.rl", "train.grpo", "train.ppo", "train.launch.grpo", "train.launch.ppo"), True),
    "pad_ppo": ({"student", "ingest", "train_prm"},
                ("train.rl", "train.grpo", "train.ppo", "train.launch.grpo", "train.launch.ppo"), True),
    "rsft_da": ({"train_rsft", "sft_da"}, ("train.da", "train.launch.da"), True),
    "pad_da": ({"train_pad", "sft_da"}, ("train.da", "train.launch.da"), True),
}


def toy_route(name: str = "toy_lr", **fields) -> Route:
    return Route(**{"name": name, "data": "sft_rsft", "reads": ("train.sft",), "config": sft_builder("sft"),
                    "train": train_sft, **fields})


@pytest.fixture
def registered():
    """Register routes for one test; removes them (and their stages) afterwards, also on failure."""
    names: list[str] = []

    def add(route: Route) -> Route:
        register_route(route)
        names.append(route.name)
        return route

    yield add
    for name in reversed(names):
        if name in ROUTES:
            unregister_route(name)


def test_built_in_routes_derive_their_stages():
    assert ROUTES.registered() == list(BUILT_IN)
    for name, (inputs, reads, evaluated) in BUILT_IN.items():
        stage = STAGES.get(f"train_{name}")
        assert set(stage.inputs) == inputs and stage.reads == reads and stage.pool == "gpu", name
        assert (f"eval_{name}" in STAGES) == evaluated, name
        if evaluated:
            assert STAGES.get(f"eval_{name}").inputs == ("ingest_eval", f"train_{name}")
    assert ROUTES.get("prm").kind == "prm" and ROUTES.get("rsft").launcher is in_process
    assert STAGES.get("train_prm").summarize.__name__ == "prm_summary"  # held-out PRM evaluation
    assert STAGES.get("train_rsft").summarize.__name__ == "training_summary"
    assert all(STAGES.get(f"train_{r}").summarize.__name__ == "rl_summary" for r in ("pad", "pad_vr", "pad_prm"))
    assert evaluable_routes() == ["base", "rsft", "da", "pad", "pad_vr", "pad_prm", "pad_ppo", "rsft_da", "pad_da"]


def test_pad_ablations_change_only_their_reward_or_optimiser(tmp_path):
    """pad_vr / pad_prm: PAD's GRPO config with one reward weight at 0; pad_ppo: PPO whatever ``train.rl``
    says; the ablation recipe validates and plans the three beside PAD."""
    import dataclasses

    from tasks.validate import validate_recipe

    path = str(Path(__file__).resolve().parents[3] / "recipes" / "pad_ablation.yaml")
    recipe = load_recipe(path, [])
    assert recipe.eval.routes == ["base", "pad", "pad_vr", "pad_prm", "pad_ppo"]
    planned = [s.name for s in validate_recipe(recipe, path)]
    assert {"train_pad", "train_pad_vr", "train_pad_prm", "train_pad_ppo", "eval_pad_ppo"} <= set(planned)
    configs = {name: ROUTES.get(name).config(recipe, str(tmp_path)) for name in ("pad", "pad_vr", "pad_prm", "pad_ppo")}
    pad = dataclasses.asdict(configs["pad"])
    for name, changed in (("pad_vr", {"prm_weight": 0.0}), ("pad_prm", {"verifiable_weight": 0.0})):
        fields = dataclasses.asdict(configs[name])
        assert {k: v for k, v in fields.items() if pad[k] != v} == changed, name
    ppo = configs["pad_ppo"]
    assert type(ppo).__name__ == "AgentArkPPOConfig" and type(configs["pad"]).__name__ == "AgentArkGRPOConfig"
    assert (ppo.max_steps, ppo.seed, ppo.prm_weight) == (configs["pad"].max_steps, configs["pad"].seed, 1.0)
    # the same held-out prompts, scored at the same steps (PPO before step 1 as GRPO's eval_on_start)
    assert (ppo.heldout_prompts, ppo.eval_steps) == (configs["pad"].heldout_prompts, configs["pad"].eval_steps)
    assert configs["pad"].eval_on_start


def test_a_registered_route_gets_train_and_eval_stages_and_leaves_cleanly(registered):
    before = set(STAGES.names())
    registered(toy_route())
    registered(toy_route("toy_then_da", start="toy_lr", data="sft_da", reads=("train.da",),
                         config=sft_builder("da")))
    assert set(STAGES.names()) - before == {"train_toy_lr", "eval_toy_lr", "train_toy_then_da", "eval_toy_then_da"}
    assert set(STAGES.get("train_toy_then_da").inputs) == {"train_toy_lr", "sft_da"}
    assert evaluable_routes()[-2:] == ["toy_lr", "toy_then_da"]
    recipe = load_recipe(None, ["stages=[report]", "eval.teacher=false", "eval.routes=[toy_then_da]"])
    order = [s.name for s in pipeline_order(recipe, recipe.stages)]
    assert order.index("train_toy_lr") < order.index("train_toy_then_da") < order.index("eval_toy_then_da")
    assert "train_rsft" not in order  # only what the report needs
    unregister_route("toy_then_da")
    unregister_route("toy_lr")
    assert set(STAGES.names()) == before and "toy_lr" not in ROUTES


def test_bad_routes_are_refused_before_anything_is_registered(registered):
    before = set(STAGES.names())
    with pytest.raises(ValueError, match="'rsft': the name or one of its stages is already registered"):
        register_route(toy_route("rsft"))
    with pytest.raises(ValueError, match="'base'"):
        register_route(toy_route("base"))
    with pytest.raises(KeyError, match="unknown route 'nope'; valid: .*rsft"):
        register_route(toy_route("orphan", start="nope"))
    with pytest.raises(KeyError, match="unknown route 'nope'"):
        register_route(toy_route("orphan", helpers=(("prm_path", "nope"),)))
    with pytest.raises(KeyError, match="unknown stage 'dpo_pairs'; valid: .*sft_rsft"):
        register_route(toy_route("orphan", data="dpo_pairs"))
    with pytest.raises(KeyError, match="unknown stage 'questions_x'"):
        register_route(toy_route("orphan", extra_inputs=("questions_x",)))
    assert set(STAGES.names()) == before and "orphan" not in ROUTES


def test_eval_routes_must_name_evaluable_routes(registered):
    check_eval_routes(load_recipe(None, ["eval.routes=[base, pad_da]"]))
    bad = load_recipe(None, ["stages=[report]", "eval.routes=[base, prm, dpo]"])
    with pytest.raises(ConfigError, match=r"eval.routes: unknown route\(s\) \['prm', 'dpo'\]; valid: base, rsft"):
        pipeline_order(bad, bad.stages)  # planning fails before any stage runs
    registered(toy_route("dpo"))
    check_eval_routes(load_recipe(None, ["eval.routes=[base, dpo]"]))


def test_stage_deployments_follow_the_registry(registered, tmp_path):
    from flows.server import deploy_file

    registered(toy_route())
    config = yaml.safe_load(deploy_file("local", tmp_path / "deploy.yaml").read_text())
    stages = {d["entrypoint"].split(":")[1]: d for d in config["deployments"]
              if d["entrypoint"].startswith("flows/stages.py:")}
    assert set(stages) == set(STAGES.names())
    assert stages["train_toy_lr"]["work_pool"]["name"] == "agentark-gpu"
    assert stages["eval_toy_lr"]["work_pool"]["name"] == "agentark-gpu"
    assert stages["ingest"]["work_pool"]["name"] == "agentark-cpu"
    assert stages["train_toy_lr"]["parameters"] == {"recipe": None, "overrides": []}
    from flows import stages as stage_flows

    assert stage_flows.train_toy_lr.name == "train-toy-lr"  # the entrypoint resolves
