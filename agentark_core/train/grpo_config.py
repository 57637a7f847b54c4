"""Configuration of PAD's RL stage on GRPO (paper §3.3.3, eq. 3–5): TRL's ``GRPOConfig`` plus the PRMVR reward.

Every ``trl.GRPOConfig`` field is available to recipes unchanged: ``num_generations`` is the group
size G, ``beta`` the KL coefficient β, ``epsilon`` the clip ε, ``loss_type`` the aggregation of the
token losses. The extra fields (:class:`~agentark_core.train.rl_common.RewardOptions`) define the
reward ``R(o) = prm_weight · agg(PRM step scores) + verifiable_weight · grade(o)``; they become
TRL's ``reward_weights``, so ``reward_weights`` itself must stay unset.

Example:
    >>> cfg = AgentArkGRPOConfig(output_dir="out", num_generations=8, beta=0.001)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from agentark_core.train.lora import LoraOptions
from agentark_core.train.rl_common import RewardOptions


@dataclass
class AgentArkGRPOConfig(RewardOptions, LoraOptions, GRPOConfig):
    """``trl.GRPOConfig`` + :class:`RewardOptions` + LoRA (:class:`LoraOptions`: with ``lora_r > 0`` the KL
    reference is the adapter-free base model, no second copy), with defaults from the paper / reference where they differ."""

    beta: float = field(
        default=0.001,
        metadata={
            "help": "KL coefficient β of KL(π_θ‖π_ref) (paper eq. 3; ref 0.001–0.01). 0 skips the reference model."
        },
    )
    loss_type: str = field(
        default="grpo",
        metadata={
            "help": "TRL loss aggregation: 'grpo' = paper eq. 3 (per-sequence token mean); also dapo, dr_grpo, bnpo…"
        },
    )
    learning_rate: float = field(default=5e-7, metadata={"help": "Actor learning rate (ref: 5e-7)."})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute activations in backward (TRL defaults to True; off here: small students fit)."
        },
    )

    def __post_init__(self):
        # process-wide settings are made where training starts (grpo.build_grpo_trainer)
        super().__post_init__()
        self.check_reward_options()
        self.check_lora_options()
        if self.reward_weights is not None:
            raise ValueError(
                "reward_weights is derived from prm_weight and verifiable_weight; set those instead"
            )
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon!r}")
