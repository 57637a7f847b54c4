"""The ``vllm`` generation backend: vLLM's offline ``LLM`` engine on the local GPUs.

The fast path for the teacher debate (Sec. 3.1) and verifier (Sec. 3.2) stages on a GPU worker:
one ``LLM.generate`` call per round schedules every request with continuous batching, prefix caching
shares the common debate context across agents, and tensor parallelism splits large teachers.

What one ``generate`` call does, and what it costs (issue 18: the debate stage must run at >= 0.9x raw
``LLM.generate`` on the same prompts; ``bench/bench_generation_gpu.py`` measures it):
- chat templates are rendered for the whole batch in one ``apply_chat_template`` call and tokenized in
  one batched (Rust) tokenizer call, and the engine gets token ids: 0.02 s for 160 debate prompts of
  609 tokens on the GPU machine, against ~1.5 s of generation. ``LLM.chat`` renders and adds the
  conversations one by one; the ids are the same (a test compares them);
- requests go to the engine in input order. Agents of a question share their prompt (round 1) or its
  opening (later rounds); vLLM registers a prompt's KV blocks in its prefix cache when it *schedules*
  them, so identical prompts prefilled in the same step already share blocks: handing the agents over
  staggered (every question's first agent, then every second one...) measured no gain (H200, within
  the noise), so the backend does not reorder.

Semantics shared with the other backends:
- a request's seed is ``params.seed + its index in the batch``, so identical prompts in one batch
  (debate agents in round 1) still sample differently while the call stays reproducible; a request's
  sample does not depend on the other requests in the batch (tested). vLLM 0.26's model runner V2 (its
  default for dense decoder models such as Qwen3) draws seeded noise for the whole batch in one kernel
  keyed by (seed, position): per-request seeds measured no slower than unseeded sampling there. The V1
  runner (MoE models, some configurations) samples seeded requests one by one, a per-step loop over the
  batch; a call with ``seed=None`` samples unseeded (one batched draw) at the cost of reproducibility;
- ``guided_choice`` uses vLLM's structured outputs (``StructuredOutputsParams(choice=...)``), so the
  reply is exactly one of the choices;
- stop strings are cut from the text by vLLM; token counts are the engine's own;
- ``latency_s`` is the batch wall time divided evenly among its requests.

Tensor parallelism on hosts with NVLink multicast turned off (``NCCL_NVLS_ENABLE=0`` or
``TORCH_SYMM_MEM_DISABLE_MULTICAST=1``, as on shared GPU hosts): vLLM 0.26 fuses each all-reduce with the
next RMSNorm through FlashInfer, whose auto-selected ``mnnvl`` workspace needs multicast memory; on the lent
2x H200 a 32B-shaped teacher at TP 2 died in CUDA-graph capture with an illegal memory access there. The
backend then turns that fusion off (``compilation_config.pass_config.fuse_allreduce_rms = False``) unless
the recipe's ``engine_options`` set it (:func:`engine_options_for`).

vLLM is imported only when the generator is built; install it with ``pip install agentark[vllm]``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

from agentark_core.llm.reasoning import check_chat_template_kwargs, normalize_finish_reason
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
            **engine_options_for(tensor_parallel_size, engine_options),
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
        prompts = [{"prompt_token_ids": ids} for ids in self.render(requests)]
        sampling = [self._sampling(r, params, i) for i, r in enumerate(requests)]
        with self._lock:
            outputs = self.llm.generate(prompts, sampling_params=sampling, use_tqdm=self.show_progress)
        share = (time.perf_counter() - start) / len(requests)
        return [
            Completion(
                text=out.outputs[0].text,
                prompt_tokens=len(out.prompt_token_ids),
                completion_tokens=len(out.outputs[0].token_ids),
                latency_s=share,
                finish_reason=normalize_finish_reason(out.outputs[0].finish_reason),
            )
            for out in outputs
        ]

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


MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}


def engine_options_for(tensor_parallel_size: int, engine_options: dict[str, Any] | None,
                       environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``engine_options`` for ``vllm.LLM``, with the all-reduce + RMSNorm fusion turned off when the model
    is split over GPUs on a host whose environment turns NVLink multicast off (see the module docstring).

    A ``compilation_config`` given as a dict is extended, never overwritten: a ``fuse_allreduce_rms`` the user
    set is kept. A non-dict ``compilation_config`` (an int level, a vLLM object) is left as given.

    Example:
        >>> engine_options_for(2, {"seed": 0}, {"NCCL_NVLS_ENABLE": "0"})
        {'seed': 0, 'compilation_config': {'pass_config': {'fuse_allreduce_rms': False}}}
        >>> engine_options_for(1, {"seed": 0}, {"NCCL_NVLS_ENABLE": "0"})
        {'seed': 0}
    """
    options = dict(engine_options or {})
    environ = os.environ if environ is None else environ
    multicast_off = any(environ.get(key) == value for key, value in MULTICAST_OFF.items())
    compilation = options.get("compilation_config", {})
    if tensor_parallel_size <= 1 or not multicast_off or not isinstance(compilation, dict):
        return options
    pass_config = dict(compilation.get("pass_config") or {})
    if "fuse_allreduce_rms" not in pass_config:
        pass_config["fuse_allreduce_rms"] = False
        logger.info("NVLink multicast is off here: vLLM's all-reduce + RMSNorm fusion turned off for tp=%d",
                    tensor_parallel_size)
    options["compilation_config"] = {**compilation, "pass_config": pass_config}
    return options
