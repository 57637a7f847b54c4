"""A stage's Prefect markdown summary puts the stage's warnings first, above the metrics table."""

from __future__ import annotations

from tasks.publish import summary_markdown


def _manifest(metrics: dict) -> dict:
    return {"stage": "sft_da", "key": "abc123", "uri": "file:///s/sft_da/abc123", "rows": 2, "n_shards": 1,
            "schema": {"name": "sft_examples", "version": 1}, "timings": {"wall_s": 0.5}, "inputs": {},
            "metrics": metrics}


def test_warnings_come_first_and_not_in_the_table():
    text = summary_markdown(_manifest({"examples": 2, "warnings": ["only 2 training example(s)", "DA is R-SFT"]}))
    lines = text.split("\n")
    assert lines[0] == "## sft_da `abc123`"
    assert lines[1:5] == ["", "> **WARNING:** only 2 training example(s)", "", "> **WARNING:** DA is R-SFT"]
    assert "| examples | 2 |" in text and "| warnings |" not in text


def test_no_warning_block_without_warnings():
    text = summary_markdown(_manifest({"examples": 200}))
    assert "WARNING" not in text and text.split("\n")[1:3] == ["", "- URI: `file:///s/sft_da/abc123`"]


def test_rl_curves_stay_out_of_the_summary_table():
    text = summary_markdown(_manifest({"steps": 2, "rl_curves": [{"step": 1, "reward": 0.5}], "reward_check": None}))
    assert "| steps | 2 |" in text and "rl_curves" not in text and "| reward_check | null |" in text
