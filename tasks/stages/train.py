"""The distillation routes (paper §3.3), each one ``register_route`` call -> a ``train_<route>``
stage writing a ``checkpoints`` artifact with an HF-format folder (``tasks/stages/routes.py``).

``rsft`` (R-SFT, §3.3.1), ``da`` (DA, §3.3.2), ``prm`` (PRM, two-stage, App. B.1; a helper route
PAD's reward needs, not evaluated), ``pad`` (GRPO — or the PPO ablation, ``train.rl`` — with PRM +
verifiable reward, §3.3.3), PAD's ablations ``pad_vr`` (verifiable reward only), ``pad_prm`` (PRM reward
only) and ``pad_ppo`` (PPO on PAD's reward, App. B.2 / C.2), each with PAD's prompts, PRM, steps and seed,
and the two-step combinations ``rsft_da`` / ``pad_da`` (App. F), which continue from the first route's
checkpoint. The RL routes' manifests carry their training curves and reward-hacking check
(:func:`rl_summary`). The recipe -> core config builders live here too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import pandas as pd

from tasks.runner import StageContext
from tasks.stages.common import loud
from tasks.stages.prm_eval import QUESTIONS as PRM_QUESTIONS
from tasks.stages.prm_eval import READS as PRM_EVAL_READS
from tasks.stages.prm_eval import prm_summary
from tasks.stages.routes import Route, register_route, training_summary

STEP_SEPARATORS = {"paragraph": "\n\n", "line": "\n", "step": "\n"}


def _on_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# True while configs are built only to check a recipe (``tasks/validate.py``): see ``_checked``.
CHECKING: ContextVar[bool] = ContextVar("agentark_checking_configs", default=False)


def _trainer_defaults() -> dict:
    """TrainingArguments defaults that follow the hardware (bf16 and pinned memory on CUDA only)."""
    cuda = _on_cuda()
    return {"report_to": "none", "save_strategy": "no", "logging_steps": 1, "dataloader_pin_memory": cuda,
            "bf16": cuda and not CHECKING.get() and _bf16_supported()}


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())  # asks the device: starts CUDA in this process


def _checked(kwargs: dict) -> dict:
    """A TrainingArguments built only to check a recipe is built for the CPU without compile, so that
    building it starts no CUDA and switches no TF32 in the checking process (transformers does both
    for a GPU / ``torch_compile`` config); the training stage builds the real one."""
    return kwargs | {"use_cpu": True, "torch_compile": False} if CHECKING.get() else kwargs


def _build(cls, where: str, **kwargs):
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"recipe {where}: {exc}") from None


def sft_config(section: dict, output_dir: str, where: str):
    """A recipe ``train.sft`` / ``train.da`` mapping (``AgentArkSFTConfig`` fields) -> ``AgentArkSFTConfig``:
    the config's defaults, then the hardware's trainer defaults, then the recipe's fields."""
    from agentark_core.train.sft_config import AgentArkSFTConfig

    # Padding-free rows need a varlen attention kernel (CUDA); with sdpa on the CPU a packed row
    # costs attention quadratic in the whole micro-batch (measured 2x slower on toy models).
    kwargs = _trainer_defaults() | {"padding_free": _on_cuda()} | section
    return _build(AgentArkSFTConfig, where, output_dir=output_dir, **_checked(kwargs))


def prm_config(recipe):
    from agentark_core.train.prm_config import PRMConfig

    options = {"step_separator": STEP_SEPARATORS[recipe.extract.prm_splitter]} | recipe.train.prm
    return _build(PRMConfig, "train.prm", **options)


def rl_config(recipe, output_dir: str, rl: str | None = None, overrides: dict | None = None):
    """PAD's RL config: ``train.ppo`` or ``train.grpo`` (by ``rl``, default the recipe's ``train.rl``),
    with ``overrides`` (the ablation routes' reward weights) over the recipe's fields."""
    if (rl or recipe.train.rl) == "ppo":
        from agentark_core.train.ppo_config import AgentArkPPOConfig

        return _build(AgentArkPPOConfig, "train.ppo", **recipe.train.ppo | (overrides or {}))
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    return _build(AgentArkGRPOConfig, "train.grpo", output_dir=output_dir,
                  **_checked(_trainer_defaults() | recipe.train.grpo | (overrides or {})))


def rl_builder(name: str, rl: str | None = None, **overrides) -> Callable[[Any, str], Any]:
    """The config builder of a PAD ablation route: :func:`rl_config` with ``rl`` and ``overrides``."""

    def build(recipe, output_dir: str):
        return rl_config(recipe, output_dir, rl, overrides)

    build.__name__ = f"{name}_config"
    return build


def rl_summary(ctx: StageContext) -> dict:
    """:func:`training_summary` plus the RL curves (``rl_curves``: reward, per-reward means, KL, clip
    fraction, entropy, PRM-vs-verifiable agreement per logged step, held-out accuracy where GRPO evaluated
    its ``heldout_prompts``), ``reward_check``: whether the PRM
    reward rose while verifiable accuracy did not (a warning when it did), and what the report's PPO vs GRPO
    table names: ``algorithm`` (grpo | ppo), ``seed`` and ``rewards`` ({reward: weight})."""
    from agentark_core.train.reward_check import reward_hacking, rl_curve

    out = training_summary(ctx)
    metrics = json.loads(next(ctx.output_frames()).iloc[0]["metrics_json"])
    curves = rl_curve(metrics.get("loss_curve") or [], metrics.get("eval_curve") or [])
    check = reward_hacking(curves)
    warnings = []
    if check and check["hacking"]:
        warnings.append(f"PRM reward rose {check['prm_rise']:+.3f} while verifiable accuracy moved "
                        f"{check['accuracy_rise']:+.3f}: the policy may be exploiting the PRM")
    trained = {"algorithm": metrics.get("algorithm"), "seed": metrics.get("seed"),
               "rewards": dict(zip(metrics.get("reward_funcs") or [], metrics.get("reward_weights") or []))}
    return out | trained | {"rl_curves": curves, "reward_check": check} | loud(ctx.stage.name, warnings)


def sft_builder(section: str) -> Callable[[Any, str], Any]:
    """The config builder of an SFT route trained with recipe section ``train.<section>``."""

    def build(recipe, output_dir: str):
        return sft_config(getattr(recipe.train, section), output_dir, f"train.{section}")

    build.__name__ = f"{section}_config"
    return build


def train_sft(model_path: str, examples: pd.DataFrame, output_dir: str, config) -> dict:
    """R-SFT / DA training (``agentark_core.train.sft``), imported when a route trains, not at registration."""
    from agentark_core.train.sft import train_sft as train

    return train(model_path, examples, output_dir, config)


def train_prm(model_path: str, examples: pd.DataFrame, output_dir: str, config) -> dict:
    """PRM training (``agentark_core.train.prm_train``), imported when the route trains."""
    from agentark_core.train.prm_train import train_prm as train

    return train(model_path, examples, output_dir, config)


def train_policy(model_path: str, prompts: pd.DataFrame, output_dir: str, config, prm_path: str) -> dict:
    """PAD's policy optimisation: GRPO (paper) or PPO (ablation), chosen by ``train.rl`` through the config."""
    from agentark_core.train.ppo_config import AgentArkPPOConfig

    if isinstance(config, AgentArkPPOConfig):
        from agentark_core.train.ppo import train_ppo

        return train_ppo(model_path, prompts, output_dir, config, prm_path=prm_path)
    from agentark_core.train.grpo import train_grpo

    return train_grpo(model_path, prompts, output_dir, config, prm_path=prm_path)


def rl_prompts(ctx: StageContext, data: str) -> pd.DataFrame:
    """GRPO/PPO prompts: the single-student prompt of every training question, with its answer."""
    from agentark_core.extract import student_prompt

    questions = ctx.input_frame(data)
    return pd.DataFrame({
        "question_id": questions["question_id"],
        "prompt": [student_prompt(row) for row in questions.to_dict(orient="records")],
        "gt": questions["gt"], "task_type": questions["task_type"], "choices": questions["choices"],
    })


def launch_section(name: str) -> Callable[[Any], str]:
    """A route's ``train.launch`` section: always ``name``."""
    def section(recipe) -> str:
        return name

    section.__name__ = f"{name}_launch"
    return section


def rl_launch(recipe) -> str:
    """PAD's ``train.launch`` section: the policy optimiser's (``train.rl``: grpo | ppo)."""
    return recipe.train.rl


def pad_ablation(name: str, rl: str | None = None, **overrides) -> Route:
    """PAD with ``overrides`` on its RL config (same prompts, PRM, steps and seed): the PRM must earn its
    place against the same optimiser without it, and GRPO against PPO (issue 19; paper App. B.2 / C.2)."""
    return register_route(dataclasses.replace(PAD, name=name, config=rl_builder(name, rl, **overrides),
                                              launch_section=launch_section(rl) if rl else rl_launch))


RSFT = register_route(Route(name="rsft", data="sft_rsft", reads=("train.sft", "train.launch.sft"),
                            config=sft_builder("sft"), train=train_sft, launch_section=launch_section("sft")))
DA = register_route(Route(name="da", data="sft_da", reads=("train.da", "train.launch.da"), config=sft_builder("da"),
                          train=train_sft, launch_section=launch_section("da")))
PRM = register_route(Route(name="prm", data="prm_data",
                           reads=("train.prm", "extract.prm_splitter", *PRM_EVAL_READS, "train.launch.prm"),
                           config=lambda recipe, output_dir: prm_config(recipe), train=train_prm,
                           evaluated=False, kind="prm", extra_inputs=(PRM_QUESTIONS,), summarize=prm_summary,
                           launch_section=launch_section("prm")))
PAD_READS = ("train.rl", "train.grpo", "train.ppo", "train.launch.grpo", "train.launch.ppo")
PAD = register_route(Route(name="pad", data="ingest", reads=PAD_READS, config=rl_config, train=train_policy,
                           examples=rl_prompts, helpers=(("prm_path", "prm"),), summarize=rl_summary,
                           code=("agentark_core.train", "agentark_core.answers"), launch_section=rl_launch))
# PAD's ablations (issue 19; paper App. B.2 / C.2): the same prompts, PRM, steps and seed
PAD_VR = pad_ablation("pad_vr", prm_weight=0.0)  # verifiable reward only
PAD_PRM = pad_ablation("pad_prm", verifiable_weight=0.0)  # PRM reward only
PAD_PPO = pad_ablation("pad_ppo", rl="ppo")  # PPO's value baseline on PAD's reward (train.ppo's steps)
RSFT_DA = register_route(Route(name="rsft_da", start="rsft", data="sft_da", reads=("train.da", "train.launch.da"),
                               config=sft_builder("da"), train=train_sft, launch_section=launch_section("da")))
PAD_DA = register_route(Route(name="pad_da", start="pad", data="sft_da", reads=("train.da", "train.launch.da"),
                              config=sft_builder("da"), train=train_sft, launch_section=launch_section("da")))

