"""Train the process reward model (paper §3.3.3, App. B): two-stage curriculum, contrastive or BCE step loss.

Stage I trains only the backbone's last transformer block and the scalar head (everything else
frozen); Stage II trains everything. A compact PyTorch loop: AdamW, linear/cosine schedule with
warmup, gradient accumulation, gradient clipping, bf16 autocast on CUDA, padding-free batches and
crash resume from ``checkpoint-N`` folders. Batches hold whole questions so the contrastive loss
sees a question's positive and negative steps together.

Under ``accelerate launch`` (``train.prm.num_gpus > 1``) every process takes every N-th batch of
the same stream, its model in ``DistributedDataParallel`` (gradients averaged across processes;
:mod:`agentark_core.train.distributed`), so an optimizer step sees N x the traces and an epoch
takes 1/N of the steps; the loss curve is the mean over processes and rank 0 alone writes the
checkpoints and the PRM. In one process the loop is unchanged.

Example:
    >>> metrics = train_prm("student/", prm_rows, "prm/", PRMConfig(stage1_max_steps=100))  # doctest: +SKIP
    >>> PRM.load("prm/").score_steps([...], [[...]])                                          # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from agentark_core.train import distributed
from agentark_core.train.prm_batches import batch_tensors, load_traces, question_batches, split_examples
from agentark_core.train.prm_checkpoint import load_checkpoint, save_checkpoint
from agentark_core.train.prm_loss import PRM_LOSSES
from agentark_core.train.progress import LossBar
from agentark_core.train.rewards import STEP_AGGREGATIONS
from agentark_core.train.speed import (
    ATTN_IMPLEMENTATIONS,
    COMPILE_MODES,
    MODEL_DTYPES,
    check_compile_mode,
    check_speed_options,
)

logger = logging.getLogger(__name__)



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


def set_stage(prm, stage: int) -> list:
    """Stage 1: only the last transformer block + the heads train; stage 2: everything. Returns trainable params."""
    for p in prm.parameters():
        p.requires_grad_(stage == 2)
    if stage == 1:
        for p in list(prm.last_block().parameters()) + prm.head_parameters():
            p.requires_grad_(True)
    return [p for p in prm.parameters() if p.requires_grad]


def _forever(traces: list[dict], config: PRMConfig, rng: random.Random) -> Iterator[list[dict]]:
    """This process's batches: every ``world_size``-th of one endless stream all processes draw alike."""
    def stream():
        while True:
            yield from question_batches(traces, config.traces_per_batch, rng)

    return itertools.islice(stream(), distributed.rank(), None, distributed.world_size())


def _stage_steps(config: PRMConfig, stage: int, num_batches: int) -> int:
    max_steps = getattr(config, f"stage{stage}_max_steps")
    if max_steps > 0:
        return max_steps
    epochs = getattr(config, f"stage{stage}_epochs")
    return math.ceil(num_batches * epochs / (config.gradient_accumulation_steps * distributed.world_size()))


def backward_batch(prm, batch: list[dict], config: PRMConfig, model=None):
    """Forward + backward one micro-batch (loss scaled by 1/accumulation); ``model`` is what runs the
    forward (the PRM's ``DistributedDataParallel`` wrapper in a multi-process run; default ``prm``).

    Returns:
        ``(loss, tokens)``: the scaled loss as a detached 0-d tensor on the model's device (read it
        when the step's row is written, so the batch needs no host sync) and the real token count.
    """
    import torch

    from agentark_core.train.prm_model import _to_device

    tokens = sum(len(t["input_ids"]) for t in batch)
    tensors = _to_device(batch_tensors(batch, prm.tokenizer.pad_token_id, config.padding_free), prm.device)
    labels, groups = tensors.pop("labels"), tensors.pop("groups")
    use_bf16 = prm.device.type == "cuda" and (config.bf16 if config.bf16 is not None else True)
    with torch.autocast("cuda", torch.bfloat16) if use_bf16 else nullcontext():
        scores = (model or prm)(**tensors)
    loss = PRM_LOSSES.get(config.loss)(scores.float(), labels, groups, config.temperature)
    (loss / config.gradient_accumulation_steps).backward()
    return loss.detach() / config.gradient_accumulation_steps, tokens


def run_stage(
    prm,
    traces: list[dict],
    config: PRMConfig,
    stage: int,
    first_step: int = 0,
    checkpoint_dir: str | None = None,
    resume: dict | None = None,
    history: list[dict] = (),
) -> list[dict]:
    """Train one curriculum stage.

    Args:
        prm, traces, config: the model, encoded traces and settings.
        stage: 1 (last block + head) or 2 (everything).
        first_step: optimizer steps already taken in earlier stages (for the curve's ``step``).
        checkpoint_dir: where ``checkpoint-N`` folders go every ``config.save_steps`` steps (None = none).
        resume: a state from :func:`load_checkpoint` of this stage: optimizer, scheduler and the batch
            stream continue where it stopped.
        history: curve rows of earlier stages, stored in the checkpoints.

    Returns:
        Its loss-curve rows ``{step, stage, loss, learning_rate, grad_norm, num_tokens}`` (tokens of that step).
    """
    import torch

    rng = random.Random(config.seed + stage)
    total = _stage_steps(config, stage, len(question_batches(traces, config.traces_per_batch, rng)))
    if total == 0:
        return []
    params = set_stage(prm, stage)
    model = distributed.wrap(prm, prm.device)  # after set_stage: DDP syncs the params training now
    optimizer, scheduler = _optimizer(params, config, stage, total, prm.head_parameters())
    batches, curve, done = _forever(traces, config, rng), [], 0
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        done, curve = resume["stage_step"], [r for r in resume["curve"] if r["stage"] == stage]
        for _ in range(done * config.gradient_accumulation_steps):  # replay the batch stream
            next(batches)
    prm.train()
    accumulation = config.gradient_accumulation_steps
    steps = range(done + 1, total + 1)
    for step in (bar := LossBar(steps, f"PRM stage {stage}", total=total, disable=not distributed.is_main())):
        results = []
        for micro in range(accumulation):
            with distributed.no_sync(model, last=micro == accumulation - 1):
                results.append(backward_batch(prm, next(batches), config, model))
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        loss = distributed.all_mean(sum(loss for loss, _ in results))
        row = {"step": first_step + step, "stage": stage, "loss": loss}
        row.update(learning_rate=scheduler.get_last_lr()[0], grad_norm=grad_norm.detach())
        curve.append({**row, "num_tokens": sum(tokens for _, tokens in results)})
        bar.show(row["loss"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if checkpoint_dir and config.save_steps and (first_step + step) % config.save_steps == 0:
            state = {"stage": stage, "stage_step": step, "optimizer": optimizer, "scheduler": scheduler}
            if distributed.is_main():
                save_checkpoint(prm, checkpoint_dir, first_step + step, state, list(history) + _read(curve))
            distributed.barrier()
    curve = _tokens_of_all_ranks(_read(curve), prm.device)
    logger.info("PRM stage %d: %d steps, last loss %.4f", stage, total, curve[-1]["loss"])
    return curve


def _read(curve: list[dict]) -> list[dict]:
    """The curve with its tensors (loss, grad norm: kept on the device during the stage so steps need
    no host sync) read as floats, in one transfer."""
    import torch

    pending = [(i, key) for i, row in enumerate(curve) for key, v in row.items() if torch.is_tensor(v)]
    if not pending:
        return curve
    values = torch.stack([curve[i][key].float() for i, key in pending]).tolist()
    curve = [dict(row) for row in curve]
    for (i, key), value in zip(pending, values):
        curve[i][key] = value
    return curve


def _tokens_of_all_ranks(curve: list[dict], device) -> list[dict]:
    """The curve with each step's ``num_tokens`` summed over the processes (one collective per stage)."""
    if not distributed.active() or not curve:
        return curve
    import torch

    totals = distributed.all_sum(torch.tensor([r["num_tokens"] for r in curve], device=device)).tolist()
    return [{**row, "num_tokens": total} for row, total in zip(curve, totals)]


def _optimizer(params: list, config: PRMConfig, stage: int, total: int, heads: list = ()):
    """AdamW over ``params``; those also in ``heads`` at ``config.head_learning_rate`` when it is set."""
    import torch
    from transformers import get_scheduler

    lr = getattr(config, f"stage{stage}_learning_rate")
    head_ids = {id(p) for p in heads} if config.head_learning_rate is not None else set()
    groups = [{"params": [p for p in params if id(p) not in head_ids], "lr": lr},
              {"params": [p for p in params if id(p) in head_ids], "lr": config.head_learning_rate}]
    # fused: one kernel set per step instead of per-tensor loops
    fused = all(p.device.type == "cuda" for p in params)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, weight_decay=config.weight_decay,
                                  fused=fused or None)
    scheduler = get_scheduler(
        config.lr_scheduler_type,
        optimizer,
        num_warmup_steps=int(config.warmup_ratio * total),
        num_training_steps=total,
    )
    return optimizer, scheduler


def train_prm(model_path: str, examples: Any, output_dir: str, config: PRMConfig) -> dict:
    """Initialise a PRM from the student, train both curriculum stages and save it with :meth:`PRM.save`.

    Args:
        model_path: HF folder of the student (a CausalLM; its base model becomes the backbone).
        examples: ``prm_examples`` rows (DataFrame or list of dicts): ``question_id``, ``trace_id``,
            ``prompt``, ``steps`` (list[str]), ``step_labels`` (list[int], 1 = correct step).
        output_dir: where the PRM is written (loadable with ``PRM.load``); ``checkpoint-N`` folders there
            (``config.save_steps``) are resumed from when ``config.resume``.
        config: a :class:`PRMConfig`.

    Returns:
        Metrics: ``loss_curve`` (one row per optimizer step, see :func:`run_stage`), ``train_runtime`` (s),
        ``steps_runtime`` (s of the two stages' steps, without loading), ``num_tokens`` (tokens trained on,
        all processes), ``num_traces``, ``num_steps`` (scored steps trained on),
        ``heldout_questions`` (questions kept out, see :func:`split_examples`), ``stage1_steps``, ``stage2_steps``.
    """
    import torch

    start = time.perf_counter()
    device = distributed.setup()
    torch.manual_seed(config.seed)
    prm = build_prm(model_path, config, device)
    train_rows, heldout_rows = split_examples(examples, config)
    traces = load_traces(train_rows, prm.tokenizer, config)
    state = load_checkpoint(output_dir) if config.resume else None
    if state is not None:
        logger.info("PRM: resuming stage %d at step %d", state["stage"], state["stage_step"])
        prm.load_state_dict(state["model"])
    resume1 = state if state is not None and state["stage"] == 1 else None
    loop_start = time.perf_counter()
    if state is not None and state["stage"] == 2:
        stage1 = [r for r in state["curve"] if r["stage"] == 1]
    else:
        stage1 = run_stage(prm, traces, config, 1, checkpoint_dir=output_dir, resume=resume1)
    resume2 = state if state is not None and state["stage"] == 2 else None
    stage2 = run_stage(prm, traces, config, 2, len(stage1), output_dir, resume2, history=stage1)
    steps_runtime = time.perf_counter() - loop_start  # each stage ends reading its curve: the device is done
    if distributed.is_main():
        prm.save(output_dir)
    distributed.barrier()
    return {
        "loss_curve": stage1 + stage2,
        "train_runtime": time.perf_counter() - start,
        "steps_runtime": steps_runtime,
        "num_tokens": sum(row["num_tokens"] for row in stage1 + stage2),
        "num_traces": len(traces),
        "heldout_questions": len({r["question_id"] for r in heldout_rows}),
        "num_steps": sum(len(t["step_ends"]) for t in traces),
        "stage1_steps": len(stage1),
        "stage2_steps": len(stage2),
    }


def build_prm(model_path: str, config: PRMConfig, device: str | None = None):
    """The PRM of ``config`` on ``device`` (None: CUDA when available): attention kernel, weight dtype,
    optional Liger kernels and ``torch.compile`` of the backbone."""
    import torch

    from agentark_core.train.prm_model import PRM
    from agentark_core.train.speed import apply_kernels, prepare_training_process

    prepare_training_process()
    prm = PRM.from_student(model_path, config.step_separator, likelihood_features=config.likelihood_features,
                           **_load_kwargs(config))
    prm.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    apply_kernels(
        prm.backbone,
        liger=config.use_liger_kernel,
        compile_model=config.torch_compile,
        compile_mode=config.torch_compile_mode,
    )
    return prm


def _load_kwargs(config: PRMConfig) -> dict:
    from agentark_core.train.speed import model_kwargs

    return model_kwargs(config.attn_implementation, config.model_dtype, config.padding_free)
