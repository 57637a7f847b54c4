"""``agentark server``: a local Prefect server with AgentArk's work pools and deployments.

    agentark server up [--postgres postgresql://user@127.0.0.1:5432/prefect] [--port 4200]
                       [--gpu-pool process|kubernetes|docker] [--source local|git]
    export PREFECT_API_URL=http://127.0.0.1:4200/api     # printed by `up`
    prefect worker start --pool agentark-cpu             # and --pool agentark-gpu on GPU hosts
    agentark server down

``up`` starts ``prefect server start`` bound to 127.0.0.1 in the background (SQLite under
``$PREFECT_HOME`` by default; PostgreSQL through asyncpg when ``--postgres`` is given), waits
for its health endpoint, creates the work pools of ``infra/work_pools/pools.yaml`` from their
base job templates, deploys every deployment of ``prefect.yaml`` plus one per registered stage
(generated from the stage registry, on the pool each ``Stage.pool`` names) and prints the UI
address. ``agentark server deployments --out FILE`` writes that file for ``prefect deploy`` by hand.
With ``--recipe RECIPE`` the GPU deployments' job variables ask for the GPUs that recipe's stages
need (``train.launch.<section>.num_gpus``, a vLLM model's ``tensor_parallel_size``): the process
pool's ``cuda_visible_devices``, the kubernetes / docker pools' ``gpu_count``.
``down`` stops it (pid file ``$PREFECT_HOME/agentark-server.json``).

Deployments run code from the project folder: ``$AGENTARK_PROJECT_DIR``, else the folder that
holds the installed ``flows`` package (a checkout, ``pip install -e .``, or an installed wheel,
which ships ``prefect.yaml`` and ``infra/`` beside the packages). With ``--source git``
workers clone ``$AGENTARK_GIT_URL`` instead. Nothing here is imported by the pipeline itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer
import yaml

from agentark_core.project_files import PROJECT_DIR

log = logging.getLogger(__name__)
server_app = typer.Typer(no_args_is_help=True, help="Run a local Prefect server with AgentArk's deployments.")
PID_FILE = "agentark-server.json"


def project_dir() -> Path:
    """The folder holding ``prefect.yaml`` and ``infra/`` (deployments run their code from it).

    Raises:
        FileNotFoundError: neither ``$AGENTARK_PROJECT_DIR`` nor the install folder has prefect.yaml.
    """
    candidates = [os.environ.get("AGENTARK_PROJECT_DIR"), str(PROJECT_DIR)]
    for folder in filter(None, candidates):
        if (Path(folder) / "prefect.yaml").is_file():
            return Path(folder).resolve()
    raise FileNotFoundError(f"no prefect.yaml in {[c for c in candidates if c]}: set AGENTARK_PROJECT_DIR to an "
                            "AgentArk checkout or install folder")


def prefect_home() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


def database_url(postgres: str | None) -> str | None:
    """The asyncpg URL Prefect needs (``postgresql://`` is accepted and converted)."""
    if not postgres:
        return None
    if postgres.startswith("postgresql+asyncpg://"):
        return postgres
    if postgres.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + postgres.split("://", 1)[1]
    raise ValueError(f"--postgres must be a postgresql:// URL, got {postgres!r}")


def start_server(home: Path, port: int, postgres: str | None = None, extra_env: dict[str, str] | None = None,
                 timeout_s: float = 180) -> dict:
    """Start ``prefect server start`` on 127.0.0.1:port in the background and wait until healthy.

    Args:
        home: PREFECT_HOME of the server (SQLite database, logs, pid file).
        port: TCP port.
        postgres: PostgreSQL URL; None = SQLite under ``home``.
        extra_env: more environment for the server process (e.g. scheduler settings).
        timeout_s: how long to wait for the health endpoint.

    Returns:
        ``{"pid", "port", "api_url", "ui_url", "log"}`` (also written to the pid file).
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api", **(extra_env or {})}
    env.pop("PREFECT_API_URL", None)  # the server must not talk to another one
    url = database_url(postgres)
    if url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = url
    log_path = home / "agentark-server.log"
    with log_path.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    info = {"pid": proc.pid, "port": port, "api_url": f"http://127.0.0.1:{port}/api",
            "ui_url": f"http://127.0.0.1:{port}", "log": str(log_path)}
    (home / PID_FILE).write_text(json.dumps(info))
    try:
        wait_healthy(info["api_url"], proc, log_path, timeout_s)
    except BaseException:
        stop_server(home)
        raise
    return info


def wait_healthy(api_url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"prefect server exited with code {proc.returncode}; log {log_path}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"prefect server not healthy after {timeout_s:.0f}s; see {log_path}")


def stop_server(home: Path, timeout_s: float = 30) -> bool:
    """Stop the server started by ``start_server`` under ``home``; False if none was running."""
    pid_file = home / PID_FILE
    if not pid_file.is_file():
        return False
    pid = json.loads(pid_file.read_text())["pid"]
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)  # the server and its uvicorn/service children
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if _reap(pid):
                return True
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    return True


def _reap(pid: int) -> bool:
    """True once ``pid`` (when it is our child) has exited."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def pool_specs(gpu_pool: str = "process") -> dict[str, dict]:
    """Work pools from ``infra/work_pools/pools.yaml`` with their base job templates loaded.

    Args:
        gpu_pool: which template the GPU pool uses: ``process`` | ``kubernetes`` | ``docker``.
    """
    folder = project_dir() / "infra" / "work_pools"
    specs = yaml.safe_load((folder / "pools.yaml").read_text())
    out = {}
    for name, spec in specs.items():
        choices = spec.get("gpu_templates")
        template, kind = spec["template"], spec["type"]
        if choices:
            if gpu_pool not in choices:
                raise ValueError(f"unknown GPU pool type {gpu_pool!r}; valid: {', '.join(choices)}")
            template, kind = choices[gpu_pool], gpu_pool
        out[name] = {"type": kind, "base_job_template": json.loads((folder / template).read_text()),
                     "concurrency_limit": spec.get("concurrency_limit"), "description": spec.get("description")}
    return out


async def _ensure_pools(specs: dict[str, dict]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists

    async with get_client() as client:
        for name, spec in specs.items():
            try:
                await client.create_work_pool(WorkPoolCreate(name=name, **spec))
            except ObjectAlreadyExists:
                await client.update_work_pool(name, WorkPoolUpdate(
                    base_job_template=spec["base_job_template"], concurrency_limit=spec["concurrency_limit"],
                    description=spec["description"]))


def create_work_pools(api_url: str, gpu_pool: str = "process") -> list[str]:
    """Create (or update) the work pools on the server at ``api_url``; returns their names."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    specs = pool_specs(gpu_pool)
    with temporary_settings({PREFECT_API_URL: api_url}):
        asyncio.run(_ensure_pools(specs))
    return list(specs)


def gpu_job_variables(gpus: int, gpu_pool: str = "process") -> dict:
    """Job variables asking the GPU pool's template (``infra/work_pools``) for ``gpus`` GPUs: the
    process template's ``cuda_visible_devices`` (the first ``gpus`` of the worker's host), the
    kubernetes and docker templates' ``gpu_count``; {} for one GPU (the templates' default)."""
    if gpus <= 1:
        return {}
    if gpu_pool == "process":
        return {"cuda_visible_devices": ",".join(str(i) for i in range(gpus))}
    return {"gpu_count": gpus}


def stage_deployments(definitions: dict, recipe=None, gpu_pool: str = "process") -> list[dict]:
    """One deployment per registered stage (``flows/stages.py:<stage>``) on the work pool its
    ``Stage.pool`` names, with the stage flow parameters of prefect.yaml's ``definitions``; with a
    ``recipe``, a GPU stage's job variables ask for the GPUs it needs there
    (``tasks.stages.routes.stage_gpus``: ``train.launch.<section>.num_gpus``, vLLM tensor parallelism)."""
    from tasks.stages import STAGES
    from tasks.stages.routes import stage_gpus

    pools = definitions["work_pools"]
    out = []
    for name in STAGES.registered():
        pool = STAGES.get(name).pool
        if pool not in pools:
            raise ValueError(f"stage {name!r}: unknown pool {pool!r}; prefect.yaml defines {', '.join(pools)}")
        deployment = {"name": "default", "description": f"The {name!r} stage alone (upstream artifacts must be "
                      "committed).", "entrypoint": f"flows/stages.py:{name}", "tags": ["agentark", "stage", pool],
                      "parameters": dict(definitions["parameters"]["stage"]), "work_pool": dict(pools[pool])}
        variables = gpu_job_variables(stage_gpus(name, recipe), gpu_pool) if recipe is not None and pool == "gpu" else {}
        if variables:
            deployment["work_pool"]["job_variables"] = variables
        out.append(deployment)
    return out


def pipeline_gpus(recipe) -> int:
    """GPUs the whole pipeline needs in one flow run (the ``gpu`` deployment): its largest stage's."""
    from tasks.stages import pipeline_order
    from tasks.stages.routes import stage_gpus

    return max((stage_gpus(stage.name, recipe) for stage in pipeline_order(recipe, recipe.stages)), default=1)


def deploy_file(source: str, out: Path, recipe: str | None = None, gpu_pool: str = "process") -> Path:
    """Write prefect.yaml with the chosen pull variant (``local``: the project folder, absolute) and
    every stage's deployment (:func:`stage_deployments`) after the hand-written ones. With a
    ``recipe`` (path), GPU deployments request the GPUs that recipe's stages need on ``gpu_pool``."""
    project = project_dir()
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    variants = config["definitions"]["pull"]
    if source not in variants:
        raise ValueError(f"unknown source {source!r}; valid: {', '.join(variants)}")
    steps = json.loads(json.dumps(variants[source]).replace("{{ $AGENTARK_PROJECT_DIR }}", str(project)))
    config["pull"] = steps
    loaded = None
    if recipe is not None:
        from agentark_core.recipe import load_recipe
        from tasks.stages.routes import stage_gpus

        loaded = load_recipe(recipe)
        for deployment in config["deployments"]:  # the hand-written ones: a debate shard group or a pipeline
            if deployment["work_pool"]["name"] != config["definitions"]["work_pools"]["gpu"]["name"]:
                continue
            shards = deployment["entrypoint"].endswith(":debate_shard_group")
            gpus = stage_gpus("debate", loaded) if shards else pipeline_gpus(loaded)
            if variables := gpu_job_variables(gpus, gpu_pool):
                deployment["work_pool"] = {**deployment["work_pool"], "job_variables": variables}
    config["deployments"] = config["deployments"] + stage_deployments(config["definitions"], loaded, gpu_pool)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def deploy_all(api_url: str, home: Path, source: str = "local", names: list[str] | None = None,
               recipe: str | None = None, gpu_pool: str = "process") -> None:
    """``prefect deploy --all`` (or ``--name`` for each of ``names``) against the server at ``api_url``
    (GPU requests sized for ``recipe`` when given: :func:`deploy_file`)."""
    target = deploy_file(source, home / "agentark-prefect.yaml", recipe, gpu_pool)
    selection = [arg for name in names for arg in ("--name", name)] if names else ["--all"]
    cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", *selection, "--prefect-file", str(target)]
    env = {**os.environ, "PREFECT_API_URL": api_url}
    done = subprocess.run(cmd, cwd=project_dir(), env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"prefect deploy failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


@server_app.command("up")
def up(
    port: int = typer.Option(4200, help="Port on 127.0.0.1."),
    postgres: str | None = typer.Option(None, help="PostgreSQL URL (default: SQLite under PREFECT_HOME)."),
    gpu_pool: str = typer.Option("process", help="GPU pool type: process | kubernetes | docker."),
    source: str = typer.Option("local", help="Where workers get the code: local (this folder) | git."),
    recipe: str | None = typer.Option(None, help="Size the GPU deployments' job variables for this recipe."),
) -> None:
    """Start the server, create the work pools, deploy every flow, print the UI address."""
    home = prefect_home()
    if (home / PID_FILE).is_file():
        raise typer.BadParameter(f"a server is already recorded in {home / PID_FILE}: `agentark server down` first")
    info = start_server(home, port, postgres)
    try:
        pools = create_work_pools(info["api_url"], gpu_pool)
        deploy_all(info["api_url"], home, source, recipe=recipe, gpu_pool=gpu_pool)
    except BaseException:
        stop_server(home)
        raise
    typer.echo(f"Prefect UI: {info['ui_url']}  (work pools: {', '.join(pools)}; log {info['log']})")
    typer.echo(f"export PREFECT_API_URL={info['api_url']}")
    typer.echo("then: prefect worker start --pool agentark-cpu   (and --pool agentark-gpu on GPU hosts)")


@server_app.command("deployments")
def deployments(
    out: str = typer.Option("prefect.deploy.yaml", help="Where to write the deployment file."),
    source: str = typer.Option("local", help="Where workers get the code: local (this folder) | git."),
    recipe: str | None = typer.Option(None, help="Size the GPU deployments' job variables for this recipe."),
    gpu_pool: str = typer.Option("process", help="GPU pool type the job variables are for: process | kubernetes | docker."),
) -> None:
    """Write prefect.yaml plus every stage's deployment, for `prefect deploy --all --prefect-file OUT`."""
    typer.echo(str(deploy_file(source, Path(out), recipe, gpu_pool)))


@server_app.command("down")
def down() -> None:
    """Stop the server started by `agentark server up`."""
    home = prefect_home()
    typer.echo("server stopped" if stop_server(home) else f"no server recorded in {home / PID_FILE}")
