"""Configuration of R-SFT and DA training (paper §3.3.1–3.3.2): TRL's ``SFTConfig`` plus the answer-loss weight.

Every ``trl.SFTConfig`` / ``transformers.TrainingArguments`` field is available to recipes
unchanged; the extra fields are the ones the paper's objective needs.

Example:
    >>> cfg = AgentArkSFTConfig(output_dir="out", answer_loss_weight=2.0, max_steps=10)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig


@dataclass
class AgentArkSFTConfig(SFTConfig):
    """``trl.SFTConfig`` with the AgentArk R-SFT objective's extra knobs.

    The loss is ``Σ_i ω_i (Σ_{t∈reasoning_i} nll_t + w · Σ_{t∈answer_i} nll_t) / N`` where ``ω_i`` is the
    example's ``weight`` column, ``w = answer_loss_weight`` and ``N`` the number of completion tokens
    in the (gradient-accumulated) batch, so ``w = 1`` with unit weights is exactly TRL's token-mean SFT loss.
    """

    answer_loss_weight: float = field(
        default=1.0,
        metadata={
            "help": "Weight w of the answer-span tokens in the loss (paper §3.3.1 answer loss). 1.0 = plain SFT, "
            "0.0 = reasoning loss only, >1 stresses the final answer."
        },
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute activations in the backward pass (TRL defaults to True; off by default here "
            "because students up to a few B parameters fit without it)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.answer_loss_weight >= 0:  # also rejects NaN
            raise ValueError(f"answer_loss_weight must be >= 0, got {self.answer_loss_weight!r}")
        if self.packing or self.padding_free:
            raise ValueError(
                "packing / padding_free are not supported: the per-token loss weights need one "
                "padded row per example"
            )
