"""Real Prefect servers (SQLite or PostgreSQL), work pools, deployments and process workers.

Every server, worker and database started here is stopped at teardown, also when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from flows.server import create_work_pools, deploy_all, start_server, stop_server
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[3]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The scheduler normally runs every 60 s; tests want scheduled runs within seconds.
SERVER_ENV = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
              "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false"}
GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A box holds 12 pens. How many pens in 3 boxes?", "answer": "12 * 3 = 36\n#### 36"},
    {"question": "Sara had 1,200 stamps and gave away 200. How many left?", "answer": "1200-200=1000\n#### 1,000"},
    {"question": "Ann reads 5 pages a day. How many pages in 6 days?", "answer": "5*6=30\n#### 30"},
]


def write_recipe(folder: Path, stages: list[str], **sections) -> Path:
    """A tiny recipe over a local GSM8K jsonl file (stages run without any model)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "gsm8k.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in GSM8K_ROWS) + "\n")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "deploy-test", "stages": stages, "store": {"root": str(folder / "store")},
        "data": {"dataset": "gsm8k", "source": str(data), "limit": None, "shard_size": 2}, **sections}))
    return path


def oracle_sections() -> dict:
    """Teacher = the scripted oracle (round 1 always wrong, later rounds right: order-independent)."""
    answers = {r["question"]: r["answer"].split("####")[1].strip().replace(",", "") for r in GSM8K_ROWS}
    return {"teacher": {"model": "oracle", "backend": "tests.fake_backends:oracle",
                        "options": {"answers": answers, "wrong_every": 1}},
            "debate": {"n_agents": 3, "rounds": 2, "shard_size": 1, "consensus_stop": False}}


def on_server(api_url: str, coro_fn):
    """Run ``coro_fn(client)`` against the server at ``api_url``."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go():
        async with get_client() as client:
            return await coro_fn(client)

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(go())


def wait_final(api_url: str, flow_run_id, timeout_s: float = 150):
    """The flow run once it reaches a final state (fails the test on timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = on_server(api_url, lambda c: c.read_flow_run(flow_run_id))
        if run.state and run.state.is_final():
            return run
        assert time.monotonic() < deadline, f"flow run {flow_run_id} still {run.state.name} after {timeout_s}s"
        time.sleep(1)


@contextmanager
def prefect_server(home: Path, postgres: str | None = None):
    info = start_server(home, free_port(), postgres, extra_env=SERVER_ENV)
    try:
        yield info
    finally:
        stop_server(home)


def deployed(info: dict, home: Path, names: list[str] | None = None) -> dict:
    create_work_pools(info["api_url"])
    deploy_all(info["api_url"], home, "local", names)
    return info


@contextmanager
def worker(api_url: str, home: Path, pool: str = "agentark-cpu"):
    """A ``prefect worker start`` subprocess (process type) polling every second."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home / "worker"),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = (home / f"worker-{pool}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    try:
        yield proc
    finally:
        kill_group(proc)
        log.close()


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def postgres_db():
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 with database ``prefect``; yields its URL.

    PostgreSQL refuses to run as root: as root the cluster runs as the ``postgres`` user.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found under {PG_BIN}")
    folder = Path(tempfile.mkdtemp(prefix="agentark-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def pg(tool: str, *args, check: bool = True):
        return subprocess.run([*as_user, str(PG_BIN / tool), *map(str, args)], check=check, capture_output=True)

    pg("initdb", "-D", data, "-U", "prefect", "--auth=trust", "-E", "UTF8")
    try:
        pg("pg_ctl", "-D", data, "-l", folder / "pg.log", "-w", "-o",
           f"-p {port} -c listen_addresses=127.0.0.1 -k {folder}", "start")
        pg("createdb", "-h", "127.0.0.1", "-p", port, "-U", "prefect", "prefect")
        yield f"postgresql://prefect@127.0.0.1:{port}/prefect"
    finally:
        pg("pg_ctl", "-D", data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def in_subprocess(api_url: str, code: str) -> object:
    """Run Python ``code`` (which prints one JSON line last) in a fresh process talking to ``api_url``.

    Flows run in their own process, so no Prefect client state outlives this test's server.
    """
    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
