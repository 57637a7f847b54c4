"""What fits one 80 GB card for larger GRPO students, ESTIMATED from ``bench_grpo_step.py``'s measured 0.6B run
(issue 18 item 2: "say what fits for 1.7B and 8B"). Nothing here is measured; the printout says so."""

from __future__ import annotations

import torch

from agentark_core.llm.hf_batching import kv_bytes_per_token
from bench.bench_grpo_step import GIB, LARGER, QWEN3_06B

CARD_BYTES = 80e9  # an "80 GB" H100: 80e9 bytes as sold (~74.5 GiB usable after the CUDA context)


def shape_numbers(shape: dict) -> tuple[int, int]:
    """``(parameters, KV-cache bytes per token in bf16)`` of a Qwen3 shape (counted on the meta device)."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(Qwen3Config(**shape))
    return sum(p.numel() for p in model.parameters()), kv_bytes_per_token(Qwen3Config(**shape), 2)


def training_rest(result: dict) -> float | None:
    """A measured variant's torch peak less its parameter-proportional bytes and (colocated engine) the engine's
    weights + KV cache: the activations, logits and temporaries of one update micro-batch. None if unknown."""
    if not result["memory"]:
        return None
    engine = result.get("engine", {})
    if "budget" in engine and not {"kv_cache", "weights"} <= engine.keys():
        return None
    return result["memory"]["peak_allocated"] - result["trained_bytes"] - engine.get("kv_cache", 0.0) \
        - engine.get("weights", 0)  # fmt: skip


def estimate_larger(results: list[dict], model_config: str, completions: int, completion_tokens: int,
                    grad_accum: int = 1) -> None:
    """ESTIMATE what fits one 80 GB card for larger students, from the measured 0.6B bytes.

    Training side = the parameter-proportional bytes scaled by the parameter count + the rest of the
    measured torch peak (:func:`training_rest`, the smallest over the variants: activations, logits,
    temporaries of one update micro-batch at ``grad_accum``) kept as measured (low) or scaled by
    hidden x layers (high). Engine = bf16 weights + KV cache of every rollout token at once + 2 GiB
    (assumed: CUDA graphs, sampler buffers). With sleep mode the engine's memory is freed during the
    update, so the card must hold the larger of the two, not their sum.
    """
    rests = {r["variant"]: (rest, r) for r in results if (rest := training_rest(r)) is not None}
    if not rests or model_config != "qwen3-0.6b":
        return
    variant, (rest, measured) = min(rests.items(), key=lambda item: item[1][0])
    n0, _ = shape_numbers(QWEN3_06B)
    tokens = completions * (256 + completion_tokens)
    print(f"\nESTIMATE (scaled from the measured 0.6B bytes, not measured) for one {CARD_BYTES / 1e9:.0f} GB card, "
          f"PRM the policy's size, {tokens} rollout tokens in flight, update micro-batches of "
          f"{completions // grad_accum} completions (training rest {rest / GIB:.1f} GiB from the {variant} run):")
    for name, shape in LARGER.items():
        n, kv = shape_numbers(shape)
        train = measured["trained_bytes"] * n / n0
        act = (rest, rest * shape["hidden_size"] * shape["num_hidden_layers"] / (1024 * 28))
        engine = 2 * n + kv * tokens + 2 * GIB
        low, high = (train + a for a in act)
        verdict = ("fits" if high + engine <= CARD_BYTES else "fits with sleep mode" if high <= CARD_BYTES
                   and engine <= CARD_BYTES else "fits only at the low estimate" if low + engine <= CARD_BYTES
                   else "does NOT fit: shard it (ZeRO-3 / FSDP over GPUs) or train LoRA adapters")  # fmt: skip
        print(f"  {name} ({n / 1e9:.2f}B params): training {low / GIB:.0f}-{high / GIB:.0f} GiB + engine "
              f"{engine / GIB:.0f} GiB -> {verdict}")  # fmt: skip
