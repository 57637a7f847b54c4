"""Splitting reasoning models' think blocks off their replies; finish reasons; chat-template switches.

The replies below have the shapes Qwen3 produces (format as documented on the Qwen3 model cards:
thinking mode writes ``<think>\\n…\\n</think>\\n\\n`` then the answer; ``enable_thinking=False`` puts an
empty think block in the prompt; ``/no_think`` makes the model write an empty one itself; the
*-Thinking-2507 templates open ``<think>`` in the prompt so the reply holds only the close tag).
"""

from __future__ import annotations

import time

import pytest

from agentark_core.llm.reasoning import (
    FINISH_REASONS,
    SplitReply,
    check_chat_template_kwargs,
    normalize_finish_reason,
    split_completion,
    split_reasoning,
    with_reasoning,
)

THINKING = (
    "<think>\nOkay, let's see. Janet's ducks lay 16 eggs per day. She eats 3 for breakfast and bakes "
    "muffins with 4. So 16 - 3 - 4 = 9 eggs left. She sells them at $2 each, so 9 * 2 = 18.\n</think>\n\n"
    "Janet sells 16 - 3 - 4 = 9 eggs a day at $2 each.\n\nFinal Answer: 18"
)


@pytest.mark.parametrize(
    ("text", "reasoning", "answer", "unterminated"),
    [
        # thinking mode (Qwen3 default)
        (THINKING, THINKING[8:THINKING.index("</think>")].strip(),
         "Janet sells 16 - 3 - 4 = 9 eggs a day at $2 each.\n\nFinal Answer: 18", False),
        # thinking off by the /no_think soft switch: the model writes an empty block
        ("<think>\n\n</think>\n\nFinal Answer: 18", "", "Final Answer: 18", False),
        # thinking off in the template (enable_thinking=False): no tags at all, text kept as given
        ("9 * 2 = 18\nFinal Answer: 18\n", "", "9 * 2 = 18\nFinal Answer: 18\n", False),
        # template opened the block in the prompt (Qwen3-*-Thinking-2507, DeepSeek-R1)
        ("First, 16 - 3 - 4 = 9.\n</think>\n\nFinal Answer: 18", "First, 16 - 3 - 4 = 9.", "Final Answer: 18", False),
        # cut off while thinking: no answer, flagged
        ("<think>\nOkay, so 16 eggs minus 3 is 13, minus 4 is", "Okay, so 16 eggs minus 3 is 13, minus 4 is", "",
         True),
        # leading whitespace before the block
        ("\n\n<think>x</think>Final Answer: 2", "x", "Final Answer: 2", False),
        # angle brackets and tags inside the reasoning and the answer are text
        ("<think>Is 3 < 5 > 2? Check <b>bold</b> and a<think>b.</think>\n\nSince 3 < 5, x > 2.\nFinal Answer: 5",
         "Is 3 < 5 > 2? Check <b>bold</b> and a<think>b.", "Since 3 < 5, x > 2.\nFinal Answer: 5", False),
        # a think tag mentioned mid-answer, not at the start: no reasoning block
        ("The model writes <think> then </think>. Final Answer: 4", "",
         "The model writes <think> then </think>. Final Answer: 4", False),
        # the answer quotes the closing tag again after a real block: first close ends the block
        ("<think>a</think>Tags end with </think>. Final Answer: 1", "a", "Tags end with </think>. Final Answer: 1",
         False),
        ("", "", "", False),
    ],
)
def test_split_reasoning_on_qwen3_style_replies(text, reasoning, answer, unterminated):
    assert split_reasoning(text) == SplitReply(reasoning, answer, unterminated)


def test_split_is_linear_on_hostile_text():
    text = "<think>" + "<" * 500_000 + "</think" * 100_000
    start = time.perf_counter()
    reply = split_reasoning(text)
    assert time.perf_counter() - start < 0.5
    assert reply.unterminated and reply.answer == ""


def test_backend_reasoning_comes_first_and_text_is_still_split():
    assert split_completion("Final Answer: 3", "Add 1 and 2.") == SplitReply("Add 1 and 2.", "Final Answer: 3")
    # a server without a reasoning parser leaves the tags in the content
    assert split_completion("<think>r</think>\nFinal Answer: 3") == SplitReply("r", "Final Answer: 3")
    # content None (cut off while reasoning) arrives as ""
    assert split_completion("", "Let me think about") == SplitReply("Let me think about", "")


def test_with_reasoning_rebuilds_a_splittable_reply():
    joined = with_reasoning("2 + 2 is 4.", "Final Answer: 4")
    assert joined == "<think>\n2 + 2 is 4.\n</think>\n\nFinal Answer: 4"
    assert split_reasoning(joined) == SplitReply("2 + 2 is 4.", "Final Answer: 4")
    assert with_reasoning("", "Final Answer: 4") == "Final Answer: 4"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("stop", "stop"), ("length", "length"), ("abort", "error"), ("content_filter", "error"),
     ("tool_calls", "stop"), (None, "stop"), ("LENGTH", "length"), ("weird", "error")],
)
def test_finish_reasons_map_to_three_values(raw, expected):
    assert normalize_finish_reason(raw) == expected
    assert expected in FINISH_REASONS


def test_chat_template_kwargs_are_checked():
    assert check_chat_template_kwargs(None) == {}
    assert check_chat_template_kwargs({"enable_thinking": False}) == {"enable_thinking": False}
    with pytest.raises(TypeError, match="mapping"):
        check_chat_template_kwargs(["enable_thinking"])
    with pytest.raises(TypeError, match="'enable thinking'"):
        check_chat_template_kwargs({"enable thinking": False})
