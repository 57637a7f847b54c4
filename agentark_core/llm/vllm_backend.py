"""The ``vllm`` generation backend: vLLM's offline ``LLM`` engine on the local GPUs.

The fast path for the teacher debate (Sec. 3.1) and verifier (Sec. 3.2) stages on a GPU worker:
one ``LLM.chat`` call per round schedules every request with continuous batching, prefix caching
shares the common debate context across agents, and tensor parallelism splits large teachers.

Semantics shared with the other backends:
- a request's seed is ``params.seed + its index in the batch``, so identical prompts in one batch
  (debate agents in round 1) still sample differently while the call stays reproducible;
- ``guided_choice`` uses vLLM's structured outputs (``StructuredOutputsParams(choice=...)``), so the
  reply is exactly one of the choices;
- stop strings are cut from the text by vLLM; token counts are the engine's own;
- ``latency_s`` is the batch wall time divided evenly among its requests.

vLLM is imported only when the generator is built; install it with ``pip install agentark[vllm]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

logger = logging.getLogger(__name__)


class VLLMGenerator:
    """A ``Generator`` over an in-process ``vllm.LLM`` engine.

    Args:
        model: local path or hub id of the model.
        tensor_parallel_size: GPUs to split the model over.
        enable_prefix_caching: reuse the KV cache of shared prompt prefixes.
        gpu_memory_utilization: fraction of GPU memory vLLM may take.
        max_model_len: context length cap (None: the model's own).
        dtype: ``"auto"`` or a dtype name vLLM knows (``"bfloat16"``...).
        show_progress: show vLLM's progress bar.

    Attributes:
        llm: the ``vllm.LLM`` engine.
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
        show_progress: bool = True,
    ) -> None:
        try:
            import vllm
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as err:
            raise ImportError("the vllm backend needs vLLM: pip install agentark[vllm]") from err
        self._vllm_sampling_params = vllm.SamplingParams
        self._structured_outputs = StructuredOutputsParams
        self.show_progress = show_progress
        self.llm = vllm.LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=enable_prefix_caching,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
        )
        logger.info("vLLM engine ready: %s (tp=%d)", model, tensor_parallel_size)

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
        sampling = [self._sampling(r, params, i) for i, r in enumerate(requests)]
        start = time.perf_counter()
        outputs = self.llm.chat(
            [list(r.messages) for r in requests], sampling_params=sampling, use_tqdm=self.show_progress
        )
        share = (time.perf_counter() - start) / len(requests)
        return [
            Completion(
                text=out.outputs[0].text,
                prompt_tokens=len(out.prompt_token_ids),
                completion_tokens=len(out.outputs[0].token_ids),
                latency_s=share,
                finish_reason=out.outputs[0].finish_reason or "stop",
            )
            for out in outputs
        ]

    def close(self) -> None:
        """Stop the engine's worker processes (idempotent); the generator is unusable afterwards."""
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None:
            core.shutdown()

    def __enter__(self) -> VLLMGenerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sampling(self, request: ChatRequest, params: SamplingParams, index: int):
        """vLLM sampling params for one request."""
        guided = request.guided_choice
        return self._vllm_sampling_params(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=None if params.seed is None else params.seed + index,
            stop=list(params.stop) or None,
            structured_outputs=self._structured_outputs(choice=list(guided)) if guided else None,
        )
