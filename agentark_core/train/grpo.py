"""PAD's RL stage on GRPO (paper §3.3.3, eq. 3–5; App. B): TRL's ``GRPOTrainer`` with the PRMVR reward.

For every prompt the student samples G = ``num_generations`` completions; each gets
``R(o) = prm_weight · agg(PRM step scores) + verifiable_weight · grade(o)`` (TRL applies the
weights as ``reward_weights``); advantages are group-normalised and the clipped objective with a
β-weighted KL to the initial policy is optimised. Prompts are conversational (one user turn, the
student's chat template) and those longer than ``max_prompt_length`` are dropped first; the last
``heldout_prompts`` are kept out of training and scored by TRL's evaluation every ``eval_steps``.

Logged per step (``loss_curve``): the total and per-reward rewards, KL, entropy, TRL's clip ratios and
the PRM-vs-verifiable agreement of the same rollouts (:mod:`agentark_core.train.reward_check`; the
verifiable reward is computed at weight 0 where the recipe does not weight it).

The PRM is loaded on the CPU and moved to the trainer's device (``accelerator.device``) once the
trainer exists, so each process of a multi-GPU launch scores on its own GPU.

Example:
    >>> cfg = AgentArkGRPOConfig(output_dir="ckpt/", num_generations=8, max_steps=100)  # doctest: +SKIP
    >>> metrics = train_grpo("student/", prompts_df, "ckpt/", cfg, prm_path="prm/")      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from agentark_core.train.lora import lora_config, save_merged
from agentark_core.train.progress import show_loss_progress
from agentark_core.train.reward_check import CHECK_PREFIX, monitored_rewards
from agentark_core.train.rl_common import (
    build_reward_funcs,
    check_colocated_engine_device,
    check_vllm_importable,
    load_prompts,
    split_heldout,
)

logger = logging.getLogger(__name__)

CURVE_KEYS = ("loss", "reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "grad_norm", "learning_rate",
              "step_time")
# logged families kept per step: per-reward means, PPO-style clip fractions, async rollouts' wait, the PRM-vs-verifiable check
CURVE_PREFIXES = ("rewards/", "clip_ratio/", "rollout/", CHECK_PREFIX)


def build_grpo_trainer(
    model_path: str, prompts_df: Any, output_dir: str, config, prm_path: str | None = None
):
    """Load the prompts, rewards and PRM and build the ``GRPOTrainer`` (arguments as in :func:`train_grpo`).

    Returns:
        ``(trainer, n_dropped)``: the trainer, with the PRM already on its device, and the number
        of prompts dropped for length.
    """
    import torch

    if config.use_vllm:
        check_vllm_importable("GRPO")
    if config.use_vllm and config.vllm_mode == "colocate":  # before TRL's import, which imports vLLM
        check_colocated_engine_device("GRPO", torch.cuda.is_available() and not config.use_cpu)
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    trainer_class = GRPOTrainer
    if config.async_rollouts:  # the next rollout sampled while the policy trains (issue 18 item 2)
        from agentark_core.train.async_rollout import AsyncRolloutGRPOTrainer as trainer_class

    from agentark_core.llm.cpu_sampling import install_fast_sampling
    from agentark_core.train.fused_head import compact_cpu_lm_head
    from agentark_core.train.gain_lr import install_gain_learning_rate
    from agentark_core.train.speed import prepare_training_process

    prepare_training_process()
    compact_cpu_lm_head()  # TRL's fused LM head scores only completion positions on CPU too
    config = copy.deepcopy(config)  # dataclasses.replace would re-run GRPOConfig's batch-size derivation
    config.output_dir = output_dir
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows, dropped = load_prompts(prompts_df, tokenizer, config.max_prompt_length)
    rows, heldout = split_heldout(rows, config.heldout_prompts)
    prm = None
    if prm_path is not None and config.prm_weight > 0:
        from agentark_core.train.prm_model import PRM

        prm = PRM.load(prm_path)
        prm.requires_grad_(False)
    # + the verifiable reward at weight 0 when unweighted, and the PRM-vs-verifiable check (reward_check.py)
    funcs, config.reward_weights = monitored_rewards(*build_reward_funcs(config, prm))
    trainer = trainer_class(
        model=model_path,
        reward_funcs=funcs,
        args=config,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(heldout) if heldout else None,
        processing_class=tokenizer,
        peft_config=lora_config(config),
    )
    install_fast_sampling(trainer.model)  # HF rollouts on CPU without torch.multinomial's cost
    install_gain_learning_rate(trainer, config.gain_learning_rate)
    if prm is not None:
        prm.to(trainer.accelerator.device)
    return trainer, dropped


def train_grpo(
    model_path: str, prompts_df: Any, output_dir: str, config, prm_path: str | None = None
) -> dict:
    """Train the student with GRPO on the PRMVR reward and save an HF checkpoint (model + tokenizer).

    Args:
        model_path: HF folder of the student (usually the SFT/DA checkpoint).
        prompts_df: rows with ``question_id``, ``prompt`` (user message text), ``gt``, ``task_type``,
            ``choices`` (list).
        output_dir: where the trained model and tokenizer are written with ``save_pretrained``.
        config: an :class:`~agentark_core.train.grpo_config.AgentArkGRPOConfig`; its ``output_dir`` is replaced.
        prm_path: folder of a saved :class:`~agentark_core.train.prm_model.PRM`; None = verifiable reward only.

    Returns:
        Metrics: ``loss_curve`` (one row per logged step: step, loss, reward, reward_std, kl, …),
        ``eval_curve`` (one row per evaluation of the ``heldout_prompts``: step, reward, per-reward means),
        ``reward_mean`` and ``kl`` (per logged step), ``train_loss``, ``train_runtime`` (s),
        ``global_step``, ``num_prompts`` (trained on), ``num_prompts_filtered`` (dropped for length),
        ``num_heldout_prompts``,
        ``reward_funcs`` (names), ``reward_weights``, ``algorithm`` ("grpo") and ``seed``.
    """
    trainer, dropped = build_grpo_trainer(model_path, prompts_df, output_dir, config, prm_path)
    show_loss_progress(trainer, "GRPO")
    result = trainer.train()
    save_merged(trainer, output_dir)
    curve = [_log_row(entry) for entry in trainer.state.log_history if "loss" in entry]
    eval_curve = [_eval_row(entry) for entry in trainer.state.log_history if "eval_reward" in entry]
    metrics = {
        "loss_curve": curve,
        "reward_mean": [row.get("reward") for row in curve],
        "kl": [row.get("kl") for row in curve],
        "train_loss": float(result.training_loss),
        "train_runtime": float(result.metrics["train_runtime"]),
        "global_step": int(trainer.state.global_step),
        "num_prompts": len(trainer.train_dataset),
        "num_prompts_filtered": dropped,
        "num_heldout_prompts": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "eval_curve": eval_curve,
        "reward_funcs": list(trainer.reward_func_names),
        "reward_weights": [float(w) for w in trainer.args.reward_weights],
        "algorithm": "grpo",
        "seed": int(trainer.args.seed),
    }
    logger.info(
        "GRPO done: %d steps, loss %.4f, last reward %s, %.1fs",
        metrics["global_step"],
        metrics["train_loss"],
        metrics["reward_mean"][-1] if curve else None,
        metrics["train_runtime"],
    )
    return metrics


def _log_row(entry: dict) -> dict:
    """One log_history entry as ``{step, loss, …}`` with the GRPO curves, per-reward means, clip ratios and
    the ``prm_check/*`` agreement (a metric TRL logged as None, e.g. no wrong rollout in the step, is left out)."""
    row = {"step": int(entry["step"])}
    for key, value in entry.items():
        if value is not None and (key in CURVE_KEYS or key.startswith(CURVE_PREFIXES)):
            row[key] = float(value)
    return row


def _eval_row(entry: dict) -> dict:
    """One evaluation entry of log_history (``eval_reward``, ``eval_rewards/<name>/mean``) as ``{step, reward,
    rewards/<name>/mean}``: the held-out prompts' rewards at that step."""
    row = {"step": int(entry["step"])}
    for key, value in entry.items():
        name = key.removeprefix("eval_")
        if key.startswith("eval_") and value is not None and (name == "reward" or name.startswith("rewards/")):
            row[name] = float(value)
    return row
