"""The ``openai`` generation backend: any OpenAI-compatible chat server (e.g. ``vllm serve``) over HTTP.

Lets the teacher debate (Sec. 3.1) and the LLM verifier (Sec. 3.2) run against a model served
elsewhere, e.g. a large teacher behind ``vllm serve --tensor-parallel-size 8``.

How a call runs:
- one ``POST {base_url}/chat/completions`` per request, at most ``max_concurrency`` in flight
  (a thread pool of that size over one shared ``httpx.Client``); results come back in input order.
  A server batches only the requests it has: for throughput set ``max_concurrency`` to at least a
  round's requests (a debate shard's questions x agents) and at most what the server runs at once
  (``vllm serve --max-num-seqs``); the default 64 keeps a local ``vllm serve`` busy without flooding a
  rate-limited API (429s are retried with backoff). ``bench/bench_openai_serve_gpu.py`` measures it;
- a request that fails with a connection error, a timeout, HTTP 429 or 5xx is retried up to
  ``max_retries`` times with exponential backoff (``backoff_s * 2**attempt``); other 4xx fail at
  once; when retries run out the error names the URL and the last failure;
- the API key is read from the environment variable named ``api_key_env`` (never logged); no
  key means no ``Authorization`` header, which is what a local ``vllm serve`` expects;
- a request's seed is ``params.seed + its index in the batch``, so identical prompts in one batch
  (debate agents in round 1) still sample differently while the call stays reproducible;
- ``guided_choice`` is sent as vLLM's ``structured_outputs: {"choice": [...]}`` (or the pre-0.12
  ``guided_choice`` field, or nothing, per ``guided_field``) and the reply is parsed strictly:
  a reply equal to one choice (ignoring surrounding whitespace and case) becomes that choice,
  anything else is kept verbatim and flagged with ``extra["choice_valid"] = False``;
- token counts come from the response's ``usage``; ``latency_s`` is the request's own wall time,
  retries included; a reply arrives whole when generation ends, so ``timeout_s`` must cover the
  longest reply at the server's per-sequence speed under load (600 s by default: a 4096-token reply at
  ~20 tokens/s in a full batch takes ~200 s; a too-short timeout retries, and so repeats, work);
- ``chat_template_kwargs`` (e.g. ``{"enable_thinking": False}``) is sent as the request's
  ``chat_template_kwargs`` field (vLLM/SGLang servers; the OpenAI client's ``extra_body``); a reasoning
  server's ``reasoning_content`` (or ``reasoning``) becomes ``Completion.reasoning``; the choice's
  ``finish_reason`` maps to stop/length/error (``llm.reasoning.normalize_finish_reason``).

Example:
    >>> gen = OpenAIGenerator(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B")  # doctest: +SKIP
    >>> gen.generate([ChatRequest.user("2+2?")], SamplingParams(temperature=0))           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import httpx

from agentark_core.llm.reasoning import check_chat_template_kwargs, normalize_finish_reason
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams

logger = logging.getLogger(__name__)

GUIDED_FIELDS = ("structured_outputs", "guided_choice", "none")


class ServerError(RuntimeError):
    """The server could not produce a completion (unreachable, timing out, or answering with an error)."""


class OpenAIGenerator:
    """A ``Generator`` over an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server knows.
        api_key_env: NAME of the environment variable that holds the API key.
        max_concurrency: most requests in flight at once.
        timeout_s: per-request timeout in seconds (connect, read and write).
        max_retries: retries after the first attempt on connection errors, timeouts, 429 and 5xx.
        backoff_s: first retry delay; doubles on every further retry.
        guided_field: how ``guided_choice`` is sent: ``"structured_outputs"`` (vLLM >= 0.12),
            ``"guided_choice"`` (older vLLM) or ``"none"`` (plain OpenAI; strict parsing only).
        show_progress: show a tqdm bar over finished requests.
        chat_template_kwargs: extra chat-template variables sent with every request.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 64,
        timeout_s: float = 600.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        guided_field: str = "structured_outputs",
        show_progress: bool = True,
        chat_template_kwargs: dict | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if guided_field not in GUIDED_FIELDS:
            raise ValueError(f"unknown guided_field {guided_field!r}; valid: {', '.join(GUIDED_FIELDS)}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.guided_field = guided_field
        self.show_progress = show_progress
        self.chat_template_kwargs = check_chat_template_kwargs(chat_template_kwargs)
        headers = {}
        api_key = os.environ.get(api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        else:
            logger.info("$%s is not set; sending requests to %s without an API key", api_key_env, self.url)
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_concurrency),
        )

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Completion]:
        """Complete every request concurrently; returns one ``Completion`` per request, in input order.

        Args:
            requests: the conversations.
            params: decoding settings shared by the whole batch.

        Returns:
            completions aligned with ``requests``.

        Raises:
            ServerError: a request still failed after its retries (the message names the URL).
        """
        from tqdm.auto import tqdm

        bodies = [self._body(r, params, i) for i, r in enumerate(requests)]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = [pool.submit(self._complete, b, r.guided_choice) for b, r in zip(bodies, requests)]
            bar = tqdm(total=len(futures), desc="chat", unit="req", disable=not self.show_progress)
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            try:
                return [f.result() for f in futures]
            except ServerError:
                for future in futures:
                    future.cancel()  # fail fast: do not start requests still queued
                raise
            finally:
                bar.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _body(self, request: ChatRequest, params: SamplingParams, index: int) -> dict:
        body = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed + index
        if params.stop:
            body["stop"] = list(params.stop)
        if self.chat_template_kwargs:
            body["chat_template_kwargs"] = self.chat_template_kwargs
        if request.guided_choice is not None and self.guided_field == "structured_outputs":
            body["structured_outputs"] = {"choice": list(request.guided_choice)}
        elif request.guided_choice is not None and self.guided_field == "guided_choice":
            body["guided_choice"] = list(request.guided_choice)
        return body

    def _complete(self, body: dict, choices: tuple[str, ...] | None) -> Completion:
        start = time.perf_counter()
        reply = self._post_with_retries(body)
        try:
            choice = reply["choices"][0]
            message = choice["message"]
            text = message["content"] or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
            usage = reply["usage"]
            prompt_tokens, completion_tokens = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
        except (KeyError, IndexError, TypeError, ValueError) as err:
            problem = f"missing or bad {err}: {str(reply)[:300]}"
            raise ServerError(f"malformed reply from {self.url}: {problem}") from err
        extra = {}
        if choices is not None:
            matched = match_choice(text, choices)
            extra["choice_valid"] = matched is not None
            text = matched if matched is not None else text
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - start,
            finish_reason=normalize_finish_reason(choice.get("finish_reason")),
            extra=extra,
            reasoning=str(reasoning),
        )

    def _post_with_retries(self, body: dict) -> dict:
        """POST one body; retry transient failures with exponential backoff."""
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException as err:
                last = f"timed out after {self._client.timeout.read}s ({type(err).__name__})"
            except httpx.TransportError as err:
                last = f"cannot connect ({type(err).__name__}: {err})"
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise ServerError(f"POST {self.url} was rejected with {last}")
            tries = self.max_retries + 1
            logger.warning("POST %s failed (attempt %d/%d): %s", self.url, attempt + 1, tries, last)
        raise ServerError(f"POST {self.url} failed after {self.max_retries + 1} attempts; last error: {last}")


def match_choice(text: str, choices: Sequence[str]) -> str | None:
    """Return the choice ``text`` is exactly equal to, ignoring surrounding whitespace and case.

    Example:
        >>> match_choice(" True\\n", ("true", "false"))
        'true'
        >>> match_choice("true, probably", ("true", "false")) is None
        True
    """
    wanted = text.strip().casefold()
    return next((c for c in choices if c.strip().casefold() == wanted), None)
