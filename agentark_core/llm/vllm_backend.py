"""The ``vllm`` generation backend: vLLM's offline ``LLM`` engine on the local GPUs.

The fast path for the teacher debate (Sec. 3.1) and verifier (Sec. 3.2) stages on a GPU worker:
one ``LLM.generate`` call per round schedules every request with continuous batching, prefix caching
shares the common debate context across agents, and tensor parallelism splits large teachers.

What one ``generate`` call does, and why (issue 18: the stage must run at >= 0.9x raw ``LLM.generate``):
- chat templates are rendered for the whole batch in one ``apply_chat_template`` call and tokenized in
  one batched (Rust) tokenizer call; the engine gets token ids. ``LLM.chat`` renders and adds the
  conversations one by one; the result is the same ids (a test compares them);
- requests are handed to the engine in prefix-sharing order (:func:`prefix_sharing_order`): the first
  request of every distinct opening (system + first user message) goes first, then the second ones...
  The debate's n agents of a question share their opening (round 1: the whole prompt), and vLLM's prefix
  cache only serves blocks already computed, so agents scheduled in the same prefill step as the first
  one would recompute it; staggered, agents 2..n reuse the first agent's KV blocks.
  Completions come back in input order.

Semantics shared with the other backends:
- a request's seed is ``params.seed + its index in the batch``, so identical prompts in one batch
  (debate agents in round 1) still sample differently while the call stays reproducible. vLLM's
  model runner V2 (vLLM >= 0.2x's default for dense decoder models) draws per-request seeded noise in
  one batched kernel keyed by (seed, position), so a request's sample does not depend on the other
  requests or their order, and per-request seeds cost no speed there (measured: bench_generation_gpu);
- ``guided_choice`` uses vLLM's structured outputs (``StructuredOutputsParams(choice=...)``), so the
  reply is exactly one of the choices;
- stop strings are cut from the text by vLLM; token counts are the engine's own;
- ``latency_s`` is the batch wall time divided evenly among its requests.

vLLM is imported only when the generator is built; install it with ``pip install agentark[vllm]``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

from agentark_core.llm.reasoning import check_chat_template_kwargs, normalize_finish_reason
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

logger = logging.getLogger(__name__)


def prefix_sharing_order(requests: Sequence[ChatRequest]) -> list[int]:
    """Request indices with every opening's first request before any opening's second one, and so on.

    The opening of a chat is its messages up to and including the first user message. Within one
    occurrence rank, input order is kept. A batch without repeated openings keeps its order.

    Example:
        openings a a b b c (debate: 3 questions x 2 agents)  ->  [0, 2, 4, 1, 3]
    """
    seen: Counter = Counter()
    ranks = []
    for request in requests:
        key = _opening(request.messages)
        ranks.append(seen[key])
        seen[key] += 1
    return sorted(range(len(requests)), key=lambda i: (ranks[i], i))


def _opening(messages: Sequence[dict[str, str]]) -> tuple:
    """The messages up to and including the first user message, as a hashable tuple."""
    opening = []
    for message in messages:
        opening.append((message.get("role"), message.get("content")))
        if message.get("role") == "user":
            break
    return tuple(opening)


class VLLMGenerator:
    """A ``Generator`` over an in-process ``vllm.LLM`` engine.

    Args:
        model: local path or hub id of the model.
        tensor_parallel_size: GPUs to split the model over.
        enable_prefix_caching: reuse the KV cache of shared prompt prefixes.
        gpu_memory_utilization: fraction of GPU memory vLLM may take.
        max_model_len: context length cap (None: the model's own).
        dtype: ``"auto"`` or a dtype name vLLM knows (``"bfloat16"``...).
        load_format: vLLM's weight loading format; ``"dummy"`` skips the weights (random values: for
            benchmarks and tests of a real model shape without its checkpoint).
        show_progress: show vLLM's progress bar.
        engine_options: further ``vllm.LLM`` keyword arguments (``max_num_seqs``, ``seed``,
            ``enforce_eager``...), passed as given.
        chat_template_kwargs: extra chat-template variables, e.g. ``{"enable_thinking": False}`` to
            turn a Qwen3 model's thinking mode off (``llm.reasoning``).

    Attributes:
        llm: the ``vllm.LLM`` engine.
        tokenizer: the engine's tokenizer (renders and tokenizes the chats).
    """

    def __init__(
        self,
        *,
        model: str,
        tensor_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        load_format: str = "auto",
        show_progress: bool = True,
        engine_options: dict[str, Any] | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import vllm
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as err:
            raise ImportError("the vllm backend needs vLLM: pip install agentark[vllm]") from err
        self._vllm_sampling_params = vllm.SamplingParams
        self._structured_outputs = StructuredOutputsParams
        self.show_progress = show_progress
        self.chat_template_kwargs = check_chat_template_kwargs(chat_template_kwargs)
        self._lock = threading.Lock()  # one engine call at a time (grid cells may share the generator)
        self.llm = vllm.LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=enable_prefix_caching,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            load_format=load_format,
            **(engine_options or {}),
        )
        self.tokenizer = self.llm.get_tokenizer()
        logger.info("vLLM engine ready: %s (tp=%d)", model, tensor_parallel_size)

    def render(self, requests: Sequence[ChatRequest]) -> list[list[int]]:
        """Prompt token ids of every request: one batched chat-template render, one batched tokenization.

        The same ids ``LLM.chat`` would build (generation prompt added, no extra special tokens).
        """
        texts = self.tokenizer.apply_chat_template(
            [list(r.messages) for r in requests], tokenize=False, add_generation_prompt=True,
            **self.chat_template_kwargs,
        )
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Completion]:
        """Complete every request in one engine call; returns completions in input order.

        Args:
            requests: the conversations.
            params: decoding settings shared by the whole batch.

        Returns:
            completions aligned with ``requests``.
        """
        if not requests:
            return []
        start = time.perf_counter()
        prompt_ids = self.render(requests)
        order = prefix_sharing_order(requests)
        prompts = [{"prompt_token_ids": prompt_ids[i]} for i in order]
        sampling = [self._sampling(requests[i], params, i) for i in order]
        with self._lock:
            outputs = self.llm.generate(prompts, sampling_params=sampling, use_tqdm=self.show_progress)
        share = (time.perf_counter() - start) / len(requests)
        completions: list[Completion | None] = [None] * len(requests)
        for index, out in zip(order, outputs):
            completions[index] = Completion(
                text=out.outputs[0].text,
                prompt_tokens=len(out.prompt_token_ids),
                completion_tokens=len(out.outputs[0].token_ids),
                latency_s=share,
                finish_reason=normalize_finish_reason(out.outputs[0].finish_reason),
            )
        return completions

    def close(self) -> None:
        """Stop the engine's worker processes (idempotent); the generator is unusable afterwards."""
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None:
            with self._lock:
                core.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sampling(self, request: ChatRequest, params: SamplingParams, index: int):
        """vLLM sampling params for one request (``index``: its position in the caller's batch)."""
        guided = request.guided_choice
        return self._vllm_sampling_params(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=None if params.seed is None else params.seed + index,
            stop=list(params.stop) or None,
            structured_outputs=self._structured_outputs(choice=list(guided)) if guided else None,
        )
