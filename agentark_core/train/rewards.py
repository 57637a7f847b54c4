"""GRPO rewards (paper §3.3.3, eq. 3–5; PURE-style "PRMVR" of the reference): verifiable answer + PRM step score.

Rewards are TRL-style callables ``(completions, **kwargs) -> list[float | None]`` (None = cannot
judge). ``REWARDS`` maps a name to a factory ``(weight=1.0, **options) -> reward``; the weight is
folded into the returned values. Dataset columns (``gt``, ``task_type``, ``choices``) arrive as
keyword lists, one entry per completion, exactly as TRL's ``GRPOTrainer`` passes them.

Example:
    >>> reward = REWARDS.get("verifiable")(weight=1.0)
    >>> reward(["Final Answer: 57"], gt=["57"], task_type=["math"])   # doctest: +SKIP
    [1.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from agentark_core.registry import Registry

RewardFn = Callable[..., list]
REWARDS: Registry[Callable[..., RewardFn]] = Registry("reward")
STEP_AGGREGATIONS: Registry[Callable[[Sequence[float], float], float]] = Registry("step aggregation")


def _text(message: Any) -> str:
    """The text of a completion/prompt: a string, or the last message of a conversational list."""
    if isinstance(message, str):
        return message
    if isinstance(message, list) and message and isinstance(message[-1], dict):
        return str(message[-1].get("content", ""))
    raise ValueError(f"expected a string or a list of chat messages, got {type(message).__name__}")


@REWARDS.register("verifiable")
def verifiable_reward(weight: float = 1.0) -> RewardFn:
    """Reward ``weight`` for a correct final answer, 0 for a wrong or missing one, None when ungradable.

    The reward function needs keyword lists ``gt`` and ``task_type`` (and ``choices`` for mcq). A
    reasoning model's think block is not graded (``llm.reasoning``): a completion that never closes it
    has no answer and earns 0.
    """
    from agentark_core.answers import grade
    from agentark_core.llm.reasoning import split_reasoning

    def verifiable(
        completions: list, gt: list[str], task_type: list[str], choices: list | None = None, **kwargs
    ) -> list[float | None]:
        rewards: list[float | None] = []
        for i, completion in enumerate(completions):
            answer = split_reasoning(_text(completion)).answer
            result = grade(answer, gt[i], task_type[i], tuple(choices[i] or ()) if choices else ())
            if result.status == "ungradable" and result.extracted is not None:
                rewards.append(None)
            else:
                rewards.append(weight if result.correct else 0.0)
        return rewards

    return verifiable


@STEP_AGGREGATIONS.register("min")
def _min(scores: Sequence[float], temperature: float) -> float:
    return min(scores)


@STEP_AGGREGATIONS.register("mean")
def _mean(scores: Sequence[float], temperature: float) -> float:
    return sum(scores) / len(scores)


@STEP_AGGREGATIONS.register("last")
def _last(scores: Sequence[float], temperature: float) -> float:
    return scores[-1]


@STEP_AGGREGATIONS.register("softmin")
def _softmin(scores: Sequence[float], temperature: float) -> float:
    """Σ_t softmax(−s/T)_t · s_t: tends to ``min`` as T → 0 and to ``mean`` as T → ∞."""
    low = min(scores)
    weights = [math.exp(-(s - low) / temperature) for s in scores]
    return sum(w * s for w, s in zip(weights, scores)) / sum(weights)


def aggregate_steps(scores: Sequence[float], how: str = "min", temperature: float = 0.1) -> float:
    """Aggregate per-step scores into one trajectory score (``how`` in ``STEP_AGGREGATIONS``)."""
    if not scores:
        raise ValueError("cannot aggregate an empty list of step scores")
    return STEP_AGGREGATIONS.get(how)(scores, temperature)


@REWARDS.register("prm")
def prm_reward(
    prm: Any, weight: float = 1.0, aggregation: str = "min", temperature: float = 0.1, batch_size: int = 8
) -> RewardFn:
    """Reward ``weight · aggregate(P(step correct))`` from a trained PRM, steps split on its separator.

    Args:
        prm: a :class:`~agentark_core.train.prm_model.PRM` or the folder it was saved to.
        weight: factor on the aggregate.
        aggregation: one of ``STEP_AGGREGATIONS`` (min | mean | last | softmin).
        temperature: T of ``softmin``.
        batch_size: traces per PRM forward pass.

    Returns:
        ``reward(prompts, completions, **kwargs)``; a completion with no step text gets 0.
    """
    STEP_AGGREGATIONS.get(aggregation)  # fail now, not mid-training
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if isinstance(prm, str):
        import torch

        from agentark_core.train.prm_model import PRM

        prm = PRM.load(prm).to("cuda" if torch.cuda.is_available() else "cpu")

    def prm_score(prompts: list, completions: list, **kwargs) -> list[float | None]:
        steps = [[s.strip() for s in _text(c).split(prm.step_separator) if s.strip()] for c in completions]
        scores = prm.score_steps([_text(p) for p in prompts], steps, batch_size=batch_size)
        return [weight * aggregate_steps(s, aggregation, temperature) if s else 0.0 for s in scores]

    return prm_score
