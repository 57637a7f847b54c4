"""The transformers backend's GPU decode path on a CPU (issue 18): a static KV cache, a compiled decode
step (dynamo with its ``eager`` backend here: the same graph capture, no C++ compiler), bucketed rows
filled with finished rows, a failing compile falling back with a warning; greedy outputs equal the plain
dynamic-cache path's. The memory arithmetic that sizes ``micro_batch_size="auto"`` on CUDA is checked
on a real model shape. tests/gpu/test_hf_static_gpu.py runs the path with inductor + CUDA graphs."""

from __future__ import annotations

import logging

import pytest

from agentark_core.llm import hf_batching
from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.toy.tiny import make_tiny_model

from .test_hf_backend import PROMPTS  # prompts of very different lengths (padding, buckets)

EAGER_DYNAMO = {"backend": "eager", "mode": None}  # graph capture by dynamo, no inductor code generation


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A random-init tiny model; a wide init makes its replies depend on the prompt."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-static"), initializer_range=0.3)


def _generator(path, **options):
    from agentark_core.llm.hf_backend import TransformersGenerator

    return TransformersGenerator(model=path, show_progress=False, **options)


def _requests() -> list[ChatRequest]:
    return [ChatRequest.user(p) for p in PROMPTS]


def _outputs(completions) -> list[tuple]:
    return [(c.text, c.extra["token_ids"], c.completion_tokens, c.finish_reason) for c in completions]


def test_static_and_compiled_greedy_equal_the_plain_path(model_path):
    params = SamplingParams(temperature=0, max_tokens=16)
    plain = _generator(model_path, micro_batch_size=3, static_cache=False, compile_decode=False)
    static = _generator(model_path, micro_batch_size=3, static_cache=True, compile_decode=False)
    compiled = _generator(model_path, micro_batch_size=3, compile_decode=True, compile_options=EAGER_DYNAMO)
    assert plain.compile_config is None and static.compile_config is None
    assert compiled.static_cache and compiled.compile_config is not None
    expected = _outputs(plain.generate(_requests(), params))
    assert len({text for text, *_ in expected}) > 1  # replies depend on the prompt: a mix-up would show
    assert _outputs(static.generate(_requests(), params)) == expected
    # micro-batches of 3 and 2 rows run as 4 and 2: the first carries a filler row
    assert _outputs(compiled.generate(_requests(), params)) == expected
    assert compiled.compile_config is not None  # no fallback happened
    assert hasattr(compiled.model, "_compiled_call")  # transformers compiled the decode step


def test_seeded_sampling_on_the_static_path_is_reproducible(model_path):
    gen = _generator(model_path, micro_batch_size=2, static_cache=True, compile_decode=False)
    first = gen.generate(_requests(), SamplingParams(temperature=1.0, max_tokens=10, seed=3))
    again = gen.generate(_requests(), SamplingParams(temperature=1.0, max_tokens=10, seed=3))
    other = gen.generate(_requests(), SamplingParams(temperature=1.0, max_tokens=10, seed=4))
    assert _outputs(first) == _outputs(again) != _outputs(other)


def test_a_failing_compile_warns_and_decodes_uncompiled(model_path, caplog):
    def broken_backend(graph, example_inputs, **options):
        raise RuntimeError("no compiler on this machine")

    params = SamplingParams(temperature=0, max_tokens=12)
    expected = _outputs(_generator(model_path, micro_batch_size=2, static_cache=False).generate(_requests(), params))
    gen = _generator(model_path, micro_batch_size=2, compile_decode=True, compile_options={"backend": broken_backend})
    with caplog.at_level(logging.WARNING, logger="agentark_core.llm.hf_backend"):
        assert _outputs(gen.generate(_requests(), params)) == expected
    assert "compiled decoding failed" in caplog.text and "no compiler on this machine" in caplog.text
    assert gen.compile_config is None


def test_filler_rows_finish_at_the_first_step(model_path):
    import torch

    gen = _generator(model_path, static_cache=False)
    batch = gen.tokenizer.pad({"input_ids": [gen._prompt_ids(r) for r in _requests()[:3]]},
                              return_tensors="pt")  # fmt: skip
    done = torch.tensor([False, True, True])
    out = gen.model.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=gen.tokenizer.pad_token_id,
                             eos_token_id=sorted(gen.eos_ids),
                             stopping_criteria=[hf_batching.FinishedRows(done)])  # fmt: skip
    new = out[:, batch["input_ids"].shape[1] :]
    assert new.shape[1] == 6
    assert (new[1:, 1:] == gen.tokenizer.pad_token_id).all()  # one token each, then padding
    assert (new[0] != gen.tokenizer.pad_token_id).any()


def test_auto_micro_batch_is_the_cpu_default_off_cuda(model_path):
    gen = _generator(model_path)
    assert gen.micro_batch_size == "auto" and not gen.static_cache and gen.compile_config is None
    assert gen._rows(list(range(40)), lambda: pytest.fail("no memory is measured on a CPU")) == 16


def test_scoring_rows_are_sized_by_the_longest_prompt_and_choice_and_most_choices(model_path):
    gen = _generator(model_path)
    requests = [ChatRequest.user("12 + 7", guided_choice=("true", "false")),
                ChatRequest.user(PROMPTS[0], guided_choice=("a", "b", "Final Answer: 57"))]  # fmt: skip
    prompts = [gen._prompt_ids(r) for r in requests]
    tail = len(gen.tokenizer("Final Answer: 57", add_special_tokens=False)["input_ids"]) + 1  # + EOS
    row = hf_batching.scoring_row_bytes(gen.model.config, 4, len(prompts[1]) + tail)
    assert gen._scoring_request_bytes([0, 1], requests, prompts) == 3 * row


def test_kv_bytes_and_rows_on_the_qwen3_06b_shape():
    from transformers import Qwen3Config

    from bench.bench_grpo_step import QWEN3_06B

    config = Qwen3Config(**QWEN3_06B)
    assert hf_batching.kv_bytes_per_token(config, 2) == 28 * 2 * 8 * 128 * 2  # 114,688 bytes
    row = hf_batching.generation_row_bytes(config, 2, 609, 896, eager_attention=False)
    kv = 114_688 * 896
    assert row == kv + 609 * (4 * 1024 + 3 * 3072) * 2 + 3 * 151_936 * 4
    # 60 GiB free: (0.85 * 60 GiB - 2 GiB) // ~120 MB = 455 rows; capped by the request count
    assert hf_batching.rows_that_fit(60 << 30, row, 10_000) == int((0.85 * (60 << 30) - (2 << 30)) // row)
    assert hf_batching.rows_that_fit(60 << 30, row, 160) == 160
    assert hf_batching.rows_that_fit(1 << 30, row, 160) == 1
    eager = hf_batching.generation_row_bytes(config, 2, 609, 896, eager_attention=True)
    assert eager - row == 16 * 609 * 609 * 4


@pytest.mark.parametrize("rows, bucket", [(1, 1), (3, 4), (16, 16), (17, 32), (32, 32), (33, 64), (160, 160),
                                          (161, 192)])
def test_row_buckets(rows, bucket):
    assert hf_batching.bucket_rows(rows) == bucket


@pytest.mark.parametrize("rows, floor", [(1, 1), (3, 2), (31, 16), (32, 32), (63, 32), (64, 64), (100, 96),
                                         (455, 448)])
def test_bucket_floor_is_the_largest_bucket_that_fits(rows, floor):
    assert hf_batching.bucket_floor(rows) == floor
    assert hf_batching.bucket_rows(floor) == floor


def test_even_chunks_and_cache_buckets():
    assert hf_batching.even_chunks(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert hf_batching.even_chunks(list(range(160)), 512) == [list(range(160))]
    assert hf_batching.even_chunks([], 4) == []
    assert [hf_batching.bucket_cache_len(n) for n in (1, 128, 129, 865)] == [128, 128, 256, 896]


def test_compile_is_skipped_with_a_warning_where_it_cannot_run(monkeypatch, caplog):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else find_spec(name, *a))
    with caplog.at_level(logging.WARNING, logger="agentark_core.llm.hf_batching"):
        assert hf_batching.decode_compile_config("cuda", True, None, None) is None
    assert "needs triton" in caplog.text
    assert hf_batching.decode_compile_config("cpu", False, None, None) is None  # nothing asked, nothing said


@pytest.mark.parametrize("options, message", [
    ({"micro_batch_size": "big"}, "micro_batch_size must be 'auto' or an int >= 1"),
    ({"micro_batch_size": 0}, "micro_batch_size must be 'auto' or an int >= 1"),
    ({"static_cache": "yes"}, "static_cache must be true, false or null"),
    ({"compile_decode": True, "static_cache": False}, "compile_decode needs static_cache"),
    ({"compile_options": {"modee": "default"}}, r"compile_options: unknown \['modee'\]"),
])  # fmt: skip
def test_bad_decode_options_fail_before_loading(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        _generator(str(tmp_path), **options)
