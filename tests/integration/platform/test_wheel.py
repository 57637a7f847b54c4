"""A built wheel is enough: it ships recipes/, infra/ and prefect.yaml, and, installed into a fresh
venv, ``agentark demo`` finds its recipe from outside any checkout and runs without a telemetry error.

The wheel is built from a clean copy of the checkout (a stale ``build/`` folder in the checkout
could hide a file the configuration no longer ships).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
NOT_SHIPPED = {"tests", "bench", "build", "dist", ".git", ".venv", ".venv-vllm"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for entry in REPO.iterdir():
        if entry.name in NOT_SHIPPED or entry.name.startswith(".") or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, source / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(entry, source / entry.name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(root / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "Deprecat" not in built.stdout + built.stderr, (
        built.stdout + built.stderr
    )  # e.g. the license table
    (path,) = (root / "dist").glob("agentark-*.whl")
    return path


def _data_files(folder: str) -> set[str]:
    return {
        p.relative_to(REPO).as_posix()
        for p in (REPO / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_wheel_ships_recipes_infra_and_prefect_yaml(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = (
        _data_files("recipes") | _data_files("infra") | {"prefect.yaml", "agentark_core/project_files.py"}
    )
    assert {"recipes/demo.yaml", "infra/accelerate/ddp.yaml", "infra/work_pools/pools.yaml"} <= expected
    assert expected - names == set()
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def _fresh_venv(where: Path, wheel: Path) -> Path:
    """A venv without pip whose only own package is the wheel; the dependencies come from this
    interpreter's site-packages through a .pth line (added to sys.path, its .pth files not run, so
    the checkout's editable install stays out)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_agentark_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return where


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_outside_the_checkout(wheel, tmp_path):
    venv = _fresh_venv(tmp_path / "venv", wheel)
    probe = (
        "import json, flows, agentark_core.project_files as p;"
        "print(json.dumps([flows.__file__, str(p.DEMO_RECIPE), p.DEMO_RECIPE.is_file()]))"
    )
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    flows_file, recipe, exists = json.loads(where.stdout)
    assert Path(flows_file).is_relative_to(venv) and Path(recipe).is_relative_to(venv) and exists, (
        where.stdout
    )
    installed = Path(flows_file).parents[1]
    probe = (
        "from flows.server import pool_specs; from agentark_core.train.launch import accelerate_config_path;"
        "print(sorted(pool_specs()), accelerate_config_path('zero2'))"
    )
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout  # work pools and accelerate configs from the install
    assert "agentark-gpu" in found and str(installed / "infra" / "accelerate" / "zero2.yaml") in found, found
    subprocess.run(
        [str(venv / "bin" / "agentark"), "server", "deployments", "--out", str(tmp_path / "deploy.yaml")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    deploy = yaml.safe_load((tmp_path / "deploy.yaml").read_text())
    assert deploy["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(installed)
    assert all((installed / d["entrypoint"].split(":")[0]).is_file() for d in deploy["deployments"])
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_API", "PREFECT_SERVER_ANALYTICS")) and k != "PYTHONPATH"
    }
    env |= {"AGENTARK_STORE": str(tmp_path / "store"), "PREFECT_HOME": str(tmp_path / "prefect")}
    out = subprocess.run(
        [str(venv / "bin" / "agentark"), "demo", "--set", "stages=[ingest]", "--set", "data.limit=4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "store" / "ingest").is_dir() and "ingest" in out.stdout, out.stdout
    noise = [
        line
        for line in out.stderr.splitlines()
        if "Traceback" in line or "ERROR" in line or "telemetry" in line
    ]
    assert noise == [], out.stderr[-3000:]
