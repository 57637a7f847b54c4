"""R-SFT and DA training (paper §3.3.1–3.3.2) on TRL's ``SFTTrainer`` with a weighted completion-only loss.

Each example is rendered with the student's chat template as one user turn (``prompt``) and one
assistant turn (``reasoning + "\\n" + answer``). Prompt tokens are masked; completion tokens carry
a loss weight ``ω_i`` (the row's ``weight``), times ``answer_loss_weight`` on the tokens of ``answer``.
DA is the same function on the ``kind == "da"`` rows, whose ``weight = 1/k`` averages the k traces
of a question. Loss normalisation is documented on :class:`AgentArkSFTConfig`.

Example:
    >>> metrics = train_sft("student/", rows, "ckpt/", AgentArkSFTConfig(output_dir="ckpt/"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from agentark_core.train.lora import lora_config, save_merged
from agentark_core.train.progress import show_loss_progress
from agentark_core.train.records import as_records, check_weight

logger = logging.getLogger(__name__)

SFT_COLUMNS = {"prompt": str, "reasoning": str, "answer": str, "weight": (int, float)}


def tokenize_example(
    tokenizer,
    prompt: str,
    reasoning: str,
    answer: str,
    weight: float,
    answer_loss_weight: float,
    max_length: int | None = None,
) -> dict[str, list]:
    """Tokenise one example and give every token its loss weight.

    Args:
        tokenizer: the student's tokenizer (fast, with a chat template).
        prompt, reasoning, answer: the example's texts; the completion is ``reasoning + "\\n" + answer``.
        weight: per-example loss weight ω.
        answer_loss_weight: extra factor w on the answer tokens.
        max_length: keep at most this many tokens (from the start); None keeps all.

    Returns:
        ``input_ids``, ``labels`` (-100 on prompt tokens) and ``token_weights`` (0 on the prompt,
        ω on reasoning tokens, ω·w on answer tokens), all of the same length.
    """
    user = [{"role": "user", "content": prompt}]
    prompt_text = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    completion = f"{reasoning}\n{answer}"
    text = tokenizer.apply_chat_template(
        user + [{"role": "assistant", "content": completion}], tokenize=False
    )
    if not text.startswith(prompt_text):
        raise ValueError(
            "the chat template renders the prompt differently with and without the assistant turn"
        )
    answer_start = text.rfind(answer) if answer.strip() else -1
    answer_end = answer_start + len(answer)
    if answer_start < len(prompt_text):
        raise ValueError(f"answer {answer[:40]!r} not found in the rendered completion")
    eos_at = text.find(tokenizer.eos_token, answer_end) if tokenizer.eos_token else -1
    if eos_at >= 0:  # stop after the end-of-turn token: nothing after it is worth learning
        text = text[: eos_at + len(tokenizer.eos_token)]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels, weights = [], [], []
    for tok, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        trained = end > len(prompt_text)
        in_answer = start < answer_end and end > answer_start
        ids.append(tok)
        labels.append(tok if trained else -100)
        weights.append(0.0 if not trained else weight * (answer_loss_weight if in_answer else 1.0))
    if max_length is not None:
        ids, labels, weights = ids[:max_length], labels[:max_length], weights[:max_length]
    return {"input_ids": ids, "labels": labels, "token_weights": weights}


def build_dataset(tokenizer, examples: Any, answer_loss_weight: float, max_length: int | None):
    """Validate ``sft_examples`` rows and tokenise them into a ``datasets.Dataset`` of weighted tokens."""
    from datasets import Dataset

    rows = as_records(examples, SFT_COLUMNS, "sft_examples")
    tokenized = []
    for i, row in enumerate(rows):
        weight = check_weight(row["weight"], i, "sft_examples")
        try:
            item = tokenize_example(
                tokenizer,
                row["prompt"],
                row["reasoning"],
                row["answer"],
                weight,
                answer_loss_weight,
                max_length,
            )
        except ValueError as err:
            raise ValueError(f"sft_examples row {i}: {err}") from err
        if all(label == -100 for label in item["labels"]):
            raise ValueError(
                f"sft_examples row {i}: no completion tokens left (prompt longer than max_length?)"
            )
        tokenized.append(item)
    return Dataset.from_list(tokenized)


def weighted_collator(pad_token_id: int, padding_free: bool = False):
    """A collator like TRL's that adds ``token_weights``, zero on padding and prompt tokens.

    Args:
        pad_token_id: id used for right padding.
        padding_free: put the whole micro-batch into one row ``(1, total_tokens)`` with ``position_ids``
            restarting per example and ``cu_seq_lens_q/k`` (no padding, no ``attention_mask``); else pad
            to ``(batch, longest)`` with an ``attention_mask``.

    Returns:
        ``collate(examples) -> dict`` of tensors; ``token_weights`` has the shape of ``input_ids``.
    """
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    base = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=padding_free)

    def collate(examples: list[dict]) -> dict:
        batch = base([{k: ex[k] for k in ("input_ids", "labels")} for ex in examples])
        rows = [torch.tensor(ex["token_weights"], dtype=torch.float32) for ex in examples]
        if padding_free:
            rows = [torch.cat(rows)]
        weights = torch.zeros(batch["input_ids"].shape, dtype=torch.float32)
        for row, values in enumerate(rows):
            weights[row, : len(values)] = values
        if padding_free:  # the collator unlabels each example's first token; its weight follows
            weights[batch["labels"] == -100] = 0.0
        batch["token_weights"] = weights
        batch.update(scored_positions(batch["labels"], weights))
        return batch

    return collate


def scored_positions(labels, token_weights) -> dict:
    """The LM-head loss inputs of a collated batch, computed on the host so the device needs no sync:
    ``lm_positions`` (flat indices into ``(batch · seq_len)`` of the hidden states that predict a
    labelled token), ``lm_targets`` (those tokens) and ``lm_weights`` (their loss weights)."""
    scored = labels[:, 1:] != -100
    rows, cols = scored.nonzero(as_tuple=True)
    return {
        "lm_positions": rows * labels.shape[1] + cols,
        "lm_targets": labels[:, 1:][scored],
        "lm_weights": token_weights[:, 1:][scored],
    }


def _trainer_class():
    from trl import SFTTrainer

    from agentark_core.train.lm_head_loss import add_weighted_lm_head

    class WeightedSFTTrainer(SFTTrainer):
        """SFTTrainer whose loss is ``Σ token_weight · nll / N`` (N = completion tokens in the batch),
        taken through :func:`~agentark_core.train.lm_head_loss.weighted_lm_head_loss` on the scored
        positions only (no full logits, no recomputed LM head, no metric-only outputs)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            add_weighted_lm_head(model)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {k: v for k, v in inputs.items() if k not in ("labels", "token_weights")}
            total = model(**inputs)
            num_tokens = len(inputs["lm_targets"]) if num_items_in_batch is None else num_items_in_batch
            loss = total / _as_tensor(num_tokens, total).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            if model.training:
                mask = inputs.get("attention_mask")
                self._total_train_tokens += int(inputs["input_ids"].numel() if mask is None else mask.sum())
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return (loss, {"loss": loss}) if return_outputs else loss

    return WeightedSFTTrainer


def _as_tensor(value, like):
    import torch

    return torch.as_tensor(value, device=like.device, dtype=like.dtype)


def build_trainer(model_path: str, examples: Any, output_dir: str, config):
    """Tokenise ``examples`` and build the weighted-loss SFTTrainer (arguments as in :func:`train_sft`).

    ``padding_free`` is handled by :func:`weighted_collator` (TRL's own refuses a custom collator), the
    attention kernel and weight dtype go to ``model_init_kwargs``, ``lora_r > 0`` wraps the model in LoRA
    and ``torch_compile`` with ``compile_scope="blocks"`` compiles each transformer block here instead of
    letting transformers compile the whole model.
    """
    from transformers import AutoTokenizer

    from agentark_core.train.speed import compile_blocks, model_kwargs, prepare_training_process

    prepare_training_process()
    padding_free = config.padding_free
    block_compile = config.torch_compile and config.compile_scope == "blocks"
    compile_mode = config.torch_compile_mode
    config = dataclasses.replace(
        config,
        output_dir=output_dir,
        torch_compile=config.torch_compile and not block_compile,
        # transformers turns torch_compile back on when a backend is set (its __post_init__ set one)
        torch_compile_backend=None if block_compile else config.torch_compile_backend,
        torch_compile_mode=None if block_compile else config.torch_compile_mode,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        padding_free=False,
        model_init_kwargs={
            **(config.model_init_kwargs or {}),
            **model_kwargs(config.attn_implementation, config.model_dtype, padding_free),
        },
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = build_dataset(tokenizer, examples, config.answer_loss_weight, config.max_length)
    trainer = _trainer_class()(
        model=model_path,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=weighted_collator(tokenizer.pad_token_id, padding_free),
        peft_config=lora_config(config),
    )
    if block_compile:
        compile_blocks(trainer.model, mode=compile_mode)
    return trainer


def last_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir`` (None when there is none or no folder)."""
    import os

    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None


def train_sft(model_path: str, examples: Any, output_dir: str, config) -> dict:
    """Fine-tune the student on R-SFT or DA rows and save an HF checkpoint (model + tokenizer).

    Args:
        model_path: HF folder (or hub id already in the local cache) of the student.
        examples: ``sft_examples`` rows (DataFrame or list of dicts) with ``prompt``, ``reasoning``,
            ``answer`` and ``weight``; other columns are ignored.
        output_dir: where the trained model and tokenizer are written with ``save_pretrained`` (LoRA
            merged); ``checkpoint-N`` folders there (``save_steps``) are resumed from when ``config.resume``.
        config: an :class:`~agentark_core.train.sft_config.AgentArkSFTConfig`; its ``output_dir`` is replaced.

    Returns:
        Metrics: ``loss_curve`` (list of ``{step, loss, learning_rate, grad_norm, ...}``), ``train_runtime``
        (s), ``train_loss``, ``num_tokens`` (non-padding tokens seen), ``global_step``, ``num_examples``.
    """
    trainer = build_trainer(model_path, examples, output_dir, config)
    show_loss_progress(trainer, "SFT")
    resume_from = last_checkpoint(output_dir) if config.resume else None
    if resume_from:
        logger.info("SFT: resuming from %s", resume_from)
    result = trainer.train(resume_from_checkpoint=resume_from)
    save_merged(trainer, output_dir)
    metrics = {
        "loss_curve": [_log_row(entry) for entry in trainer.state.log_history if "loss" in entry],
        "train_runtime": float(result.metrics["train_runtime"]),
        "train_loss": float(result.training_loss),
        "num_tokens": int(trainer._total_train_tokens),
        "global_step": int(trainer.state.global_step),
        "num_examples": len(trainer.train_dataset),
    }
    logger.info(
        "SFT done: %d steps, loss %.4f, %.1fs",
        metrics["global_step"],
        metrics["train_loss"],
        metrics["train_runtime"],
    )
    return metrics


def _log_row(entry: dict) -> dict:
    row = {"step": int(entry["step"]), "loss": float(entry["loss"])}
    row.update({k: float(v) for k, v in entry.items() if k not in row and isinstance(v, (int, float))})
    return row
