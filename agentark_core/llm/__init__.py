"""Text generation behind one protocol: a batch of chat requests + sampling params -> completions."""

from agentark_core.llm.factory import BACKENDS, make_generator
from agentark_core.llm.types import ChatRequest, Completion, Generator, SamplingParams

__all__ = ["BACKENDS", "ChatRequest", "Completion", "Generator", "SamplingParams", "make_generator"]
