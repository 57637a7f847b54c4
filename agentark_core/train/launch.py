"""Run a training route (paper §3.3: R-SFT/DA, PRM) in-process on one device or under ``accelerate launch``.

The arguments of a run live in one JSON file: ``{"model_path", "examples", "output_dir", "config"}``
where ``examples`` is a ``.parquet`` / ``.jsonl`` path (or inline rows) and ``config`` the fields of
the route's config class. With more than one GPU the same file is handed to
``accelerate launch --num_processes N --config_file infra/accelerate/<ddp|zero2|zero3>.yaml -m
agentark_core.train.launch --route <route> --args <file> --metrics <file>``; every process trains its
shard and rank 0 writes the metrics JSON that :func:`launch` returns.

Example:
    >>> launch("sft", "run.json", num_gpus=8, accelerate_config="zero2")   # doctest: +SKIP
    $ python -m agentark_core.train.launch --route prm --args run.json --metrics out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentark_core.registry import Registry

logger = logging.getLogger(__name__)

ACCELERATE_DIR = Path(__file__).resolve().parents[2] / "infra" / "accelerate"
ROUTES: Registry = Registry("training route")
DISTRIBUTED_ROUTES = ("sft",)  # the PRM loop is single-device: several processes would not share gradients


@ROUTES.register("sft")
def _sft(model_path: str, examples: Any, output_dir: str, config: dict) -> dict:
    from agentark_core.train.sft import train_sft
    from agentark_core.train.sft_config import AgentArkSFTConfig

    return train_sft(
        model_path, examples, output_dir, AgentArkSFTConfig(**{**config, "output_dir": output_dir})
    )


@ROUTES.register("prm")
def _prm(model_path: str, examples: Any, output_dir: str, config: dict) -> dict:
    from agentark_core.train.prm_train import PRMConfig, train_prm

    return train_prm(model_path, examples, output_dir, PRMConfig(**config))


def load_examples(examples: Any) -> Any:
    """Inline rows as they are; a ``.parquet`` or ``.jsonl`` path read into a DataFrame."""
    if not isinstance(examples, (str, os.PathLike)):
        return examples
    import pandas as pd

    path = Path(examples)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    raise ValueError(f"examples file {path}: expected .parquet or .jsonl")


def run_route(route: str, args: dict) -> dict:
    """Train ``route`` in this process with the arguments of a run file (see the module docstring)."""
    missing = [k for k in ("model_path", "examples", "output_dir") if k not in args]
    if missing:
        raise ValueError(f"training args: missing key(s) {missing}")
    fn = ROUTES.get(route)
    return fn(args["model_path"], load_examples(args["examples"]), args["output_dir"], args.get("config", {}))


def accelerate_config_path(accelerate_config: str | None) -> Path:
    """A config name (``ddp``, ``zero2``, ``zero3``; None = ``ddp``) from ``infra/accelerate`` or a YAML path."""
    name = accelerate_config or "ddp"
    path = Path(name) if name.endswith((".yaml", ".yml")) else ACCELERATE_DIR / f"{name}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml"))
        raise ValueError(f"accelerate config {name!r} not found; valid names: {valid} or a .yaml path")
    return path


def accelerate_command(
    route: str, args_json: str, num_gpus: int, accelerate_config: str | None, metrics_json: str
) -> list[str]:
    """The ``accelerate launch`` command line that runs ``route`` on ``num_gpus`` processes."""
    ROUTES.get(route)  # unknown routes fail here, before any process starts
    if route not in DISTRIBUTED_ROUTES:
        raise ValueError(
            f"route {route!r} trains on one device; multi-GPU routes: {list(DISTRIBUTED_ROUTES)}"
        )
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(num_gpus),
        "--config_file", str(accelerate_config_path(accelerate_config)),
        *entry_args(route, args_json, metrics_json),
    ]  # fmt: skip


def entry_args(route: str, args_json: str, metrics_json: str) -> list[str]:
    """``-m agentark_core.train.launch --route … --args … --metrics …``: what every training child runs."""
    ROUTES.get(route)  # unknown routes fail here, before any process starts
    return ["-m", "agentark_core.train.launch", "--route", route,
            "--args", str(args_json), "--metrics", str(metrics_json)]  # fmt: skip


def launch(route: str, args_json: str, num_gpus: int = 1, accelerate_config: str | None = None) -> dict:
    """Train ``route`` with the run file ``args_json``: in-process on ≤ 1 GPU, else under accelerate.

    Args:
        route: a name in :data:`ROUTES` (``sft``, ``prm``).
        args_json: path of the run file (``model_path``, ``examples``, ``output_dir``, ``config``).
        num_gpus: processes to start; 0 or 1 trains in this process (in one child process that sees
            only the first GPU when several are visible: :func:`one_device_env`).
        accelerate_config: ``ddp`` / ``zero2`` / ``zero3`` or a YAML path (multi-GPU only; None = ddp).

    Returns:
        The route's metrics dict.
    """
    args = json.loads(Path(args_json).read_text())
    env = one_device_env() if num_gpus <= 1 else None
    if num_gpus <= 1 and env is None:
        return run_route(route, args)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        if env is None:
            command = accelerate_command(route, args_json, num_gpus, accelerate_config, str(metrics))
        else:  # one GPU asked for, several visible: a child that sees one (else Trainer uses DataParallel)
            command = [sys.executable, *entry_args(route, args_json, str(metrics))]
        logger.info("launching: %s", " ".join(command))
        subprocess.run(command, check=True, env=env)
        return json.loads(metrics.read_text())


def one_device_env(device_count: int | None = None) -> dict | None:
    """The environment of a child process that sees only the first visible GPU, or None when this
    process already sees at most one (then training runs in-process).

    The transformers Trainer spreads a single process over every visible GPU with ``DataParallel``
    (a slow, replicated model), so "one GPU" on a multi-GPU machine must hide the others, which only
    a new process can (CUDA reads ``CUDA_VISIBLE_DEVICES`` once).
    """
    if device_count is None:
        import torch

        device_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device_count <= 1:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip() or "0"
    return {**os.environ, "CUDA_VISIBLE_DEVICES": visible}


def main(argv: list[str] | None = None) -> None:
    """Entry point of every (accelerate) process: train, then rank 0 writes the metrics file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", required=True, help=f"one of {ROUTES.names()}")
    parser.add_argument("--args", required=True, help="run file (JSON)")
    parser.add_argument("--metrics", help="write the metrics JSON here (rank 0)")
    opts = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    metrics = run_route(opts.route, json.loads(Path(opts.args).read_text()))
    if opts.metrics and int(os.environ.get("RANK", "0")) == 0:
        Path(opts.metrics).write_text(json.dumps(metrics))


if __name__ == "__main__":
    main()
