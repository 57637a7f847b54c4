"""The 80 GB fit estimate of bench/grpo_memory_estimate.py: which measured bytes it starts from and its verdicts."""

from __future__ import annotations

import pytest

from bench.grpo_memory_estimate import estimate_larger, training_rest

GIB = 2**30


def run(variant: str, peak: float, engine: dict | None = None) -> dict:
    row = {"variant": variant, "memory": {"peak_allocated": peak * GIB}, "trained_bytes": int(8.88 * GIB)}
    if engine is not None:
        row["engine"] = engine
    return row


def test_training_rest_takes_out_the_colocated_engine():
    engine = {"budget": 35 * GIB, "kv_cache": 33.31 * GIB, "weights": int(1.11 * GIB)}
    assert training_rest(run("vllm", 59.97, engine)) / GIB == pytest.approx(59.97 - 8.88 - 33.31 - 1.11, abs=0.01)
    assert training_rest(run("hf", 51.16)) / GIB == pytest.approx(51.16 - 8.88, abs=0.01)


def test_training_rest_unknown_without_memory_or_engine_bytes():
    assert training_rest({"variant": "hf", "memory": {}, "trained_bytes": 1}) is None
    assert training_rest(run("vllm", 60.0, {"budget": 35 * GIB, "error": "AttributeError: layout"})) is None


def test_estimate_uses_the_smallest_measured_rest(capsys):
    engine = {"budget": 35 * GIB, "kv_cache": 33.31 * GIB, "weights": int(1.11 * GIB)}
    estimate_larger([run("hf", 51.16), run("vllm", 59.97, engine)], "qwen3-0.6b", 64, 256, grad_accum=4)
    out = capsys.readouterr().out
    assert "from the vllm run" in out and "micro-batches of 16 completions" in out
    assert "Qwen3-1.7B" in out.split("\n")[2] and "-> fits" in out.split("\n")[2]
    assert "does NOT fit" in out.split("\n")[3]


def test_one_micro_batch_of_full_vocab_logits_does_not_fit_1_7b(capsys):
    estimate_larger([run("hf", 51.16)], "qwen3-0.6b", 64, 256)
    assert "does NOT fit" in capsys.readouterr().out.split("\n")[2]


def test_no_estimate_for_other_shapes(capsys):
    estimate_larger([run("hf", 51.16)], "tiny", 64, 256)
    assert capsys.readouterr().out == ""
