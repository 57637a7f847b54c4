"""The ``transformers`` backend's CUDA decode path (issue 18, deliverable 4): with its CUDA defaults —
micro-batches sized from free memory, a static KV cache, a decode step compiled by inductor with CUDA
graphs — greedy outputs equal the plain dynamic-cache path's token for token, across a bucket-filled
micro-batch and a second batch shape; seeded sampling stays reproducible.

The model is a random-init tiny Qwen3 in float32 (matmuls in full fp32, torch's default), whose
near-tied logits are not tied at fp32 precision: kernel differences between eager and compiled code
stay ~1e-6, far below the gaps between its top logits. (In bf16, batch shape alone can flip a random
model's near-tied argmax; bench/bench_hf_generation_gpu.py reports that agreement on the P1 setting.)

Run on the device machine:
    python -m pytest -p no:cacheprovider -o addopts="" -m gpu tests/gpu/test_hf_static_gpu.py -q
(inductor compiles two shapes of a 2-layer model: about a minute on a fresh machine.)
"""

from __future__ import annotations

import pytest
import torch

from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.toy.tiny import make_tiny_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

PROMPTS = [
    "Tom has 5 apples and buys 3 more. How many apples does he have?",
    "12 + 7",
    "Which option is correct? A) red B) blue C) green D) yellow.",
    "step",
    "These are the opinions of other agents. Use them as additional advice.",
    "The final answer is 42",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("hf-static-gpu") / "model", hidden=128, heads=4, layers=2,
                           initializer_range=0.3)  # fmt: skip


@pytest.fixture(scope="module")
def plain(model_path):
    from agentark_core.llm.hf_backend import TransformersGenerator

    return TransformersGenerator(model=model_path, dtype="float32", micro_batch_size=4, static_cache=False,
                                 compile_decode=False, show_progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def compiled(model_path):
    from agentark_core.llm.hf_backend import TransformersGenerator

    gen = TransformersGenerator(model=model_path, dtype="float32", show_progress=False)  # the CUDA defaults
    assert gen.micro_batch_size == "auto" and gen.static_cache and gen.compile_config is not None
    return gen


def _requests(n: int) -> list[ChatRequest]:
    return [ChatRequest.user(PROMPTS[i % len(PROMPTS)] * (1 + i % 3)) for i in range(n)]


def _outputs(completions) -> list[tuple]:
    return [(c.text, c.extra["token_ids"], c.completion_tokens, c.finish_reason) for c in completions]


@pytest.mark.parametrize("n", [12, 5])  # 12 rows fill a 16-row bucket; 5 rows an 8-row one (a second shape)
def test_compiled_static_greedy_equals_the_plain_path(plain, compiled, n):
    params = SamplingParams(temperature=0, max_tokens=24)
    requests = _requests(n)
    expected = _outputs(plain.generate(requests, params))
    assert len({text for text, *_ in expected}) > 1
    rows, _ = compiled._generation_rows(list(range(n)), [compiled._prompt_ids(r) for r in requests], 24)
    assert rows == n  # a tiny model's n requests fit one micro-batch
    assert _outputs(compiled.generate(requests, params)) == expected
    assert compiled.compile_config is not None, "the compiled call failed and fell back (see the warning)"
    assert hasattr(compiled.model, "_compiled_call")


def test_compiled_seeded_sampling_is_reproducible(compiled):
    requests = _requests(12)
    first = compiled.generate(requests, SamplingParams(temperature=1.0, max_tokens=16, seed=5))
    again = compiled.generate(requests, SamplingParams(temperature=1.0, max_tokens=16, seed=5))
    other = compiled.generate(requests, SamplingParams(temperature=1.0, max_tokens=16, seed=6))
    assert _outputs(first) == _outputs(again) != _outputs(other)
    assert compiled.compile_config is not None


def test_guided_choices_beside_free_requests_match_the_plain_path(plain, compiled):
    requests = [ChatRequest.user(p, guided_choice=("true", "false", "Final Answer: 57")) for p in PROMPTS]
    requests += _requests(3)
    params = SamplingParams(temperature=0, max_tokens=12)
    expected = plain.generate(requests, params)
    got = compiled.generate(requests, params)
    assert [c.text for c in got] == [c.text for c in expected]
    for mine, theirs in zip(got[: len(PROMPTS)], expected):
        assert mine.extra["choice_logprobs"] == pytest.approx(theirs.extra["choice_logprobs"], abs=1e-3)
