"""The thinking-mode switch reaches the chat template (transformers backend, real tiny model), and the
generation result types carry a checked finish reason."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams
from agentark_core.toy.tiny import CHAT_TEMPLATE, make_tiny_model

# The tiny ChatML template plus Qwen3's switch: with enable_thinking false the generation prompt ends in
# an empty think block, so the model answers without thinking.
THINKING_TEMPLATE = CHAT_TEMPLATE.replace(
    "<|im_start|>assistant\n{% endif %}",
    "<|im_start|>assistant\n{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}",
)


@pytest.fixture(scope="module")
def thinking_model(tmp_path_factory) -> str:
    path = make_tiny_model(tmp_path_factory.mktemp("thinking"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = THINKING_TEMPLATE
    tokenizer.save_pretrained(path)
    return path


def test_transformers_backend_renders_with_chat_template_kwargs(thinking_model):
    from agentark_core.llm.hf_backend import TransformersGenerator

    request = ChatRequest.user("12 + 7")
    plain = TransformersGenerator(model=thinking_model, show_progress=False)
    off = TransformersGenerator(model=thinking_model, show_progress=False,
                                chat_template_kwargs={"enable_thinking": False})
    decode = plain.tokenizer.decode
    assert decode(plain._prompt_ids(request)).endswith("<|im_start|>assistant\n")
    assert decode(off._prompt_ids(request)).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    completion = off.generate([request], SamplingParams(temperature=0, max_tokens=4))[0]
    assert completion.prompt_tokens == len(off._prompt_ids(request))
    assert completion.finish_reason in ("stop", "length")


def test_bad_chat_template_kwargs_fail_when_the_backend_is_built(thinking_model):
    from agentark_core.llm import make_generator

    with pytest.raises(TypeError, match="chat_template_kwargs"):
        make_generator("transformers", model=thinking_model, chat_template_kwargs="enable_thinking=false")


def test_completion_refuses_an_unknown_finish_reason():
    assert Completion("x", 1, 1, 0.0).finish_reason == "stop"
    with pytest.raises(ValueError, match="finish_reason"):
        Completion("x", 1, 1, 0.0, finish_reason="abort")


def test_scripted_replies_can_be_cut_off():
    gen = ScriptedGenerator(["Final Answer: 1", ("<think>Let me", "length")])
    first, second = gen.generate([ChatRequest.user("a"), ChatRequest.user("b")], SamplingParams())
    assert (first.finish_reason, second.finish_reason) == ("stop", "length")
    assert second.text == "<think>Let me"
    with pytest.raises(TypeError, match="finish_reason"):
        ScriptedGenerator([("a", "b", "c")]).generate([ChatRequest.user("a")], SamplingParams())


@pytest.mark.parametrize("backend", ["transformers", "vllm", "openai"])
def test_every_backend_takes_the_thinking_switch(backend):
    from agentark_core.llm.factory import check_options

    options = {"model": "m", "chat_template_kwargs": {"enable_thinking": False}}
    check_options(backend, **options, **({"base_url": "http://127.0.0.1:1/v1"} if backend == "openai" else {}))
    with pytest.raises(TypeError, match="chat_template_kwarg"):
        check_options(backend, model="m", chat_template_kwarg={"enable_thinking": False})
