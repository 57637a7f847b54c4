"""Train the process reward model (paper §3.3.3, App. B): two-stage curriculum, contrastive or BCE step loss.

Stage I trains only the backbone's last transformer block and the scalar head (everything else
frozen); Stage II trains everything. A compact PyTorch loop: AdamW, linear/cosine schedule with
warmup, gradient accumulation, gradient clipping, bf16 autocast on CUDA, padding-free batches and
crash resume from ``checkpoint-N`` folders. Batches hold whole questions so the contrastive loss
sees a question's positive and negative steps together.

Under ``accelerate launch`` (``train.prm.num_gpus > 1``) every process takes every N-th batch of
the same stream, so an optimizer step sees N x the traces and an epoch takes 1/N of the steps; the
loss curve is the mean over processes and rank 0 alone writes the checkpoints and the PRM. Under
``ddp`` the model is in ``DistributedDataParallel`` (gradients averaged across processes;
:mod:`agentark_core.train.distributed`), a new wrapper and AdamW per stage; under ``zero2`` / ``zero3``
one DeepSpeed engine (:mod:`agentark_core.train.engine`) trains both stages, its AdamW state cleared
and its learning rates set anew when Stage II starts (Stage I's frozen parameters get no gradient
and rate 0), and the PRM is gathered whole to be saved; crash-resume checkpoints are written under
``ddp`` or in one process only. In one process the loop is unchanged.

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
from typing import Any

from agentark_core.train import distributed
from agentark_core.train.engine import TrainEngine, zero_stage
from agentark_core.train.prm_batches import batch_tensors, load_traces, question_batches, split_examples
from agentark_core.train.prm_checkpoint import load_checkpoint, save_checkpoint
from agentark_core.train.prm_config import PRMConfig
from agentark_core.train.prm_loss import PRM_LOSSES
from agentark_core.train.progress import LossBar

logger = logging.getLogger(__name__)



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


def backward_batch(prm, batch: list[dict], config: PRMConfig, engine: TrainEngine):
    """Forward + backward one micro-batch (the step applies the accumulation's mean); the forward runs
    through ``engine.model`` (the PRM, its DDP wrapper or DeepSpeed engine).

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
        scores = engine.model(**tensors)
    loss = PRM_LOSSES.get(config.loss)(scores.float(), labels, groups, config.temperature)
    engine.backward(loss)
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
    engine: TrainEngine | None = None,
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
        engine: one engine over every parameter for both stages (ZeRO, :func:`shared_engine`): its AdamW
            state is cleared and its rates set for this stage. None: a new engine (AdamW, DDP wrapper)
            over this stage's trainable parameters.

    Returns:
        Its loss-curve rows ``{step, stage, loss, learning_rate, grad_norm, num_tokens}`` (tokens of that step).
    """
    rng = random.Random(config.seed + stage)
    total = _stage_steps(config, stage, len(question_batches(traces, config.traces_per_batch, rng)))
    if total == 0:
        return []
    params = set_stage(prm, stage)  # before a new engine: DDP syncs the params training now
    if engine is None:
        engine = _engine(prm, params, config)
    else:
        engine.reset_optimizer()
    optimizer = engine.optimizer
    scheduler = _scheduler(optimizer, prm, config, stage, total)
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
        lr = scheduler.get_last_lr()[0]  # the last block's: what this step applies
        for micro in range(accumulation):
            with engine.accumulating(last=micro == accumulation - 1):
                results.append(backward_batch(prm, next(batches), config, engine))
        grad_norm = engine.step()
        loss = distributed.all_mean(sum(loss for loss, _ in results))
        row = {"step": first_step + step, "stage": stage, "loss": loss}
        row.update(learning_rate=lr, grad_norm=grad_norm.detach())
        curve.append({**row, "num_tokens": sum(tokens for _, tokens in results)})
        bar.show(row["loss"])
        scheduler.step()
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


def _groups(prm, params: list, weight_decay: float) -> list[dict]:
    """AdamW groups of ``params`` named for the rate they take (:func:`stage_rates`): ``last_block`` first
    (its rate is the one the loss curve logs), the rest of the ``backbone``, the scoring ``heads``; empty
    groups left out."""
    heads, last = {id(p) for p in prm.head_parameters()}, {id(p) for p in prm.last_block().parameters()}
    kinds = {"last_block": [p for p in params if id(p) in last],
             "backbone": [p for p in params if id(p) not in last and id(p) not in heads],
             "heads": [p for p in params if id(p) in heads]}
    return [{"name": name, "params": group, "lr": 0.0, "weight_decay": weight_decay}
            for name, group in kinds.items() if group]


def stage_rates(config: PRMConfig, stage: int) -> dict[str, float]:
    """The learning rate of each named group (:func:`_groups`) in ``stage``: Stage I trains the last block
    and the heads (the rest of the backbone at 0: frozen), Stage II everything; the heads at
    ``head_learning_rate`` when it is set."""
    lr = getattr(config, f"stage{stage}_learning_rate")
    head = config.head_learning_rate if config.head_learning_rate is not None else lr
    return {"last_block": lr, "backbone": lr if stage == 2 else 0.0, "heads": head}


def _engine(prm, params: list, config: PRMConfig) -> TrainEngine:
    """A :class:`TrainEngine` over ``params`` (the trainable ones now) in :func:`_groups`."""
    groups = _groups(prm, params, config.weight_decay)
    return TrainEngine(prm, groups, config.gradient_accumulation_steps, config.max_grad_norm, prm.device)


def shared_engine(prm, config: PRMConfig) -> TrainEngine:
    """One engine over every PRM parameter for both stages (ZeRO: DeepSpeed sizes its shards once, for
    whatever the run will train)."""
    return _engine(prm, set_stage(prm, 2), config)


def _scheduler(optimizer, prm, config: PRMConfig, stage: int, total: int):
    """The stage's warm-up + decay (``lr_scheduler_type``) over ``optimizer``'s groups at their
    :func:`stage_rates`."""
    from transformers import get_scheduler

    rates = stage_rates(config, stage)
    for group in optimizer.param_groups:
        group["lr"] = rates[group["name"]]
        group.pop("initial_lr", None)  # a new schedule starts from the rates just set
    return get_scheduler(
        config.lr_scheduler_type,
        optimizer,
        num_warmup_steps=int(config.warmup_ratio * total),
        num_training_steps=total,
    )


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
    if zero_stage() and config.save_steps:
        raise ValueError(f"PRMConfig.save_steps={config.save_steps}: crash-resume checkpoints are written "
                         f"under ddp or in one process, not under ZeRO-{zero_stage()}; set save_steps 0")
    torch.manual_seed(config.seed)
    prm = build_prm(model_path, config, device)
    engine = shared_engine(prm, config) if zero_stage() else None
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
        stage1 = run_stage(prm, traces, config, 1, checkpoint_dir=output_dir, resume=resume1, engine=engine)
    resume2 = state if state is not None and state["stage"] == 2 else None
    stage2 = run_stage(prm, traces, config, 2, len(stage1), output_dir, resume2, history=stage1, engine=engine)
    steps_runtime = time.perf_counter() - loop_start  # each stage ends reading its curve: the device is done
    with engine.gathered() if engine is not None else nullcontext():  # ZeRO-3: the whole PRM, to save it
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
