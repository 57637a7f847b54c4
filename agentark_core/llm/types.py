"""The Generator protocol every backend (transformers, vllm, openai, scripted fakes) implements.

A stage never loops per sample around a model call: it builds one list of
``ChatRequest`` for a whole round and calls ``generate`` once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentark_core.llm.reasoning import FINISH_REASONS

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings shared by all backends."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True)
class ChatRequest:
    """One conversation to continue.

    Args:
        messages: chat messages, oldest first.
        guided_choice: when set, the reply must be exactly one of these strings
            (verifiers use ("true", "false")); backends that cannot constrain decoding
            generate freely and the caller parses strictly.
    """

    messages: tuple[Message, ...]
    guided_choice: tuple[str, ...] | None = None

    @classmethod
    def user(cls, content: str, system: str | None = None, **kwargs) -> ChatRequest:
        msgs: list[Message] = [{"role": "system", "content": system}] if system else []
        msgs.append({"role": "user", "content": content})
        return cls(messages=tuple(msgs), **kwargs)


@dataclass(frozen=True)
class Completion:
    """A backend's reply to one request, with its cost.

    Attributes:
        text: the reply as decoded (a reasoning model's ``<think>`` block included, unless the
            backend split it off into ``reasoning``).
        finish_reason: why generation ended, one of ``FINISH_REASONS``: "stop" (end of sequence or a
            stop string), "length" (``max_tokens`` reached: the reply is cut off), "error" (the engine
            aborted or filtered it).
        reasoning: reasoning content the backend returned apart from ``text`` (an OpenAI-compatible
            server's ``reasoning_content``), else "".
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str = "stop"
    extra: dict = field(default_factory=dict)
    reasoning: str = ""

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"Completion.finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")


@runtime_checkable
class Generator(Protocol):
    """Anything that turns a batch of chat requests into completions, in order."""

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Completion]: ...
