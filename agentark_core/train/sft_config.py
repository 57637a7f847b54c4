"""Configuration of R-SFT and DA training (paper §3.3.1–3.3.2): TRL's ``SFTConfig`` plus the answer-loss weight.

Every ``trl.SFTConfig`` / ``transformers.TrainingArguments`` field is available to recipes
unchanged; the extra fields are the ones the paper's objective needs, the speed options (see
``bench/bench_train_mfu.py``), LoRA and crash resume. ``padding_free`` is TRL's field, honoured by
our own collator so the per-token loss weights travel with the flattened batch.

Example:
    >>> cfg = AgentArkSFTConfig(output_dir="out", answer_loss_weight=2.0, max_steps=10)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from agentark_core.train.lora import LoraOptions
from agentark_core.train.speed import (
    ATTN_IMPLEMENTATIONS,
    MODEL_DTYPES,
    check_compile_mode,
    check_speed_options,
)

COMPILE_SCOPES = ("blocks", "model")


@dataclass
class AgentArkSFTConfig(LoraOptions, SFTConfig):
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

    logging_nan_inf_filter: bool = field(
        default=False,
        metadata={
            "help": "Replace nan/inf step losses in the logged average (transformers' default True checks every "
            "step's loss on the host: a GPU sync per micro-batch). Off: a nan shows up in the log as it is."
        },
    )

    padding_free: bool = field(
        default=True,
        metadata={"help": "One unpadded row per micro-batch (position_ids restart per example); same loss."},
    )
    attn_implementation: str = field(
        default="auto",
        metadata={
            "help": f"One of {ATTN_IMPLEMENTATIONS}; auto = varlen on CUDA with padding_free, else sdpa."
        },
    )
    model_dtype: str = field(
        default="float32",
        metadata={
            "help": f"Weight dtype, one of {MODEL_DTYPES}; float32 = fp32 master weights + bf16 autocast."
        },
    )
    compile_scope: str = field(
        default="blocks",
        metadata={
            "help": f"With torch_compile: one of {COMPILE_SCOPES}; blocks = compile each transformer block "
            "(one compile shared by all blocks, dynamic lengths: seconds to start, no recompiles on "
            "variable-length batches), model = transformers' whole-model torch.compile."
        },
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False,
        metadata={
            "help": "DDP: search the graph for unused parameters every step (every parameter is used here)."
        },
    )
    resume: bool = field(
        default=True,
        metadata={
            "help": "Continue from the newest checkpoint-N in output_dir when there is one (crash resume)."
        },
    )

    def __post_init__(self):
        # process-wide settings (allocator, matmul precision) are made where training starts:
        # speed.prepare_training_process, called by sft.build_trainer
        if not self.use_cpu and self.dataloader_pin_memory and (
            self.accelerator_config is None
            or (isinstance(self.accelerator_config, dict) and "non_blocking" not in self.accelerator_config)
        ):  # pinned batches copied without blocking: a blocking copy waits for the GPU's queue to drain
            # (without pinned memory there is nothing to overlap, and transformers warns on every run)
            self.accelerator_config = {**(self.accelerator_config or {}), "non_blocking": True}
        super().__post_init__()
        if not self.answer_loss_weight >= 0:  # also rejects NaN
            raise ValueError(f"answer_loss_weight must be >= 0, got {self.answer_loss_weight!r}")
        if self.packing:
            raise ValueError(
                "packing is not supported (it cuts examples and drops the per-token loss weights); "
                "use padding_free=True to drop the padding instead"
            )
        check_speed_options(self.attn_implementation, self.model_dtype)
        check_compile_mode(self.torch_compile_mode)
        if self.compile_scope not in COMPILE_SCOPES:
            raise ValueError(f"compile_scope {self.compile_scope!r} unknown; valid: {list(COMPILE_SCOPES)}")
        self.check_lora_options()
