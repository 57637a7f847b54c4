"""Model shapes for cost estimates: parameter count and KV-cache bytes from a config's dimensions.

``agentark plan`` estimates GPU time and memory before any model is downloaded, so the shapes of
the paper's models (teachers, students, verifier, judge; PAPER.md) are kept here, copied from each
hub repository's ``config.json`` (the ``text_config`` of multimodal ones); a local model folder's
``config.json`` is read instead, and a hub id the table lacks is read from the local Hugging Face
cache when it is there. A name none of these knows is ``None``: its stage is not estimated.

Parameters of a decoder with gated MLP (Llama / Qwen3 / Gemma layout)::

    per layer  = hidden·(heads·head_dim) + 2·hidden·(kv_heads·head_dim)      (q, k, v)
               + (heads·head_dim)·hidden                                   (o)
               + 3·hidden·intermediate                                     (gate, up, down)
    total      = layers·per layer + vocab·hidden · (1 if tied else 2)      (embedding, LM head)

Norm weights (a few hidden-size vectors per layer) are left out: < 0.01% of any model here.
Qwen3-8B gives 8.19e9 and Qwen3-32B 32.76e9 (model cards: 8.2B, 32.8B).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BF16_BYTES = 2


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a decoder-only transformer that set its compute and memory."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool

    @property
    def params(self) -> int:
        """Weights, embedding and LM head included (the LM head once more unless tied)."""
        attn = self.hidden * self.heads * self.head_dim * 2 + 2 * self.hidden * self.kv_heads * self.head_dim
        per_layer = attn + 3 * self.hidden * self.intermediate
        return self.layers * per_layer + self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def weight_bytes(self) -> int:
        """bf16 weights, what one decode step reads once (a tied embedding is read once, as the LM head)."""
        return self.params * BF16_BYTES

    @property
    def kv_bytes_per_token(self) -> int:
        """bf16 keys + values of one token over all layers."""
        return 2 * self.layers * self.kv_heads * self.head_dim * BF16_BYTES


# Sources: the hub repository's config.json (``text_config`` for Gemma 3), read 2026-11.
KNOWN_SHAPES: dict[str, ModelShape] = {
    "Qwen/Qwen3-0.6B": ModelShape(1024, 28, 16, 8, 128, 3072, 151936, True),
    "Qwen/Qwen3-1.7B": ModelShape(2048, 28, 16, 8, 128, 6144, 151936, True),
    "Qwen/Qwen3-8B": ModelShape(4096, 36, 32, 8, 128, 12288, 151936, False),
    "Qwen/Qwen3-32B": ModelShape(5120, 64, 64, 8, 128, 25600, 151936, False),
    "meta-llama/Meta-Llama-3-8B-Instruct": ModelShape(4096, 32, 32, 8, 128, 14336, 128256, False),
    "google/gemma-7b": ModelShape(3072, 28, 16, 16, 256, 24576, 256000, True),
    "google/gemma-7b-it": ModelShape(3072, 28, 16, 16, 256, 24576, 256000, True),
    # language model only; the 0.4B SigLIP vision tower is not used for text
    "google/gemma-3-27b-it": ModelShape(5376, 62, 32, 16, 128, 21504, 262208, True),
    # the paper's answer verifier (App. A.3) and reasoning-quality judge (App. E)
    "Qwen/Qwen2.5-72B-Instruct": ModelShape(8192, 80, 64, 8, 128, 29568, 152064, False),
    "internlm/internlm2_5-20b-chat": ModelShape(6144, 48, 48, 8, 128, 16384, 92544, False),
}


def shape_from_config(config: dict) -> ModelShape:
    """A ``ModelShape`` from a transformers ``config.json`` mapping (its ``text_config`` when nested).

    Raises:
        ValueError: a dimension is missing, naming it.
    """
    config = config.get("text_config") or config
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        return ModelShape(
            hidden=hidden, layers=int(config["num_hidden_layers"]), heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            intermediate=int(config["intermediate_size"]), vocab=int(config["vocab_size"]),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)))
    except KeyError as exc:
        raise ValueError(f"model config has no {exc.args[0]!r}") from None


def model_shape(model: str) -> ModelShape | None:
    """The shape of ``model``: a local folder's ``config.json``, else the table of known hub ids, else
    the ``config.json`` of a hub id already in the local Hugging Face cache (nothing is downloaded).

    Raises:
        ValueError: a ``config.json`` that is unreadable or lacks a dimension (named).
    """
    folder = Path(model).expanduser()
    config_file = folder / "config.json"
    if model and folder.is_dir() and config_file.is_file():
        return _read_shape(config_file)
    if model in KNOWN_SHAPES:
        return KNOWN_SHAPES[model]
    cached = _cached_config(model)
    return _read_shape(cached) if cached is not None else None


def _read_shape(config_file: Path) -> ModelShape:
    try:
        return shape_from_config(json.loads(Path(config_file).read_text()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_file}: {exc}") from None


def _cached_config(model: str) -> Path | None:
    """``config.json`` of hub id ``model`` in the local Hugging Face cache, if there (no network)."""
    if model.count("/") != 1:
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None
