"""Settings of PRM training (paper §3.3.3, App. B; :func:`agentark_core.train.prm_train.train_prm`).

Example:
    >>> PRMConfig(loss="contrastive_bce", stage1_max_steps=150).temperature
    0.1
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentark_core.train.prm_loss import PRM_LOSSES
from agentark_core.train.rewards import STEP_AGGREGATIONS
from agentark_core.train.speed import (
    ATTN_IMPLEMENTATIONS,
    COMPILE_MODES,
    MODEL_DTYPES,
    check_compile_mode,
    check_speed_options,
)


@dataclass
class PRMConfig:
    """PRM training settings; ``stageN_max_steps > 0`` overrides ``stageN_epochs``, 0 steps skips a stage."""

    loss: str = field(default="contrastive", metadata={"help": f"Step loss: one of {PRM_LOSSES.names()}."})
    temperature: float = field(default=0.1, metadata={"help": "τ of the contrastive loss (App. B.1)."})
    step_separator: str = field(default="\n\n", metadata={"help": "Text joining a trace's steps."})
    likelihood_features: bool = field(
        default=True,
        metadata={"help": "Also score each step from the backbone's own token log-probabilities (prm_likelihood)."},
    )
    stage1_epochs: float = field(default=1.0, metadata={"help": "Epochs of Stage I (last block + head)."})
    stage1_max_steps: int = field(
        default=-1, metadata={"help": "Optimizer steps of Stage I; >0 overrides epochs."}
    )
    stage1_learning_rate: float = 1e-4
    stage2_epochs: float = field(default=1.0, metadata={"help": "Epochs of Stage II (all parameters)."})
    stage2_max_steps: int = field(
        default=-1, metadata={"help": "Optimizer steps of Stage II; >0 overrides epochs."}
    )
    stage2_learning_rate: float = 1e-5
    head_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the freshly initialised scoring heads in both stages; None = the stage's."},
    )
    traces_per_batch: int = field(default=8, metadata={"help": "Traces per micro-batch (whole questions)."})
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    lr_scheduler_type: str = field(default="linear", metadata={"help": "A transformers scheduler name."})
    max_length: int | None = field(
        default=2048, metadata={"help": "Token limit per trace; later steps dropped."}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 autocast; None = on when CUDA is available."}
    )
    seed: int = 0
    padding_free: bool = field(
        default=True, metadata={"help": "One unpadded row per micro-batch (position_ids restart per trace)."}
    )
    attn_implementation: str = field(
        default="auto",
        metadata={
            "help": f"One of {ATTN_IMPLEMENTATIONS}; auto = varlen on CUDA with padding_free, else sdpa."
        },
    )
    model_dtype: str = field(
        default="float32", metadata={"help": f"Backbone weight dtype, one of {MODEL_DTYPES}."}
    )
    use_liger_kernel: bool = field(
        default=False, metadata={"help": "Liger's RMSNorm/SwiGLU/RoPE kernels in the backbone (CUDA only)."}
    )
    torch_compile: bool = field(
        default=False,
        metadata={
            "help": "torch.compile each transformer block of the backbone (one compile, dynamic lengths)."
        },
    )
    torch_compile_mode: str | None = field(
        default=None, metadata={"help": f"torch.compile mode: {list(COMPILE_MODES)}."}
    )
    save_steps: int = field(
        default=0, metadata={"help": "Write output_dir/checkpoint-N every N optimizer steps; 0 = never."}
    )
    resume: bool = field(
        default=True, metadata={"help": "Continue from the newest checkpoint-N in output_dir."}
    )
    heldout_fraction: float = field(
        default=0.2, metadata={"help": "Share of questions held out of training to evaluate the PRM on."}
    )
    eval_best_of: list[int] = field(
        default_factory=lambda: [4, 8, 16], metadata={"help": "Ns of the held-out best-of-N reranking."}
    )
    eval_temperature: float = field(default=1.0, metadata={"help": "Student sampling T for best-of-N."})
    eval_max_tokens: int = field(default=256, metadata={"help": "Token limit of best-of-N student samples."})
    eval_aggregation: str = field(default="min", metadata={"help": "Step scores -> one score (min|mean|last)."})

    def __post_init__(self):
        PRM_LOSSES.get(self.loss)  # unknown names fail with the valid list
        STEP_AGGREGATIONS.get(self.eval_aggregation)
        check_speed_options(self.attn_implementation, self.model_dtype)
        check_compile_mode(self.torch_compile_mode)
        checks = {
            "temperature": self.temperature > 0,
            "head_learning_rate": self.head_learning_rate is None or self.head_learning_rate > 0,
            "stage1_epochs": self.stage1_epochs >= 0,
            "stage2_epochs": self.stage2_epochs >= 0,
            "traces_per_batch": self.traces_per_batch >= 1,
            "gradient_accumulation_steps": self.gradient_accumulation_steps >= 1,
            "max_grad_norm": self.max_grad_norm > 0,
            "warmup_ratio": 0 <= self.warmup_ratio <= 1,
            "max_length": self.max_length is None or self.max_length > 0,
            "save_steps": self.save_steps >= 0,
            "heldout_fraction": 0 <= self.heldout_fraction < 1,
            "eval_best_of": all(isinstance(n, int) and n >= 1 for n in self.eval_best_of),
            "eval_temperature": self.eval_temperature >= 0,
            "eval_max_tokens": self.eval_max_tokens >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"PRMConfig: invalid value for {bad}: {[getattr(self, b) for b in bad]}")
