"""LoRA for the training routes that fine-tune the student (R-SFT/DA, GRPO): the recipe fields, the peft
config they build, and a save that merges the adapters so every checkpoint is a plain HF model.

Example:
    >>> peft_config = lora_config(config)          # None when config.lora_r == 0  # doctest: +SKIP
    >>> save_merged(trainer, "ckpt/")                                              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoraOptions:
    """LoRA fields of a training config; ``lora_r = 0`` is full fine-tuning."""

    lora_r: int = field(default=0, metadata={"help": "LoRA rank; 0 = full fine-tuning."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Module names LoRA wraps; None = every linear layer but the LM head."}
    )

    def check_lora_options(self) -> None:
        """Fail on a negative rank or a dropout outside [0, 1), naming both values."""
        if self.lora_r < 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError(
                f"lora_r must be >= 0 and lora_dropout in [0, 1), got {self.lora_r}, {self.lora_dropout}"
            )


def lora_config(options: LoraOptions):
    """A peft ``LoraConfig`` for a causal LM when ``options.lora_r > 0``, else None."""
    if options.lora_r == 0:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=options.lora_target_modules or "all-linear",
        task_type="CAUSAL_LM",
    )


def save_merged(trainer, output_dir: str) -> None:
    """Save a plain HF checkpoint (model + tokenizer): LoRA adapters are merged into the base weights first.

    Call it in every process of a multi-GPU run: ``save_model`` gathers ZeRO-3 shards there and
    writes on rank 0; the other files are written by rank 0 alone (no two processes write one file).
    """
    from peft import PeftModel

    model = trainer.model
    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
        if trainer.is_world_process_zero():
            model.save_pretrained(output_dir)
    else:
        trainer.save_model(output_dir)
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(output_dir)
