"""Batch shapes for the ``transformers`` backend on a GPU (issue 18): micro-batches sized from free
memory, and bucketed batch and cache shapes so a compiled decode step is rarely recompiled.

Why: a fixed micro-batch of 16 left an 80 GB card nearly idle on the debate setting (0.9% of the
bandwidth floor), and a compiled decode step (``torch.compile`` with CUDA graphs) is specialised to its
input shapes, so every new (batch rows, cache length) pair costs a compile of tens of seconds.

How a micro-batch is sized (``micro_batch_size="auto"``) — one request's row costs, in bytes:
- its static KV cache: ``kv_bytes_per_token(config) * cache_len`` (layers x 2 (K and V) x KV heads x head
  dim x dtype bytes per token, ``cache_len`` = bucketed longest prompt + ``max_tokens``);
- the prefill's activations of one layer: ``prompt_len * (4 * hidden + 3 * intermediate) * dtype bytes``
  (residual, norm, attention in/out, the MLP's gate/up/activation), plus the ``heads x prompt_len^2``
  score matrix in float32 where the attention is the eager (materialised) kernel;
- the last position's logits three times in float32 (logits, processed scores, probabilities);
and a micro-batch gets ``MEMORY_FRACTION`` of the free GPU memory (free + what torch's allocator holds
unused) minus ``RESERVED_BYTES`` (CUDA graph pools, cuBLAS workspaces, fragmentation), capped at
``MAX_MICRO_BATCH`` rows and at the number of requests. Where the decode step is compiled, a call's
requests are cut into equal-size micro-batches (``even_chunks``), so one call has one batch shape, and a
memory-bound size is rounded down to a bucket (``bucket_floor``).

Buckets (only where the decode step is compiled): rows are rounded up to a power of two up to 32 and
to a multiple of 32 above (the extra rows repeat the batch's last prompt and are marked finished at the
first step, see ``FinishedRows``); the cache length to a multiple of ``CACHE_LEN_STEP``. The prefill
runs uncompiled, so prompt widths need no bucket.

Also here: the decode options' checks (``check_decode_options``) and the decode step's
``CompileConfig`` (``decode_compile_config``), which falls back to uncompiled decoding with a warning
where ``torch.compile`` cannot run.

Example:
    >>> bucket_rows(5), bucket_rows(33), bucket_cache_len(609 + 256)
    (8, 64, 896)
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

CPU_MICRO_BATCH = 16  # "auto" on a CPU: the old fixed default (small batches, no memory to size from)
MAX_MICRO_BATCH = 512  # beyond this a decode step is compute-bound on one GPU; larger buys nothing
MEMORY_FRACTION = 0.85
RESERVED_BYTES = 2 << 30
CACHE_LEN_STEP = 128


def kv_bytes_per_token(config, dtype_bytes: int) -> int:
    """Bytes of KV cache one token takes across all layers: layers x 2 x KV heads x head dim x dtype bytes.

    Args:
        config: a transformers model config (its text config is read for multimodal ones).
        dtype_bytes: bytes per cache element (2 for bf16/fp16, 4 for fp32).
    """
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return text.num_hidden_layers * 2 * kv_heads * head_dim * dtype_bytes


def generation_row_bytes(config, dtype_bytes: int, prompt_len: int, cache_len: int, eager_attention: bool) -> int:
    """GPU bytes one request adds to a generating micro-batch (see the module docstring)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    intermediate = getattr(text, "intermediate_size", None) or 4 * text.hidden_size
    prefill = prompt_len * (4 * text.hidden_size + 3 * intermediate) * dtype_bytes
    if eager_attention:
        prefill += text.num_attention_heads * prompt_len * prompt_len * 4
    logits = 3 * text.vocab_size * 4
    return kv_bytes_per_token(config, dtype_bytes) * cache_len + prefill + logits


def scoring_row_bytes(config, dtype_bytes: int, length: int) -> int:
    """GPU bytes one (prompt + choice) row adds to a choice-scoring forward: its logits at every position
    (model dtype, then float32 twice for ``.float().log_softmax()``) plus one layer's activations."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    intermediate = getattr(text, "intermediate_size", None) or 4 * text.hidden_size
    per_token = text.vocab_size * (dtype_bytes + 8) + (4 * text.hidden_size + 3 * intermediate) * dtype_bytes
    return length * per_token


def rows_that_fit(free_bytes: int, row_bytes: int, requests: int) -> int:
    """Micro-batch rows for ``requests`` requests of ``row_bytes`` each in ``free_bytes`` (at least 1)."""
    budget = free_bytes * MEMORY_FRACTION - RESERVED_BYTES
    return max(1, min(MAX_MICRO_BATCH, requests, int(budget // max(row_bytes, 1))))


def free_cuda_bytes(device) -> int:
    """Free memory on a CUDA ``device``: the driver's free bytes plus what torch's allocator holds unused."""
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def even_chunks(order: list[int], size: int) -> list[list[int]]:
    """Cut ``order`` into the fewest chunks of at most ``size``, as equal as possible, in order.

    Example:
        >>> even_chunks(list(range(5)), 4)
        [[0, 1, 2], [3, 4]]
    """
    if not order:
        return []
    count = math.ceil(len(order) / size)
    base, extra = divmod(len(order), count)
    chunks, start = [], 0
    for k in range(count):
        end = start + base + (1 if k < extra else 0)
        chunks.append(order[start:end])
        start = end
    return chunks


def bucket_rows(rows: int) -> int:
    """Rows a compiled micro-batch runs with: the next power of two up to 32, else a multiple of 32."""
    if rows <= 32:
        return 1 << max(0, rows - 1).bit_length()
    return math.ceil(rows / 32) * 32


def bucket_floor(rows: int) -> int:
    """The largest row bucket not above ``rows`` (``rows`` >= 1), for a memory-bound micro-batch size."""
    if rows < 64:
        return 1 << (rows.bit_length() - 1) if rows < 32 else 32
    return rows // 32 * 32


def bucket_cache_len(length: int) -> int:
    """Static cache length for a longest prompt + new tokens of ``length``: a multiple of ``CACHE_LEN_STEP``."""
    return math.ceil(length / CACHE_LEN_STEP) * CACHE_LEN_STEP


class FinishedRows:
    """A stopping criterion for ``generate(stopping_criteria=[...])`` reporting the rows flagged in ``done``
    (bool, ``(batch,)``) as finished from the first step: rows that only fill a bucket then emit padding and
    never hold the batch open. (transformers calls each criterion as ``(input_ids, scores) -> (batch,)``
    bools and ORs them.)"""

    def __init__(self, done) -> None:
        self.done = done

    def __call__(self, input_ids, scores, **kwargs):
        return self.done


def compile_unavailable(device_type: str, backend: str) -> str | None:
    """Why ``torch.compile`` with ``backend`` cannot run on ``device_type`` here, or None when it can."""
    import importlib.util

    import torch

    if not hasattr(torch, "compile") or not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported by this torch build or Python version"
    if backend == "inductor" and device_type == "cuda" and importlib.util.find_spec("triton") is None:
        return "the inductor backend needs triton, which is not installed"
    return None


def decode_compile_config(device_type: str, static_cache: bool, compile_decode: bool | None, options: dict | None):
    """The ``transformers.CompileConfig`` for the decode step, or None to decode uncompiled: off unless asked
    for or on CUDA with a static cache; a warning where ``torch.compile`` cannot run here."""
    from transformers import CompileConfig

    if compile_decode is False or (compile_decode is None and not (static_cache and device_type == "cuda")):
        return None
    options = options or {}
    missing = compile_unavailable(device_type, options.get("backend", "inductor"))
    if missing:
        logger.warning("torch.compile cannot run here (%s): decoding uncompiled", missing)
        return None
    config = CompileConfig(**options)
    config._compile_all_devices = device_type != "cuda"  # transformers compiles on accelerators only otherwise
    return config


def check_decode_options(micro_batch_size, static_cache, compile_decode, compile_options) -> None:
    """Fail early, naming the option, on a bad batching or decoding option."""
    from dataclasses import fields

    from transformers import CompileConfig

    if micro_batch_size != "auto" and (
        isinstance(micro_batch_size, bool) or not isinstance(micro_batch_size, int) or micro_batch_size < 1
    ):
        raise ValueError(f"micro_batch_size must be 'auto' or an int >= 1, got {micro_batch_size!r}")
    for name, value in (("static_cache", static_cache), ("compile_decode", compile_decode)):
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be true, false or null, got {value!r}")
    if compile_decode and static_cache is False:
        raise ValueError("compile_decode needs static_cache: a compiled decode step needs fixed cache shapes")
    if compile_options is not None:
        if not isinstance(compile_options, dict):
            raise ValueError(f"compile_options must be a mapping, got {compile_options!r}")
        valid = {f.name for f in fields(CompileConfig)}
        unknown = sorted(set(compile_options) - valid)
        if unknown:
            raise ValueError(f"compile_options: unknown {unknown}; valid: {sorted(valid)}")
