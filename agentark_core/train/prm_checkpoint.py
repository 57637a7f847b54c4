"""PRM training checkpoints (crash resume): ``output_dir/checkpoint-N/training_state.pt`` with the weights,
optimizer, scheduler, curriculum stage and step, and the loss curve so far; only the newest is kept.

Example:
    >>> save_checkpoint(prm, "prm/", 200, state, curve)   # doctest: +SKIP
    >>> load_checkpoint("prm/")["stage_step"]               # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from pathlib import Path

STATE_FILE = "training_state.pt"


def save_checkpoint(prm, output_dir: str, global_step: int, state: dict, curve: list[dict]) -> Path:
    """Write ``output_dir/checkpoint-<global_step>/training_state.pt`` (weights, optimizer, scheduler, stage,
    step, curve so far), replacing older checkpoints; written to a temp folder then renamed."""
    import torch

    final = Path(output_dir) / f"checkpoint-{global_step}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    payload = {
        "model": prm.state_dict(),
        "optimizer": state["optimizer"].state_dict(),
        "scheduler": state["scheduler"].state_dict(),
        "stage": state["stage"],
        "stage_step": state["stage_step"],
        "curve": curve,
    }
    torch.save(payload, tmp / STATE_FILE)
    for old in Path(output_dir).glob("checkpoint-*"):
        if old != tmp:
            shutil.rmtree(old)
    tmp.rename(final)
    return final


def load_checkpoint(output_dir: str) -> dict | None:
    """The state saved by :func:`save_checkpoint` in ``output_dir`` (newest), or None when there is none."""
    import torch

    found = sorted(Path(output_dir).glob(f"checkpoint-*/{STATE_FILE}"), key=lambda f: _step_of(f.parent))
    return torch.load(found[-1], map_location="cpu", weights_only=True) if found else None


def _step_of(folder: Path) -> int:
    suffix = folder.name.split("-", 1)[1]
    return int(suffix) if suffix.isdigit() else -1
