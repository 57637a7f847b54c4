"""Reasoning models' replies: the think block split from the answer, finish reasons, template switches.

Reasoning models (Qwen3, the paper's teacher and students; DeepSeek-R1 and its distillations) write
their chain of thought inside ``<think>…</think>`` before the answer, unless the chat template is told
otherwise (Qwen3: ``chat_template_kwargs={"enable_thinking": False}``). The pipeline keeps the two
apart: the think block goes to ``debate_turns.reasoning``, only the answer text is graded, quoted to
peers and (by default) trained on. The shapes a reply takes, and how :func:`split_reasoning` reads them:

- ``<think>R</think>A`` (Qwen3 thinking mode): reasoning R, answer A;
- ``<think>\\n\\n</think>\\n\\nA`` (Qwen3 with thinking off by a soft switch): reasoning "", answer A;
- ``R</think>A`` (templates that open the block in the prompt: Qwen3-*-Thinking-2507, DeepSeek-R1):
  reasoning R, answer A;
- ``<think>R`` with no close (the token budget ran out while thinking): reasoning R, answer "",
  ``unterminated`` — the caller labels such a reply truncated, never wrong;
- anything else: no reasoning, the whole text is the answer (angle brackets inside the text, a
  ``<think>`` mentioned mid-answer, are left alone: only a block at the start of the reply counts).

Example:
    >>> split_reasoning("<think>\\n2 + 2 is 4.\\n</think>\\n\\nFinal Answer: 4")
    SplitReply(reasoning='2 + 2 is 4.', answer='Final Answer: 4', unterminated=False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
FINISH_REASONS = ("stop", "length", "error")
# Backends' own finish reasons mapped onto FINISH_REASONS (vLLM: stop/length/abort; OpenAI API:
# stop/length/content_filter/tool_calls/function_call). Unknown values count as errors.
_FINISH_ALIASES = {
    "stop": "stop", "eos": "stop", "tool_calls": "stop", "function_call": "stop",
    "length": "length", "max_tokens": "length",
    "abort": "error", "content_filter": "error", "error": "error",
}


@dataclass(frozen=True)
class SplitReply:
    """A reply cut into its reasoning and its answer.

    Attributes:
        reasoning: the think block's content, stripped ("" when the reply has none).
        answer: the text after the think block, stripped (a reply without one: its text as given);
            what is graded and quoted.
        unterminated: a think block was opened and never closed (the reply stopped mid-thought).
    """

    reasoning: str
    answer: str
    unterminated: bool = False


def split_reasoning(text: str) -> SplitReply:
    """Split a reply's leading think block from its answer (see the module docstring for the shapes).

    Linear time, no regular expressions: safe on untrusted model text of any length.

    Args:
        text: the reply as the backend decoded it.

    Returns:
        A ``SplitReply``.
    """
    body = text.lstrip()
    if body.startswith(THINK_OPEN):
        inner = body[len(THINK_OPEN):]
        close = inner.find(THINK_CLOSE)
        if close < 0:
            return SplitReply(inner.strip(), "", unterminated=True)
        return SplitReply(inner[:close].strip(), inner[close + len(THINK_CLOSE):].strip())
    close = body.find(THINK_CLOSE)
    if close >= 0 and THINK_OPEN not in body[:close]:
        return SplitReply(body[:close].strip(), body[close + len(THINK_CLOSE):].strip())
    return SplitReply("", text)


def split_completion(text: str, reasoning: str = "") -> SplitReply:
    """A completion's reasoning and answer, whether the backend separated them or left the tags in.

    Args:
        text: the completion's text (an OpenAI-compatible server with a reasoning parser sends only
            the answer here).
        reasoning: the reasoning the backend already split off (``reasoning_content``), else "".

    Returns:
        A ``SplitReply``: the backend's reasoning first, then any think block still in ``text``.
    """
    split = split_reasoning(text)
    if not reasoning.strip():
        return split
    joined = "\n\n".join(r for r in (reasoning.strip(), split.reasoning) if r)
    return SplitReply(joined, split.answer, split.unterminated)


def answer_of(completion) -> str:
    """What a ``Completion`` answers, its reasoning left out: the text a caller parses (a judge's JSON,
    a verifier's true/false) when the model behind a generator thinks before it replies."""
    return split_completion(completion.text, getattr(completion, "reasoning", "")).answer


def with_reasoning(reasoning: str, answer: str) -> str:
    """The reply text a training target holds when it keeps the reasoning: ``<think>R</think>\\n\\nA``.

    Without reasoning the answer alone comes back, so a non-thinking trace is unchanged.
    """
    if not reasoning:
        return answer
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer}"


def normalize_finish_reason(reason: str | None) -> str:
    """One of ``FINISH_REASONS`` for a backend's finish reason (None: the backend does not say: stop).

    Example:
        >>> normalize_finish_reason("length"), normalize_finish_reason("abort"), normalize_finish_reason(None)
        ('length', 'error', 'stop')
    """
    if reason is None:
        return "stop"
    return _FINISH_ALIASES.get(str(reason).lower(), "error")


def check_chat_template_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a model's ``chat_template_kwargs`` (extra variables of its chat template).

    Args:
        kwargs: e.g. ``{"enable_thinking": False}`` for Qwen3; None means none.

    Returns:
        A plain dict copy ({} for None).

    Raises:
        TypeError: not a mapping of string keys, naming the offending key.
    """
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"chat_template_kwargs must be a mapping such as {{enable_thinking: false}}, got {kwargs!r}")
    for key in kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"chat_template_kwargs: key {key!r} is not a template variable name")
    return dict(kwargs)
