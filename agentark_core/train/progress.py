"""Training progress as one tqdm bar per run with the latest loss, for every trainer.

transformers' ``Trainer`` reports progress through ``ProgressCallback`` (a tqdm bar that also
writes every log dict under it) or, with ``disable_tqdm``, ``PrinterCallback`` (prints every log
dict): with ``logging_steps=1`` a run prints one ``{'loss': '6.061', ...}`` line per step.
:func:`show_loss_progress` swaps both for :func:`loss_progress_callback`'s bar over optimizer
steps whose postfix is the last logged loss (SFT through TRL's ``SFTTrainer``, GRPO through
``GRPOTrainer``). :class:`LossBar` is the same bar for our own loops (PRM, PPO): it reads a loss
tensor at most once per ``interval_s`` (and after the last step), so a CUDA loop's steps stay
free of host syncs.
The loss curves themselves are kept in the returned metrics, not printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any


def _bar(total: int, desc: str, initial: int = 0, disable: bool = False):
    """A tqdm bar over steps; ``TQDM_DISABLE=1`` turns it off as it does tqdm's own bars (an explicit
    ``disable`` argument would otherwise override the environment)."""
    from tqdm.auto import tqdm

    disable = disable or os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True, disable=disable)


def _short(value: Any) -> str:
    return f"{float(value):.4g}"


def loss_progress_callback(desc: str):
    """A ``TrainerCallback`` showing one bar over optimizer steps with the last logged loss (and
    reward, for GRPO) as its postfix; log dicts are not printed."""
    from transformers import TrainerCallback

    class LossProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self.bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.bar = _bar(state.max_steps, desc, initial=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs and "loss" in logs:
                shown = {k: _short(logs[k]) for k in ("loss", "reward") if k in logs}
                self.bar.set_postfix(shown, refresh=False)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return LossProgressCallback()


def show_loss_progress(trainer, desc: str) -> None:
    """Replace ``trainer``'s progress/printer callback by :func:`loss_progress_callback` (no bar when
    the run's ``disable_tqdm`` is set; log dicts are never printed)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if not trainer.args.disable_tqdm:
        trainer.add_callback(loss_progress_callback(desc))


class LossBar:
    """Iterate a loop's steps behind a tqdm bar whose postfix is the latest loss.

    Args:
        steps: the loop's step numbers (e.g. ``range(done + 1, total + 1)`` for a resumed run).
        desc: the bar's label.
        total: all steps of the run (default ``len(steps)``); steps before ``steps`` count as done.
        interval_s: read the loss at most this often (each read of a CUDA tensor waits for the device).
        disable: no bar.

    Example:
        >>> bar = LossBar(range(1, 4), "demo", disable=True)
        >>> for step in bar:
        ...     bar.show(1.0 / step, reward=step)
        >>> bar.shown
        {'loss': 0.3333333333333333, 'reward': 3.0}
    """

    def __init__(self, steps: range, desc: str, total: int | None = None, interval_s: float = 1.0,
                 disable: bool = False) -> None:
        total = len(steps) if total is None else total
        self.bar = _bar(total, desc, initial=total - len(steps), disable=disable)
        self.steps, self.interval_s = steps, interval_s
        self.shown: dict[str, float] = {}
        self._pending: dict[str, Any] = {}
        self._shown_at = float("-inf")

    def __iter__(self) -> Iterator[int]:
        try:
            for step in self.steps:
                yield step
                self.bar.update(1)
                if time.monotonic() - self._shown_at >= self.interval_s:
                    self._refresh()
        finally:
            self._refresh()
            self.bar.close()

    def show(self, loss: Any, **values: Any) -> None:
        """Show ``loss`` (a float or a tensor) and other ``values`` with the step (read lazily)."""
        self._pending = {"loss": loss, **values}

    def _refresh(self) -> None:
        if self._pending:
            self.shown = {k: float(v) for k, v in self._pending.items()}
            self._pending, self._shown_at = {}, time.monotonic()
            self.bar.set_postfix({k: _short(v) for k, v in self.shown.items()})
