"""Distillation stages (PAPER.md stage 3) -> ``checkpoints`` artifacts holding HF-format folders.

``train_rsft`` (R-SFT, §3.3.1), ``train_da`` (DA, §3.3.2), ``train_prm`` (PRM, two-stage,
App. B.1), ``train_pad`` (GRPO — or the PPO ablation — with PRM + verifiable reward, §3.3.3),
and the two-step combinations ``train_rsft_da`` / ``train_pad_da`` (App. F), which continue
from the first route's checkpoint.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.checkpoints import checkpoint_row, model_location, store_trained

CODE = ("agentark_core.train",)
STEP_SEPARATORS = {"paragraph": "\n\n", "line": "\n", "step": "\n"}


def _on_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _trainer_defaults() -> dict:
    """TrainingArguments defaults that follow the hardware (bf16 and pinned memory on CUDA only)."""
    import torch

    cuda = _on_cuda()
    return {"report_to": "none", "save_strategy": "no", "logging_steps": 1, "dataloader_pin_memory": cuda,
            "bf16": bool(cuda and torch.cuda.is_bf16_supported())}


def _build(cls, where: str, **kwargs):
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"recipe {where}: {exc}") from None


def sft_config(section, output_dir: str, where: str):
    """A recipe ``SFTSection`` -> ``AgentArkSFTConfig`` (its ``options`` pass any other field)."""
    from agentark_core.train.sft_config import AgentArkSFTConfig

    kwargs = {k: v for k, v in dataclasses.asdict(section).items() if k != "options"}
    # Padding-free rows need a varlen attention kernel (CUDA); with sdpa on the CPU a packed row
    # costs attention quadratic in the whole micro-batch (measured 2x slower on toy models).
    kwargs |= _trainer_defaults() | {"padding_free": _on_cuda()} | section.options
    return _build(AgentArkSFTConfig, where, output_dir=output_dir, **kwargs)


def prm_config(recipe):
    from agentark_core.train.prm_train import PRMConfig

    options = {"step_separator": STEP_SEPARATORS[recipe.extract.prm_splitter]} | recipe.train.prm
    return _build(PRMConfig, "train.prm", **options)


def rl_config(recipe, output_dir: str):
    if recipe.train.rl == "ppo":
        from agentark_core.train.ppo_config import AgentArkPPOConfig

        return _build(AgentArkPPOConfig, "train.ppo", **recipe.train.ppo)
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    return _build(AgentArkGRPOConfig, "train.grpo", output_dir=output_dir,
                  **(_trainer_defaults() | recipe.train.grpo))


def _examples(ctx: StageContext, name: str) -> pd.DataFrame:
    frame = ctx.input_frame(name)
    if frame.empty:
        raise ValueError(f"stage {ctx.stage.name}: input {name} ({ctx.inputs[name].key}) has no examples; "
                         "did any question reach extract.min_correct correct agents?")
    return frame


def sft_route(name: str, route: str, base: str, data: str, section: str) -> Stage:
    """An SFT route: fine-tune checkpoint input ``base`` on the ``data`` examples."""

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        from agentark_core.train.sft import train_sft

        model = model_location(ctx, base)
        examples = _examples(ctx, data)
        config_section = getattr(ctx.recipe.train, section)
        return store_trained(
            ctx, lambda out: train_sft(model, examples, out, sft_config(config_section, out, f"train.{section}")),
            route=route, base_model=checkpoint_row(ctx, base)["base_model"])

    return add(Stage(name=name, version="1", schema="checkpoints", reads=(f"train.{section}",),
                     inputs=(base, data), plan=lambda ctx: 1, run_shard=run_shard, code=CODE,
                     summarize=training_summary))


def prm_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.train.prm_train import train_prm

    model = model_location(ctx, "student")
    examples = _examples(ctx, "prm_data")
    config = prm_config(ctx.recipe)
    return store_trained(ctx, lambda out: train_prm(model, examples, out, config), route="prm",
                         base_model=checkpoint_row(ctx, "student")["base_model"], kind="prm")


def rl_prompts(ctx: StageContext) -> pd.DataFrame:
    """GRPO/PPO prompts: the single-student prompt of every training question, with its answer."""
    from agentark_core.extract import student_prompt

    questions = ctx.input_frame("ingest")
    return pd.DataFrame({
        "question_id": questions["question_id"],
        "prompt": [student_prompt(row) for row in questions.to_dict(orient="records")],
        "gt": questions["gt"], "task_type": questions["task_type"], "choices": questions["choices"],
    })


def pad_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    model = model_location(ctx, "student")
    prm_path = model_location(ctx, "train_prm")
    prompts = rl_prompts(ctx)

    def train(out: str) -> dict:
        config = rl_config(ctx.recipe, out)
        if ctx.recipe.train.rl == "ppo":
            from agentark_core.train.ppo import train_ppo

            return train_ppo(model, prompts, out, config, prm_path=prm_path)
        from agentark_core.train.grpo import train_grpo

        return train_grpo(model, prompts, out, config, prm_path=prm_path)

    return store_trained(ctx, train, route="pad", base_model=checkpoint_row(ctx, "student")["base_model"])


def training_summary(ctx: StageContext) -> dict:
    """Headline training numbers of the checkpoint (the full loss curve stays in metrics_json)."""
    row = next(ctx.output_frames()).iloc[0]
    metrics = json.loads(row["metrics_json"])
    curve = metrics.get("loss_curve") or []
    return {
        "route": row["route"],
        "steps": metrics.get("global_step", len(curve)),
        "first_loss": curve[0]["loss"] if curve else None,
        "last_loss": curve[-1]["loss"] if curve else None,
        "train_runtime_s": round(float(metrics.get("train_runtime", 0.0)), 2),
        "loss_curve": [[p["step"], round(p["loss"], 5)] for p in curve],
    }


TRAIN_RSFT = sft_route("train_rsft", "rsft", "student", "sft_rsft", "sft")
TRAIN_DA = sft_route("train_da", "da", "student", "sft_da", "da")
TRAIN_RSFT_DA = sft_route("train_rsft_da", "rsft_da", "train_rsft", "sft_da", "da")
TRAIN_PRM = add(Stage(name="train_prm", version="1", schema="checkpoints",
                      reads=("train.prm", "extract.prm_splitter"), inputs=("student", "prm_data"),
                      plan=lambda ctx: 1, run_shard=prm_shard, code=CODE, summarize=training_summary))
TRAIN_PAD = add(Stage(name="train_pad", version="1", schema="checkpoints",
                      reads=("train.rl", "train.grpo", "train.ppo"), inputs=("student", "train_prm", "ingest"),
                      plan=lambda ctx: 1, run_shard=pad_shard, code=CODE + ("agentark_core.answers",),
                      summarize=training_summary))
TRAIN_PAD_DA = sft_route("train_pad_da", "pad_da", "train_pad", "sft_da", "da")
