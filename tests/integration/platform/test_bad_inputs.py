"""Malformed inputs through ``agentark run`` as a user meets them (issue 21): each ends with exit
code 2, no traceback, one ``error:`` line (the last) naming the culprit, and a store left exactly
as it was. Runs go through a real Prefect server (the session's test harness), since bad data is
only met inside the ingest stage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[3]
GOOD = {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"}


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


# name -> (data file suffix, file bytes, text the error line must hold)
CASES = {
    "answer is an int": (".jsonl", jsonl({"question": "How many?", "answer": 7}), "field 'answer' must be text"),
    "question is a list": (".jsonl", jsonl({**GOOD, "question": ["a", "b"]}), "field 'question' must be text"),
    "empty jsonl": (".jsonl", b"", "is empty"),
    "broken jsonl": (".jsonl", jsonl(GOOD)[:-20], "cannot read data file"),
    "not UTF-8": (".jsonl", jsonl(GOOD).replace(b"Tom", b"T\xf6m"), "is not UTF-8: byte 15 (line 1)"),
    "csv without the answer column": (".csv", b"question\nHow many?\n", "missing field 'answer'"),
    "gold answer nan": (".jsonl", jsonl({**GOOD, "answer": "#### nan"}), "gold answer 'nan' is not a finite value"),
    "same question, two answers": (".jsonl", jsonl(GOOD, {**GOOD, "answer": "#### 8"}),
                                   "and row 1 of '{data}' hold the same question"),
    "over-long question": (".jsonl", jsonl({**GOOD, "question": "x" * 100_001}),
                           "'query' has 100,001 characters, over the limit of 100,000"),
}


@pytest.fixture(scope="module")
def api_url(prefect_harness) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root``; files with size and time (a folder's time moves with any lock)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
            for p in root.rglob("*")}


def run_cli(args: list[str], api_url: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PREFECT_API_URL": api_url, **(env or {})})


def assert_one_line_error(out: subprocess.CompletedProcess, culprit: str) -> None:
    assert out.returncode == 2, out.stderr[-3000:]
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert "Traceback" not in out.stderr and 'File "' not in out.stderr, out.stderr[-3000:]
    assert lines[-1].startswith("error:") and culprit in lines[-1], lines[-1]
    assert sum(line.startswith("error:") for line in lines) == 1


@pytest.mark.parametrize("name", list(CASES))
def test_bad_data_file_is_one_line_and_leaves_the_store_alone(name, tmp_path, api_url):
    suffix, content, culprit = CASES[name]
    data = tmp_path / f"data{suffix}"
    data.write_bytes(content)
    store = tmp_path / "store"
    (store / "ingest").mkdir(parents=True)
    (store / "ingest" / "README").write_text("an unrelated file the run must not touch")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: bad\nstages: [ingest]\nstore: {{root: {store}}}\n"
                      f"data: {{dataset: gsm8k, source: {data}}}\n")
    before = snapshot(store)
    out = run_cli(["run", str(recipe)], api_url)
    assert_one_line_error(out, culprit.format(data=data))
    assert snapshot(store) == before


def test_unreachable_s3_store_is_one_line_naming_the_operation(tmp_path, api_url):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: s3\nstages: [ingest]\nstore: {root: 's3://nowhere/prefix'}\n"
                      "data: {dataset: toy, limit: 3}\n")
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID",
           "AWS_SECRET_ACCESS_KEY": "example-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    out = run_cli(["run", str(recipe)], api_url, env)
    assert_one_line_error(out, "store: ")
    assert "s3://nowhere/prefix" in out.stderr.splitlines()[-1]
    assert "example-secret" not in out.stderr and "AKIAEXAMPLEKEYID" not in out.stderr
