"""Reasoning-token perplexity of a causal LM on gold traces (paper §4).

Teacher forcing over ``chat(user=prompt, assistant=reasoning + "\\n" + answer)``: the
perplexity is exp of the mean NLL over REASONING tokens only; prompt tokens (the
whole rendered user turn and the assistant header) and final-answer tokens are masked
out. Spans are located by character offsets (``offset_mapping``) in the rendered chat:
a token counts when it holds at least one reasoning character and no prompt or answer
character (so a token like ``".\\n"`` that ends the reasoning counts, a lone separator
newline does not).

Example:
    >>> result = reasoning_perplexity("/models/student", prompts, reasonings, answers)  # doctest: +SKIP
    >>> result.value, result.per_item                                                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from agentark_core.evaluate.metrics import MetricResult

log = logging.getLogger(__name__)


def reasoning_mask(tokenizer, prompt: str, reasoning: str, answer: str) -> tuple[list[int], list[bool]]:
    """Tokenise one trace in the chat template and mark its reasoning tokens.

    Args:
        tokenizer: a fast tokenizer with a chat template (offsets are needed).
        prompt: the user message.
        reasoning: the gold reasoning (must be non-empty).
        answer: the gold final answer, placed after ``"\\n"``.

    Returns:
        ``(input_ids, is_reasoning)`` of equal length.

    Raises:
        ValueError: empty reasoning, the template does not render the completion verbatim,
            or no token lies inside the reasoning.
    """
    if not reasoning.strip():
        raise ValueError("reasoning is empty: there is nothing to score")
    completion = f"{reasoning}\n{answer}"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}], tokenize=False
    )
    start = text.rfind(completion)
    if start < 0:
        raise ValueError(
            f"the chat template does not render the completion {completion[:40]!r} verbatim "
            "(leading/trailing whitespace stripped by the template?)"
        )
    reasoning_end, answer_start = start + len(reasoning), start + len(reasoning) + 1
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        lo >= start and hi <= answer_start and lo < reasoning_end and hi > lo
        for lo, hi in enc["offset_mapping"]
    ]
    if not any(mask):
        raise ValueError(f"no token lies inside the reasoning {reasoning[:40]!r}")
    return list(enc["input_ids"]), mask


def _load(model: Any, tokenizer: Any):
    if isinstance(model, str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
        model = AutoModelForCausalLM.from_pretrained(model)
    if tokenizer is None:
        raise ValueError("a tokenizer is required when model is not a path")
    return model, tokenizer


def _batch_nll(model, batch: list[tuple[list[int], list[bool]]], pad_id: int) -> list[tuple[float, int]]:
    """Summed reasoning-token NLL and reasoning-token count of each right-padded sequence."""
    import torch
    import torch.nn.functional as F

    width = max(len(ids) for ids, _ in batch)
    device = next(model.parameters()).device
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    counted = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, (seq, mask) in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        counted[row, : len(seq)] = torch.tensor(mask)
    ids, attention, counted = ids.to(device), attention.to(device), counted.to(device)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=attention).logits  # (batch, seq_len, vocab)
    nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), ids[:, 1:], reduction="none"
    )  # (batch, seq_len - 1): NLL of token t+1 given tokens <= t
    target = counted[:, 1:]
    sums = (nll * target).sum(dim=1)
    return [(float(s), int(c)) for s, c in zip(sums, target.sum(dim=1))]


def reasoning_perplexity(
    model: Any,
    prompts: Sequence[str],
    reasonings: Sequence[str],
    answers: Sequence[str],
    tokenizer: Any = None,
    batch_size: int = 8,
) -> MetricResult:
    """Per-trace and corpus perplexity of ``model`` on the reasoning tokens of gold traces.

    Args:
        model: a causal LM (``transformers``) or a path to one.
        prompts, reasonings, answers: aligned texts of each trace.
        tokenizer: the model's fast tokenizer (loaded from ``model`` when it is a path and this is None).
        batch_size: traces per forward pass.

    Returns:
        ``MetricResult`` with ``value`` = exp(total NLL / total reasoning tokens) over all traces,
        ``per_item`` = each trace's perplexity, ``details["tokens"]`` = reasoning tokens counted.
    """
    if not len(prompts) == len(reasonings) == len(answers):
        raise ValueError(f"{len(prompts)} prompts, {len(reasonings)} reasonings, {len(answers)} answers")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model, tokenizer = _load(model, tokenizer)
    model.eval()
    encoded = []
    for i, texts in enumerate(zip(prompts, reasonings, answers)):
        try:
            encoded.append(reasoning_mask(tokenizer, *texts))
        except ValueError as err:
            raise ValueError(f"trace {i}: {err}") from err
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    totals: list[tuple[float, int]] = []
    for start in range(0, len(encoded), batch_size):
        totals.extend(_batch_nll(model, encoded[start : start + batch_size], pad_id))
    per_item = [math.exp(s / c) for s, c in totals]
    n_tokens = sum(c for _, c in totals)
    value = math.exp(sum(s for s, _ in totals) / n_tokens) if totals else None
    log.info(
        "reasoning perplexity %.3f over %d traces, %d tokens", value or float("nan"), len(totals), n_tokens
    )
    return MetricResult(value, len(per_item), per_item, details={"tokens": float(n_tokens)})
