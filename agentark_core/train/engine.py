"""The optimizer steps of our own training loops (the PRM's and PPO's): one process, DDP, or DeepSpeed ZeRO-2/3.

TRL's trainers (SFT, GRPO) take ZeRO from ``accelerate launch`` through their ``Accelerator``. Our loops
read the same launch: ``accelerate launch --config_file infra/accelerate/zero2.yaml`` (or ``zero3``)
sets ``ACCELERATE_USE_DEEPSPEED`` and ``ACCELERATE_DEEPSPEED_ZERO_STAGE`` in every process, and
:class:`TrainEngine` then builds a DeepSpeed engine (``deepspeed.initialize``) around the model and a
torch ``AdamW``; under ``ddp.yaml`` it wraps the model in ``DistributedDataParallel``
(:mod:`agentark_core.train.distributed`); in one process it is the model and the optimizer as they are.
A loop is written once against it:

    engine = TrainEngine(model, groups, accumulation=2, max_grad_norm=1.0, device=device)
    for step in steps:
        for micro in range(2):
            with engine.accumulating(last=micro == 1):
                engine.backward(loss_of(engine.model, batch))   # the unscaled loss
        grad_norm = engine.step()                               # clip, AdamW, zero the gradients
        scheduler.step()                                        # a scheduler over engine.optimizer

Precision: the weights stay fp32 under ZeRO too (DeepSpeed's bf16 mode is off) and the loops keep their
bf16 autocast on CUDA, so ZeRO shards exactly what DDP replicates (fp32 weights, gradients, AdamW
moments) and the two train the same numbers. ``ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE`` /
``..._PARAM_DEVICE`` (``cpu``) pass through as ZeRO-Offload.

Parameters frozen after the engine is built (``requires_grad_(False)``, the PRM's Stage I) get no
gradient and no update; build the engine while every parameter a later stage trains requires grad
(DeepSpeed sizes its buffers then), and give a frozen group learning rate 0 (so AdamW's decoupled weight
decay leaves it too). Under ZeRO-3 a parameter is whole only inside its module's forward: read weights
outside a forward through :meth:`TrainEngine.gathered` (every process must enter it: it is a collective)
or :meth:`TrainEngine.full_parameters`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from agentark_core.train import distributed


def zero_stage() -> int:
    """The ZeRO stage ``accelerate launch`` started this process with (2 or 3), or 0 (no DeepSpeed)."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() != "true":
        return 0
    return int(os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2"))


def deepspeed_config(stage: int, accumulation: int, max_grad_norm: float) -> dict:
    """The DeepSpeed config of a loop's engine: a user's JSON (``ACCELERATE_DEEPSPEED_CONFIG_FILE``) where
    the accelerate YAML names one, its ``auto`` and missing batch, accumulation and clipping keys filled
    from the loop; else one built from the launch's ZeRO stage and offload devices.

    The loops batch for themselves, so DeepSpeed's micro-batch is 1 (it only sizes its bookkeeping).

    Raises:
        ValueError: the JSON's ``gradient_accumulation_steps`` disagrees with the loop's.
    """
    config: dict[str, Any] = {"zero_optimization": {"stage": stage}}
    path = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if path:
        with open(path) as handle:
            config = json.load(handle)
    filled = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": accumulation,
              "gradient_clipping": max_grad_norm}
    for key, value in filled.items():
        if config.get(key, "auto") == "auto":
            config[key] = value
    if config["gradient_accumulation_steps"] != accumulation:
        raise ValueError(f"DeepSpeed config {path}: gradient_accumulation_steps "
                         f"{config['gradient_accumulation_steps']} but the loop accumulates {accumulation}")
    config.pop("train_batch_size", None)  # DeepSpeed derives it (micro-batch x accumulation x processes)
    zero = config.setdefault("zero_optimization", {"stage": stage})
    for kind in ("optimizer", "param"):
        device = os.environ.get(f"ACCELERATE_DEEPSPEED_OFFLOAD_{kind.upper()}_DEVICE", "none").lower()
        if device not in ("", "none") and f"offload_{kind}" not in zero:
            zero[f"offload_{kind}"] = {"device": device}
    # fp32 weights (the loops autocast to bf16 themselves); our torch AdamW also on offloaded partitions
    config.update(bf16={"enabled": False}, fp16={"enabled": False}, zero_allow_untested_optimizer=True,
                  zero_force_ds_cpu_optimizer=False, steps_per_print=2**31 - 1, wall_clock_breakdown=False)
    return config


class TrainEngine:
    """One trainable model's forward wrapper, backward and optimizer steps (see the module docstring)."""

    def __init__(
        self, model: Any, groups: list[dict], accumulation: int, max_grad_norm: float, device: Any,
        unused_parameters: bool = True,
    ) -> None:
        """Build the engine.

        Args:
            model: the trainable ``nn.Module`` (on ``device``).
            groups: AdamW parameter groups (``params`` and ``lr``, optional ``weight_decay``); every
                parameter the run will ever train must be in one and require grad now.
            accumulation: micro-batches per optimizer step.
            max_grad_norm: the global gradient norm is clipped to it before each step.
            device: the process's device (``distributed.setup``).
            unused_parameters: DDP only: tolerate parameters a step leaves without gradient (the PRM's),
                at one autograd-graph walk per step; False when the loss reads every weight (PPO's).
        """
        import torch

        self.stage, self.module, self.device = zero_stage(), model, device
        self.accumulation, self.max_grad_norm = accumulation, max_grad_norm
        params = [p for group in groups for p in group["params"]]
        fused = all(p.device.type == "cuda" for p in params) and not self.stage  # ZeRO steps flat fp32 shards
        self.optimizer = torch.optim.AdamW(groups, weight_decay=0.0, fused=fused or None)
        if self.stage:
            import deepspeed

            if not torch.distributed.is_initialized():
                deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
            self.model, *_ = deepspeed.initialize(
                model=model, optimizer=self.optimizer,
                config=deepspeed_config(self.stage, accumulation, max_grad_norm),
            )
        else:
            self.model = distributed.wrap(model, device, unused_parameters)
        self._params = params

    def accumulating(self, last: bool):
        """Context of one micro-batch's forward + backward: DDP skips the gradient all-reduce on all
        but the ``last`` micro-batch of a step (DeepSpeed counts micro-batches itself)."""
        return distributed.no_sync(self.model, last) if not self.stage else nullcontext()

    def backward(self, loss: Any) -> None:
        """Back-propagate one micro-batch's (unscaled) loss; the accumulation's mean is what a step applies."""
        if self.stage:
            self.model.backward(loss)  # DeepSpeed divides by the accumulation steps itself
            self.model.step()  # a step only at the accumulation boundary; before it, bookkeeping
        else:
            (loss / self.accumulation).backward()

    def step(self) -> Any:
        """Finish the optimizer step of the micro-batches since the last one: clip to ``max_grad_norm``,
        AdamW, zero the gradients. Returns the global gradient norm before clipping (a 0-d tensor)."""
        import torch

        if self.stage:  # DeepSpeed clipped and stepped in the boundary micro-batch's backward
            norm = self.model.get_global_grad_norm()
            return torch.tensor(0.0 if norm is None else float(norm), device=self.device)  # beside the loss
        trainable = [p for p in self._params if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(trainable, self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def reset_optimizer(self) -> None:
        """Forget AdamW's moments and step counts (a new curriculum stage starts as with a new optimizer)."""
        self.optimizer.state.clear()

    def gathered(self, params: Any = None):
        """Context in which ``params`` (default: every parameter of the trained model) are whole on every
        process, read-only (ZeRO-3 gathers them; otherwise nothing to do). A collective: all processes enter."""
        if self.stage != 3:
            return nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(self.module.parameters() if params is None else params))

    @contextmanager
    def generating(self):
        """Context for sampling with HF ``generate``: under ZeRO-3 the whole model is gathered once and
        ZeRO's per-module hooks are lifted until it ends (TRL's ``remove_hooks`` / ``add_hooks``, as its
        trainers generate), instead of a gather of every layer at every new token; elsewhere nothing."""
        if self.stage != 3:
            yield
            return
        from trl.models.utils import add_hooks, remove_hooks

        with self.gathered():
            remove_hooks(self.model)
            try:
                yield
            finally:
                add_hooks(self.model)

    def full_parameters(self, module: Any) -> Iterator[tuple[str, Any]]:
        """``(name, whole tensor)`` of every parameter of ``module`` once (a tied weight under its first
        name), gathered one submodule at a time under ZeRO-3 (peak memory: the largest submodule). Each
        tensor is valid until the next is drawn. A collective: all processes draw all of it, in order."""
        seen = set()
        for prefix, sub in module.named_modules():
            own = [(name, p) for name, p in sub.named_parameters(recurse=False) if id(p) not in seen]
            seen.update(id(p) for _, p in own)
            if own:
                with self.gathered(p for _, p in own):
                    for name, param in own:
                        yield (f"{prefix}.{name}" if prefix else name), param.detach()

    def full_state_dict(self, module: Any) -> dict:
        """``module.state_dict()`` as whole CPU tensors (tied weights under each of their names), on rank 0;
        {} on the others. A collective: all processes call it."""
        main = distributed.is_main()
        whole = {name: tensor.cpu().clone() for name, tensor in self.full_parameters(module) if main}
        if not main:
            return {}
        first = {}
        for name, param in module.named_parameters(remove_duplicate=False):
            first.setdefault(id(param), name)
        state = {name: whole[first[id(p)]] for name, p in module.named_parameters(remove_duplicate=False)}
        buffers = dict(module.named_buffers())
        kept = module.state_dict(keep_vars=True).keys()  # persistent buffers only (not e.g. rotary frequencies)
        return state | {name: buffers[name].detach().cpu().clone() for name in kept if name in buffers}
