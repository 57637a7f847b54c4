"""Configuration of PAD's RL stage on GRPO (paper §3.3.3, eq. 3–5): TRL's ``GRPOConfig`` plus the PRMVR reward.

Every ``trl.GRPOConfig`` field is available to recipes unchanged: ``num_generations`` is the group
size G, ``beta`` the KL coefficient β, ``epsilon`` the clip ε, ``loss_type`` the aggregation of the
token losses. The extra fields (:class:`~agentark_core.train.rl_common.RewardOptions`) define the
reward ``R(o) = prm_weight · agg(PRM step scores) + verifiable_weight · grade(o)``; they become
TRL's ``reward_weights``, so ``reward_weights`` itself must stay unset.

Rollouts on vLLM (issue 18): ``use_vllm: true`` samples the G completions with TRL's vLLM engine instead
of HF ``generate``; the rewards (PRM included) and the update are unchanged. ``vllm_mode: colocate``
(default) runs the engine in the trainer's process on its GPU, the policy's weights pushed into it
before each rollout; ``vllm_gpu_memory_utilization`` (TRL's 0.3: ~24 GB of an 80 GB card; a 0.6B
student's bf16 weights take 1.2 GB and the KV cache of 64 rollouts of 1,024 tokens 7.5 GB, leaving the
other ~56 GB to the policy, its reference and the PRM) is the engine's share of the card, and its context
(``vllm_max_model_length``) defaults to ``max_prompt_length + max_completion_length``, at least 1024.
``vllm_enable_sleep_mode`` frees the engine's weights and KV cache during the update (for students
whose training state fills the card; costs a wake-up per step). ``vllm_mode: server`` uses a running
``trl vllm-serve`` at ``vllm_server_base_url``. The colocated engine does not detokenize
(:func:`colocated_sampling_kwargs`). ``async_rollouts: true`` samples the next generation batch while the
policy trains on the current one (one-step off-policy, importance-corrected;
:mod:`agentark_core.train.async_rollout`): with the server on another GPU the rollout leaves the step's
critical path.

Example:
    >>> cfg = AgentArkGRPOConfig(output_dir="out", num_generations=8, beta=0.001)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from agentark_core.train.gain_lr import GainOptions
from agentark_core.train.lora import LoraOptions
from agentark_core.train.rl_common import RewardOptions, settle_colocated_engine

VLLM_MODES = ("colocate", "server")


@dataclass
class AgentArkGRPOConfig(RewardOptions, GainOptions, LoraOptions, GRPOConfig):
    """``trl.GRPOConfig`` + :class:`RewardOptions` + the gains' own rate (:class:`GainOptions`) + LoRA
    (:class:`LoraOptions`: with ``lora_r > 0`` the KL reference is the adapter-free base model, no second copy),
    with defaults from the paper / reference where they differ."""

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
    heldout_prompts: int = field(
        default=0,
        metadata={
            "help": "Prompts kept out of training (the last ones) and scored with the rewards by TRL's evaluation "
            "every eval_steps (eval_strategy: steps): held-out accuracy over training. 0 = none."
        },
    )

    async_rollouts: bool = field(
        default=False,
        metadata={
            "help": "Sample the next generation batch on the vLLM engine while the policy trains on this one "
            "(one-step off-policy, corrected by TRL's importance sampling); needs use_vllm, one process."
        },
    )

    async_engine_process: bool = field(
        default=False,
        metadata={
            "help": "With async_rollouts and vllm_mode colocate: run the engine core in a child process on the "
            "same GPU, weights pushed through CUDA IPC (train/rollout_process.py), so the engine does not share "
            "the trainer's GIL (measured on an H200: rollout 4.5% of the step, README)."
        },
    )

    def __post_init__(self):
        # process-wide settings are made where training starts (grpo.build_grpo_trainer)
        super().__post_init__()
        self.check_reward_options()
        self.check_gain_options()
        self.check_lora_options()
        if self.reward_weights is not None:
            raise ValueError(
                "reward_weights is derived from prm_weight and verifiable_weight; set those instead"
            )
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon!r}")
        self.check_heldout_options()
        self.check_vllm_options()

    def check_heldout_options(self) -> None:
        """``heldout_prompts`` > 0 and TRL's evaluation (``eval_strategy`` other than 'no') go together: the
        held-out prompts are the evaluation set. Raises ValueError naming the fields."""
        if not (isinstance(self.heldout_prompts, int) and self.heldout_prompts >= 0):
            raise ValueError(f"heldout_prompts must be an integer >= 0, got {self.heldout_prompts!r}")
        evaluating = self.eval_strategy != "no"
        if self.heldout_prompts and not evaluating:
            raise ValueError(f"heldout_prompts {self.heldout_prompts} needs eval_strategy 'steps' (with eval_steps): "
                             "the held-out prompts are only scored by TRL's evaluation")
        if evaluating and not self.heldout_prompts:
            strategy = getattr(self.eval_strategy, "value", self.eval_strategy)
            raise ValueError(f"eval_strategy {strategy!r} needs heldout_prompts > 0: the prompts TRL's evaluation scores")

    def check_vllm_options(self) -> None:
        """With ``use_vllm``: a known mode, a server URL in server mode, an engine share in (0, 1]; the
        colocated engine's context defaults to the longest prompt + completion (``settle_colocated_engine``). Raises ValueError naming
        the field. Whether vLLM is installed is checked where training starts (``grpo.build_grpo_trainer``),
        so a recipe asking for it validates on a machine that only dispatches the run."""
        if not self.use_vllm:
            if self.async_rollouts or self.async_engine_process:
                raise ValueError("async_rollouts and async_engine_process need use_vllm: true (the rollouts run "
                                 "on a vLLM engine)")
            return
        if self.async_engine_process and not (self.async_rollouts and self.vllm_mode == "colocate"):
            raise ValueError("async_engine_process needs async_rollouts: true and vllm_mode 'colocate' (it runs "
                             "the colocated engine in a child process while the policy trains)")
        if self.async_engine_process and self.lora_r > 0:
            raise ValueError("async_engine_process pushes full weights to the engine; it does not take LoRA "
                             "adapters (lora_r > 0)")
        if self.async_rollouts and self.vllm_enable_sleep_mode:
            raise ValueError("async_rollouts and vllm_enable_sleep_mode exclude each other: the engine samples "
                             "while the policy trains, so it cannot sleep then")
        if self.vllm_mode not in VLLM_MODES:
            raise ValueError(f"vllm_mode must be one of {list(VLLM_MODES)}, got {self.vllm_mode!r}")
        if self.vllm_mode == "server":
            if not self.vllm_server_base_url:
                raise ValueError(
                    "vllm_mode 'server' needs vllm_server_base_url: the URL of a running `trl vllm-serve` "
                    "(e.g. http://gpu-host:8000); or use vllm_mode 'colocate'"
                )
            if self.vllm_enable_sleep_mode:
                raise ValueError("vllm_enable_sleep_mode applies to vllm_mode 'colocate' only")
            return
        settle_colocated_engine(self)
        self.generation_kwargs = colocated_sampling_kwargs(self.generation_kwargs)


def colocated_sampling_kwargs(generation_kwargs: dict | None) -> dict:
    """``generation_kwargs`` (vLLM ``SamplingParams`` fields) for TRL's colocated engine, with
    ``detokenize: False`` unless set or stop strings need the text: TRL's colocated rollouts read only the
    token ids and logprobs of each output and decode the completions themselves, so the engine's per-step
    incremental detokenization is work nobody reads."""
    kwargs = dict(generation_kwargs or {})
    if "detokenize" not in kwargs and not kwargs.get("stop"):
        kwargs["detokenize"] = False
    return kwargs
