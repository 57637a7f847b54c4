"""PPO's objective (paper App. B.2): GAE, the clipped policy and value losses, and the k3 KL estimate.

Pure tensor functions over ``(batch, T)`` completion tokens, used by :mod:`agentark_core.train.ppo`.

Example:
    >>> a, r = gae(torch.tensor([[0., 1.]]), torch.tensor([[.5, .5]]), torch.ones(1, 2), 1.0, 1.0)
    >>> a.tolist(), r.tolist()
    ([[0.5, 0.5]], [[1.0, 1.0]])
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is 1 (same shapes)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over ``(batch, T)`` completion tokens; masked tokens end the episode.

    ``δ_t = r_t + γ·V_{t+1}·m_{t+1} − V_t``, ``A_t = δ_t + γλ·m_{t+1}·A_{t+1}``, returns ``= A + V``.

    Example:
        >>> a, r = gae(torch.tensor([[0., 1.]]), torch.tensor([[.5, .5]]), torch.ones(1, 2), 1.0, 1.0)
        >>> a.tolist(), r.tolist()
        ([[0.5, 0.5]], [[1.0, 1.0]])

    Returns:
        ``(advantages, returns)``, both ``(batch, T)`` and zero where ``mask`` is 0.
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_mask = mask[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        next_value = values[:, t + 1] * next_mask if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * next_mask * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def policy_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate ``−mean(min(ρA, clip(ρ, 1−ε, 1+ε)A))`` with ``ρ = exp(logp − old_logp)``, all ``(batch, T)``.

    Returns:
        ``(loss, clip_fraction)`` (scalars; means over masked tokens).
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    return loss, masked_mean((clipped < unclipped).float(), mask)


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """Clipped value loss ``½·mean(max((V − R)², (clip(V, V_old ± c) − R)²))`` over masked tokens."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token ``exp(r) − r − 1`` with ``r = ref_logp − logp``: the non-negative, unbiased "k3" estimate of
    KL(π‖π_ref) on tokens sampled from π (Schulman, "Approximating KL divergence"), what TRL's GRPO logs as ``kl``."""
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1
