"""The training MFU benchmark's variant table and its CPU smoke run (the GPU numbers come from the same code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.bench_train_mfu import variant_options
from bench.train_variants import PRM_VARIANTS, SFT_VARIANTS

ROOT = Path(__file__).resolve().parents[3]


def test_variant_options_split_trainer_from_process_settings():
    assert variant_options("sft", "plain_hf") == (None, {})
    options, process = variant_options("prm", "ours_pf_bf16_b32_compile_fixedseg")
    assert process == {"cuda_alloc_conf": "expandable_segments:False"}
    assert "cuda_alloc_conf" not in options and options["traces_per_batch"] == 32
    options, process = variant_options("sft", "ours_pf_bf16_b32_compile_flashbwd")
    assert process == {"varlen_backward": "flash"} and options["batch"] == 32
    assert "varlen_backward" in SFT_VARIANTS["ours_pf_bf16_b32_compile_flashbwd"]  # the table is not edited
    assert all(variant_options("prm", name)[0] is not None for name in PRM_VARIANTS)


def test_tiny_run_reports_every_variant_including_the_plain_baselines(tmp_path):
    """Each variant runs in its own child process; the plain rows (no speed options) must run too."""
    out = tmp_path / "rows.json"
    cmd = [
        sys.executable,
        "bench/bench_train_mfu.py",
        "--tiny",
        "--sft",
        "plain_hf",
        "--prm",
        "plain,ours_pf",
    ]
    done = subprocess.run(
        [*cmd, "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["variant"] for r in rows] == ["sft/plain_hf", "prm/plain", "prm/ours_pf"]
    assert all("error" not in r and r["tokens_per_s"] > 0 and r["step_ms"] > 0 for r in rows), rows
