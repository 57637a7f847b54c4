"""A learning rate of its own for the normalisation gains (the weights of the RMSNorm/LayerNorm layers) in RL.

Adam moves every parameter by about ``lr`` a step whatever its gradient's size, so parameters of different
scales move at different relative speeds: the toy student's matrices have an rms of ~0.04, its norm gains
~1.3, and at GRPO's lr 2e-4 a matrix element moves ~0.5% a step while a gain moves 0.015%. The final norm's
gain scales every logit, i.e. it is the policy's sampling temperature, and GRPO's reward at T = 1 pulls on it
(sharper sampling is right more often): in 40 steps at lr 2e-4 it moved 1.305 -> 1.311 (bench/bench_pad_gain_lr.py),
while the same student sampled at T = 0.8 instead of 1 is right 13 points more often (34.7 -> 47.8% on 500 held-out
problems, session 13). ``gain_learning_rate`` (GRPO and PPO) gives the gains their own rate; None keeps one rate for
all parameters.

Example:
    >>> groups = split_gain_groups([{"params": list(model.parameters()), "lr": 1e-5}], model, 1e-2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class GainOptions:
    """The RL configs' ``gain_learning_rate`` field."""

    gain_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the normalisation layers' gains (RMSNorm/LayerNorm weights; warm-up "
                  "and decay as the main rate's); None = learning_rate for every parameter."},
    )

    def check_gain_options(self) -> None:
        """Fail on a rate that is not a positive number, naming it."""
        rate = self.gain_learning_rate
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
            raise ValueError(f"gain_learning_rate must be a number > 0 or None, got {rate!r}")


def gain_parameters(model) -> list:
    """The trainable parameters of ``model``'s normalisation layers (modules whose class name has 'Norm')."""
    seen: set[int] = set()
    gains = []
    for module in model.modules():
        if "norm" not in type(module).__name__.lower():
            continue
        for param in module.parameters(recurse=False):
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                gains.append(param)
    return gains


def split_gain_groups(groups: list[dict], model, gain_lr: float | None) -> list[dict]:
    """``groups`` (optimizer parameter groups) with ``model``'s gains moved into copies of their groups at
    ``lr = gain_lr``; ``groups`` unchanged when ``gain_lr`` is None or the model has no gains."""
    gains = {id(p) for p in gain_parameters(model)} if gain_lr is not None else set()
    if not gains:
        return groups
    out = []
    for group in groups:
        params = list(group["params"])
        rest = [p for p in params if id(p) not in gains]
        moved = [p for p in params if id(p) in gains]
        if rest:
            out.append({**group, "params": rest})
        if moved:
            out.append({**group, "params": moved, "lr": gain_lr})
    return out


def regroup_optimizer(optimizer, model, gain_lr: float | None) -> None:
    """Split a freshly built ``optimizer``'s groups in place as :func:`split_gain_groups` does (before its
    first step: no optimizer state to carry)."""
    if gain_lr is None:
        return
    gains = {id(p) for p in gain_parameters(model)}
    if not any(id(p) in gains for group in optimizer.param_groups for p in group["params"]):
        # e.g. a wrapper that flattens parameters, or LoRA (the gains are frozen)
        log.warning("gain_learning_rate %g: no trainable normalisation gain among the optimizer's parameters; "
                    "one rate for all", gain_lr)
        return
    groups = split_gain_groups(optimizer.param_groups, model, gain_lr)
    if any(optimizer.state.values()):
        raise RuntimeError("gain_learning_rate must be applied before the optimizer's first step")
    optimizer.param_groups.clear()
    for group in groups:
        optimizer.add_param_group(group)


def install_gain_learning_rate(trainer, gain_lr: float | None) -> None:
    """Make a ``transformers`` trainer's ``create_optimizer`` give the gains ``gain_lr`` (no-op for None)."""
    if gain_lr is None:
        return
    create = trainer.create_optimizer

    def create_optimizer(model=None):
        optimizer = create(model)
        regroup_optimizer(optimizer, trainer.model if model is None else model, gain_lr)
        return optimizer

    trainer.create_optimizer = create_optimizer
