"""Run a trainer (paper §3.3: SFT for R-SFT/DA, PRM, GRPO, PPO) in-process or under ``accelerate launch``.

The arguments of a run live in one JSON file: ``{"model_path", "examples", "output_dir", "config",
"helpers"}`` where ``examples`` is a ``.parquet`` / ``.jsonl`` path (or inline rows), ``config`` the
fields of the trainer's config class and ``helpers`` extra keyword paths (GRPO/PPO: ``prm_path``).
With more than one GPU the same file is handed to
``accelerate launch --num_processes N --config_file infra/accelerate/<ddp|zero2|zero3>.yaml -m
agentark_core.train.launch --route <trainer> --args <file> --metrics <file>``; every process trains
its shard and rank 0 writes the metrics JSON that :func:`launch` returns. The pipeline reaches this
through a route's launcher (``tasks.stages.routes.accelerate_launcher``, chosen by the recipe's
``train.launch.<section>``), which writes the run file from the config object (:func:`config_fields`)
and picks the trainer by its class (:func:`trainer_for`).

Which trainer runs under which accelerate config (:attr:`Trainer.strategies`): every route under ``ddp``,
``zero2`` and ``zero3``: SFT (TRL's ``SFTTrainer``) and GRPO (TRL's ``GRPOTrainer``; each process scores
its rollouts with its own copy of the PRM) through their ``Accelerator``; our own loops, the PRM's and
PPO's (each process its own rollouts), through :class:`agentark_core.train.engine.TrainEngine`
(``DistributedDataParallel`` or a DeepSpeed engine).

Example:
    >>> launch("sft", "run.json", num_gpus=8, accelerate_config="zero2")   # doctest: +SKIP
    $ python -m agentark_core.train.launch --route prm --args run.json --metrics out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentark_core.project_files import ACCELERATE_DIR
from agentark_core.registry import Registry
from agentark_core.train import distributed

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A launchable trainer: the config class a run file's ``config`` fields build, and the train function.

    ``train(model_path, examples, output_dir, config, **helpers)``; ``strategies`` = the
    ``infra/accelerate`` configs it may run under as several processes (empty: one device only).
    """

    config_class: str  # "module:Class"
    train: str  # "module:function"
    strategies: tuple[str, ...] = ()

    @property
    def distributed(self) -> bool:
        return bool(self.strategies)

    def build_config(self, fields: dict, output_dir: str) -> Any:
        cls = _attr(self.config_class)
        if "output_dir" in {f.name for f in dataclasses.fields(cls)}:
            fields = {**fields, "output_dir": output_dir}
        return cls(**fields)


ROUTES: Registry[Trainer] = Registry("training route")
ROUTES.register("sft")(Trainer("agentark_core.train.sft_config:AgentArkSFTConfig", "agentark_core.train.sft:train_sft",
                               strategies=("ddp", "zero2", "zero3")))
ROUTES.register("prm")(Trainer("agentark_core.train.prm_config:PRMConfig", "agentark_core.train.prm_train:train_prm",
                               strategies=("ddp", "zero2", "zero3")))
ROUTES.register("grpo")(Trainer("agentark_core.train.grpo_config:AgentArkGRPOConfig",
                                "agentark_core.train.grpo:train_grpo", strategies=("ddp", "zero2", "zero3")))
ROUTES.register("ppo")(Trainer("agentark_core.train.ppo_config:AgentArkPPOConfig", "agentark_core.train.ppo:train_ppo",
                               strategies=("ddp", "zero2", "zero3")))


def _attr(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def trainer_for(config: Any) -> str:
    """The ``ROUTES`` name whose config class ``config`` is an instance of.

    Raises:
        ValueError: no trainer takes this config class.
    """
    for name in ROUTES:
        if type(config) is _attr(ROUTES.get(name).config_class):
            return name
    raise ValueError(f"no launchable trainer takes a {type(config).__name__}; trainers: {ROUTES.names()}")


def _init_state(config: Any) -> dict:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}


def _json_value(name: str, value: Any) -> Any:
    value = value.value if isinstance(value, enum.Enum) else value
    value = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    try:
        json.dumps(value)
    except TypeError:
        raise ValueError(f"config field {name!r} = {value!r} cannot be written to a run file") from None
    return value


def config_fields(config: Any) -> dict:
    """The fewest constructor fields that rebuild ``config`` (a dataclass config), as JSON values.

    Fields a config derives in ``__post_init__`` (e.g. GRPO's generation batch from the world size)
    are left out when the rebuild derives the same value, so each ``accelerate`` process derives
    them for itself. The rebuild is checked here, before any process starts.

    Raises:
        ValueError: a field is not JSON-able or the fields do not rebuild an equal config.
    """
    cls, state = type(config), _init_state(config)
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(config) if f.init and (f.default is not dataclasses.MISSING
                                                                   or f.default_factory is not dataclasses.MISSING)}
    kept = {name: value for name, value in state.items() if name not in defaults or value != defaults[name]}

    def rebuilds(fields: dict) -> bool:
        try:
            return _init_state(cls(**fields)) == state
        except (TypeError, ValueError):
            return False

    changed = True
    while changed:  # dropping one derived field can make another droppable (GRPO's batch pair)
        changed = False
        for name in list(kept):
            fewer = {k: v for k, v in kept.items() if k != name}
            if rebuilds(fewer):
                kept, changed = fewer, True
    if not rebuilds(kept):
        raise ValueError(f"{cls.__name__}: its fields do not rebuild the same config; launch it in-process")
    return {name: _json_value(name, value) for name, value in kept.items()}


def load_examples(examples: Any) -> Any:
    """Inline rows as they are; a ``.parquet`` or ``.jsonl`` path read into a DataFrame (JSON values keep
    their JSON types: a ground truth ``"12"`` stays a string)."""
    if not isinstance(examples, (str, os.PathLike)):
        return examples
    import pandas as pd

    path = Path(examples)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    raise ValueError(f"examples file {path}: expected .parquet or .jsonl")


def run_route(route: str, args: dict) -> dict:
    """Train ``route`` in this process with the arguments of a run file (see the module docstring)."""
    missing = [k for k in ("model_path", "examples", "output_dir") if k not in args]
    if missing:
        raise ValueError(f"training args: missing key(s) {missing}")
    trainer = ROUTES.get(route)
    config = trainer.build_config(args.get("config", {}), args["output_dir"])
    return _attr(trainer.train)(args["model_path"], load_examples(args["examples"]), args["output_dir"], config,
                                **args.get("helpers", {}))


def accelerate_config_path(accelerate_config: str | None) -> Path:
    """A config name (``ddp``, ``zero2``, ``zero3``; None = ``ddp``) from ``infra/accelerate`` or a YAML path."""
    name = accelerate_config or "ddp"
    path = Path(name) if name.endswith((".yaml", ".yml")) else ACCELERATE_DIR / f"{name}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml"))
        raise ValueError(f"accelerate config {name!r} not found; valid names: {valid} or a .yaml path")
    return path


def check_strategy(route: str, accelerate_config: str | None) -> None:
    """``route`` must be able to train as several processes under ``accelerate_config`` (a name of
    :attr:`Trainer.strategies`, or a YAML path, taken as given for any multi-process trainer).

    Raises:
        KeyError: unknown route (with the valid names).
        ValueError: one line naming the trainer, the config and what it can do instead.
    """
    trainer = ROUTES.get(route)
    if not trainer.distributed:
        multi = [name for name in ROUTES if ROUTES.get(name).distributed]
        raise ValueError(f"route {route!r} trains on one device; multi-GPU routes: {multi}")
    accelerate_config_path(accelerate_config)  # an unknown name fails with the valid ones
    name = accelerate_config or "ddp"
    if not name.endswith((".yaml", ".yml")) and name not in trainer.strategies:
        raise ValueError(f"route {route!r} cannot train under {name!r}; it trains on several GPUs with: "
                         f"{', '.join(trainer.strategies)}")


def accelerate_command(
    route: str, args_json: str, num_gpus: int, accelerate_config: str | None, metrics_json: str
) -> list[str]:
    """The ``accelerate launch`` command line that runs ``route`` on ``num_gpus`` processes
    (rendezvous on a free local port, so two launches on one host do not collide)."""
    check_strategy(route, accelerate_config)  # unknown routes fail here, before any process starts
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(num_gpus),
        "--config_file", str(accelerate_config_path(accelerate_config)),
        "--main_process_port", str(free_port()),
        *entry_args(route, args_json, metrics_json),
    ]  # fmt: skip


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the processes' rendezvous)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entry_args(route: str, args_json: str, metrics_json: str) -> list[str]:
    """``-m agentark_core.train.launch --route … --args … --metrics …``: what every training child runs."""
    ROUTES.get(route)  # unknown routes fail here, before any process starts
    return ["-m", "agentark_core.train.launch", "--route", route,
            "--args", str(args_json), "--metrics", str(metrics_json)]  # fmt: skip


def launch(
    route: str, args_json: str, num_gpus: int = 1, accelerate_config: str | None = None, devices: int | None = None
) -> dict:
    """Train ``route`` with the run file ``args_json``: in-process on ≤ 1 GPU, else under accelerate.

    Args:
        route: a name in :data:`ROUTES` (``sft``, ``prm``, ``grpo``, ``ppo``).
        args_json: path of the run file (``model_path``, ``examples``, ``output_dir``, ``config``,
            optional ``helpers``).
        num_gpus: processes to start; 0 or 1 trains in this process (in one child process that sees
            only the first GPU when several are visible: :func:`one_device_env`).
        accelerate_config: ``ddp`` / ``zero2`` / ``zero3`` or a YAML path (multi-GPU only; None = ddp).
        devices: the GPUs the processes may use; None = what this process sees (``CUDA_VISIBLE_DEVICES``).
            Tests pass it to run several processes on the CPU (gloo).

    Returns:
        The route's metrics dict.

    Raises:
        ValueError: more processes than GPUs, or a trainer that cannot run under ``accelerate_config``.
    """
    args = json.loads(Path(args_json).read_text())
    if num_gpus > 1:
        check_strategy(route, accelerate_config)
        check_devices(num_gpus, devices)
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


def visible_gpus() -> int:
    """CUDA devices this process sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_devices(num_gpus: int, devices: int | None = None) -> None:
    """Refuse ``num_gpus`` processes when fewer GPUs are there (``devices``; None = :func:`visible_gpus`).

    Raises:
        ValueError: naming both counts and ``CUDA_VISIBLE_DEVICES``.
    """
    have = visible_gpus() if devices is None else devices
    if num_gpus > have:
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise ValueError(f"{num_gpus} GPUs asked for, {have} visible here"
                         + (f" (CUDA_VISIBLE_DEVICES={shown})" if shown is not None else ""))


def one_device_env(device_count: int | None = None) -> dict | None:
    """The environment of a child process that sees only the first visible GPU, or None when this
    process already sees at most one (then training runs in-process).

    The transformers Trainer spreads a single process over every visible GPU with ``DataParallel``
    (a slow, replicated model), so "one GPU" on a multi-GPU machine must hide the others, which only
    a new process can (CUDA reads ``CUDA_VISIBLE_DEVICES`` once).
    """
    if device_count is None:
        device_count = visible_gpus()
    if device_count <= 1:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip() or "0"
    return {**os.environ, "CUDA_VISIBLE_DEVICES": visible}


def peak_gpu_memory() -> dict:
    """``{"peak_gpu_memory_gib": the most any process's GPU held in tensors}`` ({} without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    peak = distributed.all_max(torch.tensor([float(torch.cuda.max_memory_allocated())], device="cuda"))
    return {"peak_gpu_memory_gib": round(peak.item() / 2**30, 2)}


def main(argv: list[str] | None = None) -> None:
    """Entry point of every (accelerate) process: train, then rank 0 writes the metrics file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", required=True, help=f"one of {ROUTES.names()}")
    parser.add_argument("--args", required=True, help="run file (JSON)")
    parser.add_argument("--metrics", help="write the metrics JSON here (rank 0)")
    opts = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    metrics = run_route(opts.route, json.loads(Path(opts.args).read_text())) | peak_gpu_memory()
    if opts.metrics and distributed.is_main():
        Path(opts.metrics).write_text(json.dumps(metrics))
    if distributed.active():  # every process leaves the group it trained in (else torch warns at exit)
        import torch.distributed as dist

        dist.destroy_process_group()


if __name__ == "__main__":
    main()
