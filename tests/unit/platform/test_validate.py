"""The whole recipe is checked before any stage runs: stage names, plugin paths and every planned
stage's core config (the stages' own builders), each failure one ConfigError naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentark_core.config_loader import ConfigError
from agentark_core.recipe import load_recipe, recipe_source
from tasks.validate import validate_recipe

DEMO = Path(__file__).resolve().parents[3] / "recipes" / "demo.yaml"


def _validate(overrides: list[str], only: list[str] | None = None):
    recipe = load_recipe(DEMO, overrides)
    return validate_recipe(recipe, recipe_source(DEMO, overrides), only)


def test_the_demo_recipe_validates_and_plans_every_stage():
    order = [stage.name for stage in _validate([])]
    assert order[-1] == "report" and len(order) == len(set(order))
    for name in ("ingest", "toy_models", "debate", "train_rsft", "train_pad", "eval_mas"):
        assert name in order
    assert order.index("train_prm") < order.index("train_pad")  # dependency order


@pytest.mark.parametrize("overrides, key, message", [
    (["debate.temperature=-3"], "debate", "temperature must be >= 0"),
    (["debate.n_agents=1"], "debate", "n_agents must be >= 2"),
    (["debate.protocol=nosuch.module:run"], "debate", "No module named 'nosuch'"),
    (["train.grpo.beta=-1"], "train.grpo", "beta must be >= 0"),
    (["train.grpo.reward_weights=[1.0]"], "train.grpo", "reward_weights is derived"),
    (["train.rl=ppo", "train.ppo.gamma=2"], "train.ppo", "gamma must be in [0, 1]"),
    (["train.sft.packing=true"], "train.sft", "packing is not supported"),
    (["train.da.answer_loss_weight=-1"], "train.da", "answer_loss_weight must be >= 0"),
    (["train.prm.loss=nope"], "train.prm", "unknown prm loss 'nope'"),
    (["train.prm.temperature=0"], "train.prm", "invalid value for ['temperature']"),
    (["toy.preset=big"], "toy", "unknown toy bootstrap preset 'big'"),
    (["toy.teacher.hidden=-4"], "toy", "hidden must be >= 1"),
    (["teacher.model=toy:professor"], "teacher.model", "unknown toy model 'toy:professor'"),
    (["stages=[report, nosuch]"], "stages", "unknown stage(s) ['nosuch']"),
    (["eval.routes=[base, nosuch]"], "eval.routes", "unknown route(s) ['nosuch']"),
    (["data.dataset=nosuch.module:Adapter"], "data.dataset", "does not import"),
    (["teacher.backend=tests.fake_backends:no_such_factory"], "teacher.backend", "does not import"),
    (["label.verifier=llm"], "label", "needs a generator"),
    (["data.options.n_step=[1, 2]"], "data", "unknown toy option(s) ['n_step']"),
    (["eval.data.source=questions.jsonl"], "eval.data", "the toy dataset is generated, not loaded"),
    (["eval.data={dataset: gsm8k, options: {full_text: true}}"], "eval.data",
     "unexpected keyword argument 'full_text'; its options: config"),
    (["teacher.options.micro_bach_size=3"], "teacher.backend", "unexpected keyword argument 'micro_bach_size'"),
    (["student.backend=openai"], "student.backend", "missing a required argument: 'base_url'"),
    (["label.verifier=llm", "label.model.model=judge", "label.model.options={seed: 1}"], "label",
     "backend 'transformers': got an unexpected keyword argument 'seed'"),
    (["extract.prm_splitter=sentence"], "extract.prm_splitter", "unknown step splitter 'sentence'"),
    (["eval.temperature=-1"], "eval.temperature", "temperature must be >= 0"),
])
def test_a_bad_value_fails_naming_the_key_and_the_file(overrides, key, message):
    with pytest.raises(ConfigError) as info:
        _validate(overrides)
    text = str(info.value)
    assert text.startswith(f"{DEMO} (+ --set overrides): {key}: "), text
    assert message in text and "\n" not in text


def test_only_a_planned_stage_runs():
    with pytest.raises(ConfigError, match=r"--only: stage\(s\) \['debat'\] not in the run of .*valid: "):
        _validate([], only=["debat"])
    with pytest.raises(ConfigError, match=r"--only: stage\(s\) \['train_pad'\] not in the run"):
        _validate(["stages=[label]"], only=["train_pad"])  # a stage, but not one this run plans
    assert _validate([], only=["debate"])[-1].name == "report"


def test_only_planned_stages_are_checked():
    """A run of ``ingest`` alone does not build the debate's or the trainers' configs."""
    order = _validate(["stages=[ingest]", "debate.temperature=-3", "train.grpo.beta=-1"])
    assert [stage.name for stage in order] == ["ingest"]


def test_checking_asks_the_device_nothing_and_builds_for_the_cpu(monkeypatch):
    """On a GPU machine the real builders ask whether bf16 runs and transformers sets the device up
    (both start CUDA) and switches TF32 for ``torch_compile``; the check must do none of it: its
    trainer configs are CPU placed, without compile."""
    import importlib

    import torch

    from tasks.stages import train

    for module in ("agentark_core.train.sft_config", "agentark_core.train.grpo_config"):
        importlib.import_module(module)  # imported (torch._dynamo with them) before torch.cuda is patched

    touched = []

    def refuse(name):
        def call(*args, **kwargs):
            touched.append(name)
            raise AssertionError(f"validation touched the device: {name}")
        return call

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for name in ("_lazy_init", "init", "set_device", "current_device", "get_device_properties"):
        monkeypatch.setattr(torch.cuda, name, refuse(name))
    monkeypatch.setattr(train, "_bf16_supported", refuse("is_bf16_supported"))
    precision = torch.backends.fp32_precision
    _validate(["train.sft.torch_compile=true", "train.grpo.torch_compile=true"])
    assert touched == [] and torch.backends.fp32_precision == precision
    token = train.CHECKING.set(True)
    try:
        config = train.sft_config({"torch_compile": True}, "out", "train.sft")
    finally:
        train.CHECKING.reset(token)
    assert config.use_cpu and not config.torch_compile and not config.bf16
    with pytest.raises(AssertionError, match="is_bf16_supported"):
        train.sft_config({}, "out", "train.sft")  # outside a check the builder does ask


def test_a_registered_route_is_checked_through_its_own_config_builder():
    """Routes come from the registry: a route added there gets its config built by validation too."""
    from tasks.stages.routes import Route, register_route, unregister_route
    from tasks.stages.train import train_sft

    def strict_config(recipe, output_dir):
        if recipe.train.sft.get("learning_rate", 0.0) > 0.01:
            raise ValueError("recipe train.sft: this route trains at learning rates <= 0.01")
        return output_dir

    register_route(Route(name="strict_lr", data="sft_rsft", reads=("train.sft",), config=strict_config,
                         train=train_sft))
    try:
        assert _validate(["stages=[train_strict_lr]"])[-1].name == "train_strict_lr"
        with pytest.raises(ConfigError, match=r"\(\+ --set overrides\): train\.sft: this route trains at"):
            _validate(["stages=[train_strict_lr]", "train.sft.learning_rate=0.5"])
    finally:
        unregister_route("strict_lr")


def test_trainer_configs_take_unstated_fields_from_the_config_class(tmp_path):
    """One source of defaults: what a recipe leaves out of ``train.sft`` / ``train.grpo`` is the config
    class's default (TRL's unless the class overrides it), what it states wins over the pipeline's
    hardware defaults."""
    import dataclasses

    from agentark_core.train.grpo_config import AgentArkGRPOConfig
    from agentark_core.train.sft_config import AgentArkSFTConfig
    from tasks.stages.train import rl_config, sft_config

    def default(cls, name):
        return next(f.default for f in dataclasses.fields(cls) if f.name == name)

    recipe = load_recipe(DEMO, ["train.sft={learning_rate: 0.5, logging_steps: 7}", "train.grpo={beta: 0.0}"])
    sft = sft_config(recipe.train.sft, str(tmp_path), "train.sft")
    assert sft.learning_rate == 0.5 and sft.logging_steps == 7 and sft.output_dir == str(tmp_path)
    for name in ("num_train_epochs", "seed", "max_length", "answer_loss_weight"):
        assert getattr(sft, name) == default(AgentArkSFTConfig, name), name
    grpo = rl_config(recipe, str(tmp_path))
    assert grpo.beta == 0.0 and grpo.learning_rate == default(AgentArkGRPOConfig, "learning_rate")
