"""bench_pad_gain_lr's control (the start model with only its final gain scaled) and its --runs parsing."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from bench.bench_pad_gain_lr import final_gain, parse_runs, scaled_copy


def test_runs_parse_and_a_malformed_one_is_named():
    assert parse_runs(["2e-4:none", "2e-5:1e-2", "1e-3"]) == [(2e-4, None), (2e-5, 1e-2), (1e-3, None)]
    with pytest.raises(ValueError, match="'fast:1e-2'"):
        parse_runs(["fast:1e-2"])


def test_scaled_copy_changes_the_final_gain_only(tiny, tmp_path):
    out = scaled_copy(tiny, str(tmp_path / "scaled"), 1.7)
    assert final_gain(out) == pytest.approx(1.7, abs=1e-4)
    before, after = AutoModelForCausalLM.from_pretrained(tiny), AutoModelForCausalLM.from_pretrained(out)
    changed = [n for n, p in before.named_parameters() if not torch.equal(p, after.get_parameter(n))]
    assert changed == ["model.norm.weight"]
    ratio = after.model.norm.weight / before.model.norm.weight
    assert torch.allclose(ratio, ratio[0].expand_as(ratio))  # one factor: the temperature, not the shape
