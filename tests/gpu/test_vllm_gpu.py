"""The ``vllm`` backend on a CUDA GPU (vLLM's CUDA build; issue 18): the backend tests of
``tests/integration/llm/test_vllm_backend.py`` collected again here, on a GPU engine serving a tiny
random-init Qwen3 whose tokenizer's vocabulary is its embedding table (512 rows) — alignment and
token counts, greedy determinism, ``LLM.chat``-identical prompt ids, seeds honoured per request
(reproducible, independent of the rest of the batch), guided choice, a debate through the backend, the
LLM verifier and the reasoning judge on the process-wide engine.

Run on the device machine: ``python -m pytest -p no:cacheprovider -o addopts="" -m gpu tests/gpu/test_vllm_gpu.py``.
Seen on an H200: 9 passed in 44 s on a machine that had already run vLLM; on a fresh machine the module
did not finish within 120 s (first-use kernel builds, presumably): give it several minutes there.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm", reason="needs vLLM's CUDA build")

from agentark_core.llm.cache import release_generators, shared_generator
from agentark_core.toy.tiny import make_tiny_model
from tests.integration.llm.test_vllm_backend import (  # noqa: F401  (collected here on the GPU)
    test_completions_are_aligned_and_counted,
    test_debate_runs_through_the_vllm_backend,
    test_greedy_is_deterministic_and_counts_the_rendered_prompt,
    test_guided_choice_answers_one_of_the_choices,
    test_llm_verifier_runs_guided_on_the_vllm_backend,
    test_prompt_ids_are_those_llm_chat_builds,
    test_reasoning_judge_runs_on_the_vllm_backend,
    test_seeded_samples_do_not_depend_on_the_rest_of_the_batch,
    test_seeded_sampling_is_reproducible_and_per_request,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """One bf16 engine for the module; eager mode (no compile or CUDA graphs) to start in seconds."""
    path = make_tiny_model(tmp_path_factory.mktemp("vllm-gpu") / "model", hidden=128, heads=2, layers=2)
    yield shared_generator(
        "vllm", model=path, dtype="bfloat16", max_model_len=1024, gpu_memory_utilization=0.3,
        show_progress=False, engine_options={"enforce_eager": True},
    )  # fmt: skip
    release_generators()


def test_the_engine_runs_on_the_gpu(generator):
    assert generator.llm.llm_engine.vllm_config.device_config.device_type == "cuda"
