"""The openai backend against a real local HTTP server serving the tiny model."""

from __future__ import annotations

import socket

import pytest

from agentark_core.llm.openai_backend import OpenAIGenerator, ServerError, match_choice
from agentark_core.llm.types import ChatRequest, Generator, SamplingParams

PROMPTS = ["Tom has 5 apples", "12 + 7 = ?", "Which option is correct?", "step by step", "final answer"]


def _gen(base_url: str, **options) -> OpenAIGenerator:
    options = {"model": "tiny", "show_progress": False, "backoff_s": 0.01, **options}
    return OpenAIGenerator(base_url=base_url, **options)


def test_happy_path_matches_the_local_backend(serve, tiny_generator):
    state, url = serve()
    requests = [ChatRequest.user(p) for p in PROMPTS]
    params = SamplingParams(temperature=0, max_tokens=8)
    with _gen(url, max_concurrency=3) as gen:
        assert isinstance(gen, Generator)
        completions = gen.generate(requests, params)
    local = tiny_generator.generate(requests, params)
    assert [c.text for c in completions] == [c.text for c in local]  # in input order
    assert [c.prompt_tokens for c in completions] == [c.prompt_tokens for c in local]
    assert [c.completion_tokens for c in completions] == [c.completion_tokens for c in local]
    assert all(c.latency_s > 0 for c in completions)
    assert sorted(b["messages"][0]["content"] for b in state.bodies) == sorted(PROMPTS)


def test_seed_is_offset_per_request_and_stop_is_sent(serve):
    state, url = serve()
    with _gen(url) as gen:
        gen.generate([ChatRequest.user("same")] * 3, SamplingParams(seed=10, stop=("\n",), max_tokens=4))
    assert sorted(b["seed"] for b in state.bodies) == [10, 11, 12]
    assert all(b["stop"] == ["\n"] for b in state.bodies)


def test_guided_choice_is_sent_and_parsed(serve):
    state, url = serve()
    with _gen(url) as gen:
        requests = [ChatRequest.user(p, guided_choice=("true", "false")) for p in PROMPTS]
        completions = gen.generate(requests, SamplingParams())
    assert all(b["structured_outputs"] == {"choice": ["true", "false"]} for b in state.bodies)
    assert all(c.text in {"true", "false"} and c.extra["choice_valid"] for c in completions)


def test_retries_5xx_then_succeeds(serve):
    state, url = serve(fail_first=2, fail_status=503)
    with _gen(url, max_retries=3) as gen:
        [completion] = gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=4))
    assert len(state.bodies) == 3
    assert completion.completion_tokens >= 1


def test_gives_up_on_persistent_5xx_naming_the_url(serve):
    state, url = serve(fail_first=10**6, fail_status=500)
    expected = "failed after 3 attempts.*HTTP 500"
    with _gen(url, max_retries=2) as gen, pytest.raises(ServerError, match=expected) as err:
        gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=4))
    assert f"{url}/chat/completions" in str(err.value)
    assert len(state.bodies) == 3


def test_does_not_retry_4xx(serve):
    state, url = serve(fail_first=10**6, fail_status=400)
    with _gen(url, max_retries=3) as gen, pytest.raises(ServerError, match="rejected with HTTP 400"):
        gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=4))
    assert len(state.bodies) == 1


def test_timeout_is_a_clear_error(serve):
    state, url = serve(delay_s=1.0)
    expected = "timed out after 0.2s"
    with _gen(url, timeout_s=0.2, max_retries=1) as gen, pytest.raises(ServerError, match=expected):
        gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=4))
    assert len(state.bodies) == 2


def test_unreachable_server_names_the_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with _gen(url, max_retries=1) as gen, pytest.raises(ServerError, match="cannot connect") as err:
        gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=4))
    assert f"POST {url}/chat/completions failed after 2 attempts" in str(err.value)


def test_concurrency_is_bounded(serve):
    state, url = serve(delay_s=0.1)
    with _gen(url, max_concurrency=2) as gen:
        completions = gen.generate([ChatRequest.user(p) for p in PROMPTS * 2], SamplingParams(max_tokens=2))
    assert len(completions) == 10
    assert state.max_in_flight == 2  # requests overlapped, but never more than the bound


def test_api_key_comes_from_the_named_variable_and_is_sent(serve, monkeypatch, caplog):
    _state, url = serve()
    monkeypatch.setenv("MY_SERVER_KEY", "sk-secret-123")
    with _gen(url, api_key_env="MY_SERVER_KEY") as gen:
        gen.generate([ChatRequest.user("hi")], SamplingParams(max_tokens=2))
    assert gen._client.headers["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in caplog.text and "sk-secret-123" not in repr(gen)


def test_match_choice_is_strict():
    assert match_choice("  FALSE\n", ("true", "false")) == "false"
    assert match_choice("false.", ("true", "false")) is None
    assert match_choice("true false", ("true", "false")) is None


def test_bad_options_fail_clearly():
    with pytest.raises(ValueError, match="guided_field 'json'.*valid: structured_outputs"):
        OpenAIGenerator(base_url="http://x/v1", model="m", guided_field="json")
    with pytest.raises(ValueError, match="max_concurrency"):
        OpenAIGenerator(base_url="http://x/v1", model="m", max_concurrency=0)
