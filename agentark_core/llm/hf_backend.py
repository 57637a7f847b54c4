"""The ``transformers`` generation backend: batched, left-padded generation with the chat template.

Serves every stage that calls a model (debate rounds, Sec. 3.1; LLM verifiers and judges,
Sec. 3.2; student evaluation, Sec. 4) on one local device without a serving engine.

How a call runs:
- every request is rendered with the tokenizer's chat template (``add_generation_prompt=True``);
- requests are sorted by prompt length (longest first, so an out-of-memory error shows up on
  the first micro-batch) and cut into micro-batches of ``micro_batch_size``; results come back
  in input order. ``"auto"`` (the default) sizes them from free GPU memory (static KV cache, prefill
  activations and last logits per request: ``llm.hf_batching``), 16 on a CPU;
- on CUDA, for architectures transformers marks compilable, decoding uses a static KV cache and a
  ``torch.compile``d decode step with CUDA graphs (transformers' ``cache_implementation="static"`` +
  ``compile_config``); the prefill runs uncompiled. Rows and cache length are bucketed so recompiles
  stay few. Where ``torch.compile`` is unavailable, or a compiled call fails with anything but
  out-of-memory, a warning says so and decoding goes on uncompiled. Greedy outputs equal the plain
  dynamic-cache path's (tested); on a CPU nothing changes unless asked;
- ``temperature == 0`` decodes greedily; otherwise temperature + top-p sampling (top-k off, as in
  the vLLM and OpenAI backends); ``seed`` seeds a forked RNG once per call, so the same call with
  the same seed gives the same completions without touching the global RNG;
- stop strings end generation early (transformers' ``stop_strings``) and the text is cut just
  before the first stop string; ``completion_tokens`` then counts the generated tokens up to the
  one that completes the stop string, and up to and including the EOS token otherwise, like vLLM;
- ``latency_s`` is the wall time of the request's micro-batch divided evenly among its requests,
  so the latencies of one call add up to its wall time;
- on a CPU, generation runs on ``threads`` torch threads (restored afterwards), by default half the
  usable cores, at most 4: on a loaded 2-core machine two threads were never faster than one and
  at times 10x slower (toy-size model: 125-320 vs 1760-3630 tokens/s; a 30M-parameter one: 16-23
  vs 132-167; under lighter load both within 10%);
- requests with ``guided_choice`` are not sampled: each choice is scored by its exact
  log-likelihood ``log p(choice + EOS | prompt)`` and the most likely one is returned (what greedy
  constrained decoding returns for single-token choices), so LLM verifiers work here too.

Example:
    >>> gen = TransformersGenerator(model="/tmp/tiny", show_progress=False)   # doctest: +SKIP
    >>> gen.generate([ChatRequest.user("2+2?")], SamplingParams(temperature=0))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from agentark_core.llm.cpu_sampling import install_fast_sampling
from agentark_core.llm.cpu_threads import default_threads, torch_threads
from agentark_core.llm.hf_batching import (
    CPU_MICRO_BATCH,
    FinishedRows,
    bucket_cache_len,
    bucket_floor,
    bucket_rows,
    check_decode_options,
    decode_compile_config,
    even_chunks,
    free_cuda_bytes,
    generation_row_bytes,
    rows_that_fit,
    scoring_row_bytes,
)
from agentark_core.llm.reasoning import check_chat_template_kwargs
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

logger = logging.getLogger(__name__)


class TransformersGenerator:
    """A ``Generator`` over a local Hugging Face causal LM.

    Args:
        model: local path or hub id given to ``from_pretrained``.
        dtype: ``"auto"`` (the checkpoint's dtype) or a torch dtype name such as ``"bfloat16"``.
        device: ``"auto"`` (cuda when available, else cpu) or a torch device string.
        micro_batch_size: requests per forward batch, or ``"auto"``: on CUDA, (85% of free GPU memory
            - 2 GiB) // bytes per request, a request costing its KV cache (layers x 2 x KV heads x head
            dim x dtype bytes x (longest prompt + max_tokens, rounded up to 128)), one layer's prefill
            activations and three float32 copies of its last logits; at most 512 (``llm.hf_batching``).
            16 on a CPU.
        static_cache: decode with transformers' static KV cache; None = on CUDA, for architectures that
            declare a compilable static-cache forward (transformers' ``_can_compile_fullgraph``: Llama,
            Qwen2/3, Mistral, Gemma...).
        compile_decode: ``torch.compile`` the decode step (needs ``static_cache``); None = on CUDA when
            ``torch.compile`` is available.
        compile_options: ``transformers.CompileConfig`` fields (default: inductor, ``reduce-overhead``,
            i.e. CUDA graphs), e.g. ``{"mode": "default"}``.
        show_progress: show a tqdm bar over micro-batches.
        trust_remote_code: forwarded to ``from_pretrained``.
        threads: torch CPU threads while generating; None = :func:`default_threads` on a CPU device,
            torch's own setting on a GPU.
        chat_template_kwargs: extra chat-template variables, e.g. ``{"enable_thinking": False}`` to
            turn a Qwen3 model's thinking mode off (``llm.reasoning``).

    Attributes:
        model: the loaded ``PreTrainedModel`` (eval mode), reusable e.g. for perplexity.
        tokenizer: its tokenizer, with left padding.
    """

    def __init__(
        self,
        *,
        model: str,
        dtype: str = "auto",
        device: str = "auto",
        micro_batch_size: int | str = "auto",
        show_progress: bool = True,
        trust_remote_code: bool = False,
        chat_template_kwargs: dict | None = None,
        threads: int | None = None,
        static_cache: bool | None = None,
        compile_decode: bool | None = None,
        compile_options: dict | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_decode_options(micro_batch_size, static_cache, compile_decode, compile_options)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype, None)
        if torch_dtype is None or (dtype != "auto" and not isinstance(torch_dtype, torch.dtype)):
            raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or a torch dtype name like 'bfloat16'")
        self.device = torch.device(device)
        self.threads = default_threads() if threads is None and self.device.type == "cpu" else threads
        self.micro_batch_size = micro_batch_size
        self.show_progress = show_progress
        self.chat_template_kwargs = check_chat_template_kwargs(chat_template_kwargs)
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            model, dtype=torch_dtype, trust_remote_code=trust_remote_code
        ).to(self.device)
        self.model.eval()
        install_fast_sampling(self.model)  # sampling on CPU without torch.multinomial's cost
        if static_cache is None:  # on CUDA where the architecture declares a compilable static-cache forward
            compilable = getattr(self.model, "_can_compile_fullgraph", False)
            static_cache = compile_decode is True or (self.device.type == "cuda" and compilable)
        self.static_cache = static_cache
        self.compile_config = decode_compile_config(self.device.type, static_cache, compile_decode, compile_options)
        self._cache_len = 0  # transformers never shrinks a static cache (a shape change would recompile)
        self.eos_ids = _eos_ids(self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id)
        logger.info("loaded %s on %s (eos ids %s; static cache %s, compiled decode %s)", model, self.device,
                    sorted(self.eos_ids), self.static_cache, self.compile_config is not None)

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Completion]:
        """Complete every request; returns one ``Completion`` per request, in input order.

        Args:
            requests: the conversations; those with ``guided_choice`` are answered by choice scoring.
            params: decoding settings shared by the whole batch.

        Returns:
            completions aligned with ``requests``.
        """
        import torch

        prompts = [self._prompt_ids(r) for r in requests]
        results: list[Completion | None] = [None] * len(requests)
        free = [i for i, r in enumerate(requests) if r.guided_choice is None]
        guided = [i for i, r in enumerate(requests) if r.guided_choice is not None]
        devices = [self.device] if self.device.type == "cuda" else []
        # compiled graphs are built under no_grad: inference-mode tensors slow or break torch.compile
        no_grad = torch.no_grad() if self.compile_config is not None else torch.inference_mode()
        with torch_threads(self.threads), no_grad, torch.random.fork_rng(devices=devices):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            rows, cache_len = self._generation_rows(free, prompts, params.max_tokens)
            for batch in self._micro_batches(free, prompts, "generate", rows, even=self.compile_config is not None):
                start = time.perf_counter()
                completions = self._sample([prompts[i] for i in batch], params, cache_len)
                _store(results, batch, completions, time.perf_counter() - start)
            rows = self._rows(guided, lambda: self._scoring_request_bytes(guided, requests, prompts))
            for batch in self._micro_batches(guided, prompts, "score choices", rows):
                start = time.perf_counter()
                choices = [requests[i].guided_choice for i in batch]
                completions = self._choose([prompts[i] for i in batch], choices)
                _store(results, batch, completions, time.perf_counter() - start)
        return results  # type: ignore[return-value]

    def _prompt_ids(self, request: ChatRequest) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            list(request.messages), add_generation_prompt=True, tokenize=False, **self.chat_template_kwargs
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _generation_rows(self, free: list[int], prompts: list[list[int]], max_tokens: int) -> tuple[int, int]:
        """(micro-batch rows, static cache length) for generating ``free``'s prompts."""
        longest = max((len(prompts[i]) for i in free), default=0)
        if self.static_cache and free:
            self._cache_len = max(self._cache_len, bucket_cache_len(longest + max_tokens))
        cache_len = self._cache_len if self.static_cache else longest + max_tokens
        eager = getattr(self.model.config, "_attn_implementation", None) in (None, "eager")
        dtype_bytes = self.model.dtype.itemsize
        rows = self._rows(free, lambda: generation_row_bytes(self.model.config, dtype_bytes, longest, cache_len, eager))
        if self.compile_config is not None and rows < len(free):  # memory-bound: buckets must fit too
            rows = bucket_floor(rows)
        return rows, cache_len

    def _rows(self, indices: list[int], row_bytes) -> int:
        """Micro-batch size for ``indices``: the explicit ``micro_batch_size``, else (``"auto"``) what fits
        in free GPU memory at ``row_bytes()`` per request, or ``CPU_MICRO_BATCH`` off CUDA."""
        if self.micro_batch_size != "auto":
            return self.micro_batch_size
        if self.device.type != "cuda" or not indices:
            return CPU_MICRO_BATCH
        size = rows_that_fit(free_cuda_bytes(self.device), row_bytes(), len(indices))
        logger.info("auto micro-batch: %d rows for %d requests", size, len(indices))
        return size

    def _scoring_request_bytes(self, guided: list[int], requests, prompts: list[list[int]]) -> int:
        """GPU bytes of one guided request's choice-scoring rows (the longest prompt, longest choice, most choices)."""
        choices = {c for i in guided for c in requests[i].guided_choice}
        tail = max(len(self.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in choices) + 1
        width = max(len(prompts[i]) for i in guided) + tail
        most = max(len(requests[i].guided_choice) for i in guided)
        return most * scoring_row_bytes(self.model.config, self.model.dtype.itemsize, width)

    def _micro_batches(
        self, indices: list[int], prompts: list[list[int]], what: str, size: int, even: bool = False
    ) -> Iterable[list[int]]:
        """Cut request indices into micro-batches of at most ``size``, longest prompts first, behind a
        progress bar; ``even``: as equal as possible (one shape per call for a compiled decode step)."""
        from tqdm.auto import tqdm

        order = sorted(indices, key=lambda i: len(prompts[i]), reverse=True)
        if even:
            chunks = even_chunks(order, size)
        else:
            chunks = [order[s : s + size] for s in range(0, len(order), size)]
        return tqdm(chunks, desc=what, unit="batch", disable=not self.show_progress or not chunks)

    def _sample(self, prompts: list[list[int]], params: SamplingParams, cache_len: int) -> list[Completion]:
        """Generate for one micro-batch of token-id prompts (left-padded); ``cache_len`` sizes a static cache."""
        import torch
        from transformers import StoppingCriteriaList

        rows, options = len(prompts), {}
        if self.static_cache:
            options = {"cache_implementation": "static", "max_cache_len": cache_len}
        if self.compile_config is not None:  # fill the rows up to their bucket; the fillers finish at once
            filled = bucket_rows(rows)
            done = torch.arange(filled, device=self.device) >= rows
            prompts = prompts + [prompts[-1]] * (filled - rows)
            options["stopping_criteria"] = StoppingCriteriaList([FinishedRows(done)])
        batch = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.device)
        sampling = {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
        out = self._generate(
            **batch,
            **options,
            max_new_tokens=params.max_tokens,
            do_sample=params.temperature > 0,
            **(sampling if params.temperature > 0 else {}),
            stop_strings=list(params.stop) or None,
            tokenizer=self.tokenizer if params.stop else None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
        )
        new_tokens = out[:rows, batch["input_ids"].shape[1] :].tolist()
        return [self._finish(p, ids, params) for p, ids in zip(prompts[:rows], new_tokens)]

    def _generate(self, **kwargs):
        """``model.generate``, compiled when ``compile_config`` is set; a compiled call failing with anything
        but out-of-memory is retried uncompiled (from the same RNG state), and compiling is off from then on."""
        import torch

        if self.compile_config is None:
            return self.model.generate(**kwargs, disable_compile=True)
        devices = [self.device] if self.device.type == "cuda" else []
        rng = torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices]
        try:
            return self.model.generate(**kwargs, compile_config=self.compile_config)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, ImportError) as err:  # dynamo/inductor errors are RuntimeErrors
            logger.warning("compiled decoding failed (%s: %s); decoding uncompiled from now on",
                           type(err).__name__, err)
            self.compile_config = None
            torch.set_rng_state(rng[0])
            for device, state in zip(devices, rng[1]):
                torch.cuda.set_rng_state(state, device)
            return self.model.generate(**kwargs, disable_compile=True)

    def _finish(self, prompt: list[int], ids: list[int], params: SamplingParams) -> Completion:
        """Trim one generated row at EOS / stop string and count its tokens."""
        finish = "length"
        eos_at = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        if eos_at is not None:
            ids, finish = ids[: eos_at + 1], "stop"
        else:
            while ids and ids[-1] == self.tokenizer.pad_token_id:
                ids = ids[:-1]  # padding after the row ended on a stop string
        text = self._decode(ids)
        cut = min((text.find(s) for s in params.stop if s in text), default=-1)
        if cut >= 0:
            ids, text, finish = self._tokens_through(ids, cut, params.stop), text[:cut], "stop"
        return Completion(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            latency_s=0.0,
            finish_reason=finish,
            extra={"token_ids": ids},
        )

    def _tokens_through(self, ids: list[int], cut: int, stops: tuple[str, ...]) -> list[int]:
        """Shortest prefix of ``ids`` whose text holds a stop string starting at ``cut``."""
        lo, hi = 1, len(ids)
        while lo < hi:  # containment only grows with the prefix, so binary search
            mid = (lo + hi) // 2
            text = self._decode(ids[:mid])
            if any(text.startswith(s, cut) for s in stops):
                hi = mid
            else:
                lo = mid + 1
        return ids[:lo]

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _choose(self, prompts: list[list[int]], choices: list[tuple[str, ...]]) -> list[Completion]:
        """Score every (request, choice) pair in one forward pass; keep each request's best choice.

        A choice's score is ``log p(choice tokens + EOS | prompt)``, summed over its tokens.
        """
        import torch

        if any(not c for c in choices):
            raise ValueError("guided_choice must list at least one choice")
        eos = min(self.eos_ids)
        pairs = [
            (prompt, self.tokenizer(c, add_special_tokens=False)["input_ids"] + [eos])
            for prompt, options in zip(prompts, choices)
            for c in options
        ]
        lengths = torch.tensor([len(p) + len(t) for p, t in pairs], device=self.device)
        width = int(lengths.max())
        pad = self.tokenizer.pad_token_id
        rows = [p + t + [pad] * (width - len(p) - len(t)) for p, t in pairs]  # right padding
        input_ids = torch.tensor(rows, device=self.device)
        mask = (torch.arange(width, device=self.device)[None, :] < lengths[:, None]).long()
        logprobs = self.model(input_ids=input_ids, attention_mask=mask).logits.float().log_softmax(-1)
        scores = []
        for row, (prompt, tail) in enumerate(pairs):
            # logits at position k predict token k + 1, so the tail is scored from len(prompt) - 1
            span = logprobs[row, len(prompt) - 1 : len(prompt) - 1 + len(tail)]
            scores.append(span.gather(-1, torch.tensor(tail, device=self.device)[:, None]).sum().item())
        completions, row = [], 0
        for prompt, options in zip(prompts, choices):
            own = scores[row : row + len(options)]
            best = max(range(len(options)), key=own.__getitem__)
            completions.append(
                Completion(
                    text=options[best],
                    prompt_tokens=len(prompt),
                    completion_tokens=len(pairs[row + best][1]),
                    latency_s=0.0,
                    extra={"choice_logprobs": dict(zip(options, own))},
                )
            )
            row += len(options)
        return completions


def _eos_ids(config_eos: int | list[int] | None, tokenizer_eos: int | None) -> set[int]:
    """All token ids that end a reply: the model's generation config ones plus the tokenizer's."""
    ids = set(config_eos if isinstance(config_eos, list) else [config_eos])
    ids.add(tokenizer_eos)
    ids.discard(None)
    if not ids:
        raise ValueError("neither the model's generation config nor the tokenizer defines an EOS token")
    return ids


def _store(results: list, batch: list[int], completions: list[Completion], seconds: float) -> None:
    """Put a micro-batch's completions at their input positions, each with an even share of its time."""
    for i, completion in zip(batch, completions):
        results[i] = replace(completion, latency_s=seconds / len(batch))
