"""The openai backend and reasoning models: the thinking switch is sent, reasoning_content and finish
reasons come back (a real local HTTP server; replies shaped like vLLM's with ``--reasoning-parser qwen3``)."""

from __future__ import annotations

import pytest

from agentark_core.llm.openai_backend import OpenAIGenerator
from agentark_core.llm.types import ChatRequest, SamplingParams


def _gen(base_url: str, **options) -> OpenAIGenerator:
    return OpenAIGenerator(base_url=base_url, model="tiny", show_progress=False, backoff_s=0.01, **options)


def test_chat_template_kwargs_are_sent_only_when_set(serve):
    state, url = serve()
    with _gen(url, chat_template_kwargs={"enable_thinking": False}) as gen:
        gen.generate([ChatRequest.user("12 + 7 = ?")], SamplingParams(max_tokens=2))
    with _gen(url) as gen:
        gen.generate([ChatRequest.user("12 + 7 = ?")], SamplingParams(max_tokens=2))
    assert state.bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in state.bodies[1]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])  # vLLM's older and newer field names
def test_reasoning_content_is_kept_apart(serve, field):
    message = {"role": "assistant", "content": "Final Answer: 19", field: "12 + 7 is 19."}
    _, url = serve(reply={"message": message, "finish_reason": "stop"})
    with _gen(url) as gen:
        (completion,) = gen.generate([ChatRequest.user("12 + 7 = ?")], SamplingParams(max_tokens=8))
    assert (completion.text, completion.reasoning, completion.finish_reason) == ("Final Answer: 19", "12 + 7 is 19.",
                                                                                 "stop")


def test_cut_off_while_reasoning(serve):
    message = {"role": "assistant", "content": None, "reasoning_content": "12 + 7, let me"}
    _, url = serve(reply={"message": message, "finish_reason": "length"})
    with _gen(url) as gen:
        (completion,) = gen.generate([ChatRequest.user("12 + 7 = ?")], SamplingParams(max_tokens=8))
    assert (completion.text, completion.finish_reason) == ("", "length")


def test_engine_aborts_are_errors(serve):
    _, url = serve(reply={"finish_reason": "abort"})
    with _gen(url) as gen:
        (completion,) = gen.generate([ChatRequest.user("12 + 7 = ?")], SamplingParams(max_tokens=2))
    assert completion.finish_reason == "error"
