"""Configuration of the PPO ablation of PAD (paper App. B.2 / C.2): PPO with a learned value baseline.

Same reward fields as GRPO (:class:`~agentark_core.train.rl_common.RewardOptions`); the rest are
the usual PPO knobs (rollout batch, PPO epochs, GAE γ/λ, policy and value clipping, per-token KL
penalty to the frozen initial policy); ``heldout_prompts`` / ``eval_steps`` score held-out prompts during
training as GRPO's ``heldout_prompts`` does. ``use_vllm`` samples the rollouts with a vLLM engine in the
trainer's process (the policy's weights pushed into it before every rollout) instead of HF ``generate``.

Example:
    >>> cfg = AgentArkPPOConfig(max_steps=100, batch_size=8, kl_coef=0.01)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentark_core.train.gain_lr import GainOptions
from agentark_core.train.rl_common import RewardOptions, settle_colocated_engine


@dataclass
class AgentArkPPOConfig(RewardOptions, GainOptions):
    """PPO hyper-parameters + :class:`RewardOptions` + the gains' own rate (:class:`GainOptions`)."""

    learning_rate: float = field(
        default=1e-6, metadata={"help": "AdamW learning rate (policy and value head)."}
    )
    max_steps: int = field(
        default=100, metadata={"help": "Number of rollout batches (each followed by PPO epochs)."}
    )
    batch_size: int = field(default=8, metadata={"help": "Prompts per rollout batch (one completion each)."})
    mini_batch_size: int | None = field(
        default=None,
        metadata={"help": "Completions per optimiser step within a PPO epoch; None = the whole batch."},
    )
    ppo_epochs: int = field(default=4, metadata={"help": "Passes over each rollout batch."})
    gamma: float = field(default=1.0, metadata={"help": "GAE discount γ over completion tokens."})
    lam: float = field(default=0.95, metadata={"help": "GAE λ."})
    clip_epsilon: float = field(default=0.2, metadata={"help": "Policy ratio clip ε."})
    value_clip: float = field(
        default=0.2, metadata={"help": "Value clip: new values stay within ±this of the old."}
    )
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss in the total loss."})
    kl_coef: float = field(
        default=0.01,
        metadata={"help": "Per-token KL penalty β to the frozen initial policy (ref 0.001–0.01); 0 = none."},
    )
    whiten_advantages: bool = field(
        default=True, metadata={"help": "Normalise advantages over the batch's tokens."}
    )
    max_completion_length: int = field(
        default=256, metadata={"help": "Generated tokens per completion, at most."}
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature (also applied to log-probs)."}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient norm clip."})
    seed: int = field(default=0, metadata={"help": "Seed of prompt order, sampling and the value head init."})
    heldout_prompts: int = field(
        default=0,
        metadata={"help": "Prompts kept out of training (the last ones, as GRPO's) and sampled once each before "
                  "step 1 and every eval_steps steps: held-out accuracy over training. 0 = none."},
    )
    eval_steps: int = field(
        default=10, metadata={"help": "Steps between two scorings of the heldout_prompts (with heldout_prompts > 0)."}
    )
    device: str | None = field(
        default=None, metadata={"help": "'cpu', 'cuda', …; None = cuda when available."}
    )
    use_vllm: bool = field(
        default=False,
        metadata={"help": "Sample rollouts on a vLLM engine sharing the policy's GPU (weights synced each step)."},
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "The engine's share of the GPU's memory (as GRPO's; TRL's default)."}
    )
    vllm_max_model_length: int | None = field(
        default=None,
        metadata={"help": "The engine's context length; None = max_prompt_length + max_completion_length, at least 1024."},
    )

    def __post_init__(self):
        self.check_reward_options()
        self.check_gain_options()
        if not (isinstance(self.heldout_prompts, int) and self.heldout_prompts >= 0):
            raise ValueError(f"heldout_prompts must be an integer >= 0, got {self.heldout_prompts!r}")
        for name in ("max_steps", "batch_size", "ppo_epochs", "max_completion_length", "eval_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.mini_batch_size is not None and not 1 <= self.mini_batch_size <= self.batch_size:
            raise ValueError(
                f"mini_batch_size must be in [1, batch_size={self.batch_size}], got {self.mini_batch_size}"
            )
        for name in ("gamma", "lam"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("learning_rate", "clip_epsilon", "value_clip", "temperature", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("vf_coef", "kl_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.use_vllm:  # vLLM's presence is checked where training starts (ppo_vllm.VLLMSampler)
            settle_colocated_engine(self)
