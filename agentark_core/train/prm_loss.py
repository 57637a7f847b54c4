"""PRM step losses (paper App. B.1): the contrastive loss over same-position steps, and per-step BCE.

Every loss has one signature, ``loss(scores, labels, groups, temperature) -> scalar``:
``scores`` are step logits ``(n_steps,)``, ``labels`` 1 = correct step / 0 = incorrect,
``groups`` a long tensor where equal ids mean "same question, same step position".

Example (one position, one positive, one negative, τ = 0.1):
    >>> s = torch.tensor([0.0, 0.0]); y = torch.tensor([1, 0]); g = torch.tensor([0, 0])
    >>> round(contrastive_loss(s, y, g, 0.1).item(), 4)   # −log(e^5 / (e^5 + e^5)) = log 2
    0.6931
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from agentark_core.registry import Registry

PRM_LOSSES = Registry("prm loss")


@PRM_LOSSES.register("contrastive")
def contrastive_loss(
    scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Mean over positive steps of −log softmax([σ(s⁺), σ(s⁻₁), …, σ(s⁻ₘ)] / τ)[0].

    The negatives of a positive step are the label-0 steps of its group (same question, same
    position, other traces). Positives with no negative carry no signal and are left out of the
    mean; a batch with no such pair returns a zero that still back-propagates.

    Args:
        scores: step logits ``(n,)``.
        labels: ``(n,)`` in {0, 1}.
        groups: ``(n,)`` group ids.
        temperature: τ > 0; with σ in (0, 1) the loss floor is log(1 + m·e^(−1/τ)), so keep τ small.

    Returns:
        Scalar loss.
    """
    logits = torch.sigmoid(scores) / temperature
    negatives = (groups[:, None] == groups[None, :]) & (labels[None, :] == 0)  # [i, j]: j is a negative of i
    valid = (labels == 1) & negatives.any(dim=1)
    negative_logits = logits[None, :].expand(len(logits), -1).masked_fill(~negatives, float("-inf"))
    candidates = torch.cat([logits[:, None], negative_logits], dim=1)
    per_positive = torch.logsumexp(candidates, dim=1) - logits
    # a masked mean, not per_positive[valid]: no data-dependent shape, so no host sync per batch
    return torch.where(valid, per_positive, 0.0).sum() / valid.sum().clamp(min=1)


@PRM_LOSSES.register("bce")
def bce_loss(
    scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Mean binary cross-entropy of each step's logit against its label (``groups``/``temperature`` unused)."""
    return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


@PRM_LOSSES.register("contrastive_bce")
def contrastive_bce_loss(
    scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """The contrastive loss plus per-step BCE (equal weights).

    The contrastive loss alone compares steps only within a (question, position) group and, through σ,
    loses its gradient where scores saturate; with more negatives than positives per group every score
    drifts down together. The BCE term anchors each step's σ(score) to its label across groups, which
    the pooled step AUROC and best-of-N across traces need.
    """
    return contrastive_loss(scores, labels, groups, temperature) + bce_loss(scores, labels, groups)
