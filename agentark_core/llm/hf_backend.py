"""The ``transformers`` generation backend: batched, left-padded generation with the chat template.

Serves every stage that calls a model (debate rounds, Sec. 3.1; LLM verifiers and judges,
Sec. 3.2; student evaluation, Sec. 4) on one local device without a serving engine.

How a call runs:
- every request is rendered with the tokenizer's chat template (``add_generation_prompt=True``);
- requests are sorted by prompt length (longest first, so an out-of-memory error shows up on
  the first micro-batch) and cut into micro-batches of ``micro_batch_size``; results come back
  in input order;
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
import os
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import replace

from agentark_core.llm.reasoning import check_chat_template_kwargs
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

logger = logging.getLogger(__name__)


class TransformersGenerator:
    """A ``Generator`` over a local Hugging Face causal LM.

    Args:
        model: local path or hub id given to ``from_pretrained``.
        dtype: ``"auto"`` (the checkpoint's dtype) or a torch dtype name such as ``"bfloat16"``.
        device: ``"auto"`` (cuda when available, else cpu) or a torch device string.
        micro_batch_size: requests per forward batch.
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
        micro_batch_size: int = 16,
        show_progress: bool = True,
        trust_remote_code: bool = False,
        chat_template_kwargs: dict | None = None,
        threads: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
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
        self.eos_ids = _eos_ids(self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id)
        logger.info("loaded %s on %s (eos ids %s)", model, self.device, sorted(self.eos_ids))

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
        with torch_threads(self.threads), torch.inference_mode(), torch.random.fork_rng(devices=devices):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for batch in self._micro_batches(free, prompts, "generate"):
                start = time.perf_counter()
                completions = self._sample([prompts[i] for i in batch], params)
                _store(results, batch, completions, time.perf_counter() - start)
            for batch in self._micro_batches(guided, prompts, "score choices"):
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

    def _micro_batches(self, indices: list[int], prompts: list[list[int]], what: str) -> Iterable[list[int]]:
        """Cut request indices into micro-batches, longest prompts first, behind a progress bar."""
        from tqdm.auto import tqdm

        order = sorted(indices, key=lambda i: len(prompts[i]), reverse=True)
        chunks = [order[s : s + self.micro_batch_size] for s in range(0, len(order), self.micro_batch_size)]
        return tqdm(chunks, desc=what, unit="batch", disable=not self.show_progress or not chunks)

    def _sample(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """Generate for one micro-batch of token-id prompts (left-padded)."""
        batch = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.device)
        sampling = {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
        out = self.model.generate(
            **batch,
            max_new_tokens=params.max_tokens,
            do_sample=params.temperature > 0,
            **(sampling if params.temperature > 0 else {}),
            stop_strings=list(params.stop) or None,
            tokenizer=self.tokenizer if params.stop else None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
        )
        new_tokens = out[:, batch["input_ids"].shape[1] :].tolist()
        return [self._finish(p, ids, params) for p, ids in zip(prompts, new_tokens)]

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


def default_threads() -> int:
    """Torch threads for CPU generation when ``threads`` is unset: torch's own count when
    ``OMP_NUM_THREADS`` sets it, else half the usable cores (1 on a 2-core machine), at most 4.

    Small-batch decoding splits tiny matrix products over threads that wait for each other at
    every op; when another process takes a core, the waits dominate (measured on a loaded 2-core
    machine: 2 threads 10x slower than 1). Half the cores leaves room for the rest of the pipeline.
    """
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores // 2))


@contextmanager
def torch_threads(threads: int | None):
    """Run the block on ``threads`` torch threads (None = unchanged), then restore the count.

    The count is process-wide: generators running at once in one process share it.
    """
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
