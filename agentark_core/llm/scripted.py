"""A scripted ``Generator`` for unit tests of pure logic (MAS protocols, verifiers, extraction).

Replies come from a callable, a list consumed in order, or a mapping from a
substring of the last message to a reply. Every ``generate`` call is recorded so
tests can assert batching ("one call per round") and inspect the prompts.
Token counts are whitespace word counts; latency is 0.

Example:
    >>> gen = ScriptedGenerator(lambda request, call_index: f"Final Answer: {call_index}")
    >>> gen.generate([ChatRequest.user("hi")], SamplingParams())[0].text
    'Final Answer: 0'
    >>> len(gen.calls)
    1
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

ReplyFn = Callable[[ChatRequest, int], "str | tuple[str, str]"]


def _word_count(request: ChatRequest) -> int:
    return sum(len(m["content"].split()) for m in request.messages)


class ScriptedGenerator:
    """Answers chat requests from a script and records every batch it was given.

    Args:
        replies: one of
            - a callable ``(request, call_index) -> str``; ``call_index`` is the 0-based
              number of the ``generate`` call the request arrived in;
            - a sequence of strings, handed out in order across all requests;
            - a mapping ``{substring: reply}``; the first key found in the request's last
              message content wins.
            A reply is a string (finish reason "stop") or a ``(text, finish_reason)`` pair, so tests
            can script replies cut off at ``max_tokens`` (``"length"``).

    Attributes:
        calls: one tuple of requests per ``generate`` call, in call order.
        params: the ``SamplingParams`` of each call, aligned with ``calls``.
    """

    def __init__(self, replies: ReplyFn | Sequence[str] | Mapping[str, str]) -> None:
        if callable(replies):
            self._reply: ReplyFn = replies
        elif isinstance(replies, Mapping):
            self._reply = self._from_mapping(dict(replies))
        elif isinstance(replies, Sequence) and not isinstance(replies, str):
            self._reply = self._from_list(list(replies))
        else:
            raise TypeError(f"replies must be a callable, a list or a dict of strings, got {type(replies)}")
        self.calls: list[tuple[ChatRequest, ...]] = []
        self.params: list[SamplingParams] = []

    @staticmethod
    def _from_list(replies: list[str]) -> ReplyFn:
        position = itertools.count()

        def reply(request: ChatRequest, call_index: int) -> str:
            i = next(position)
            if i >= len(replies):
                raise IndexError(f"ScriptedGenerator ran out of its {len(replies)} scripted replies")
            return replies[i]

        return reply

    @staticmethod
    def _from_mapping(replies: dict[str, str]) -> ReplyFn:
        def reply(request: ChatRequest, call_index: int) -> str:
            last = request.messages[-1]["content"]
            for key, text in replies.items():
                if key in last:
                    return text
            raise KeyError(f"no scripted reply matches the prompt {last[:80]!r}; keys: {list(replies)}")

        return reply

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Completion]:
        """Reply to each request in order; see the class docstring for the script forms."""
        call_index = len(self.calls)
        self.calls.append(tuple(requests))
        self.params.append(params)
        out = []
        for request in requests:
            reply = self._reply(request, call_index)
            text, finish = (reply, "stop") if isinstance(reply, str) else (reply, None)
            if isinstance(reply, tuple) and len(reply) == 2:
                text, finish = reply
            if not isinstance(text, str) or not isinstance(finish, str):
                raise TypeError(f"scripted reply must be a str or (str, finish_reason), got {reply!r} "
                                f"for call {call_index}")
            completion = Completion(text, _word_count(request), len(text.split()), 0.0, finish_reason=finish)
            out.append(completion)
        return out

    @property
    def n_requests(self) -> int:
        """Total number of requests answered so far."""
        return sum(len(batch) for batch in self.calls)
