"""Synthetic training workload of the training benchmarks (bench_train_mfu, profile_train_step,
bench_multi_gpu): variable-length SFT and PRM rows, and the model-FLOP count of one trained example
(formula in bench_train_mfu's docstring)."""

from __future__ import annotations

import random

import torch

WORDS = [
    "the",
    "sum",
    "of",
    "and",
    "is",
    "so",
    "we",
    "add",
    "then",
    "carry",
    "each",
    "term",
    "step",
    "value",
    "gives",
    "next",
    "total",
    "check",
]


def make_text(rng: random.Random, n_words: int) -> str:
    """Arithmetic-flavoured filler text of ``n_words`` words."""
    return " ".join(
        str(rng.randint(0, 999)) if rng.random() < 0.3 else rng.choice(WORDS) for _ in range(n_words)
    )


def sft_rows(n: int, min_words: int, max_words: int, seed: int = 0) -> list[dict]:
    """``sft_examples`` rows whose completion length is uniform in [min_words, max_words] words."""
    rng = random.Random(seed)
    return [
        {
            "prompt": make_text(rng, rng.randint(20, 60)),
            "reasoning": make_text(rng, rng.randint(min_words, max_words)),
            "answer": f"Final Answer: {rng.randint(0, 99)}",
            "weight": 1.0,
        }
        for _ in range(n)
    ]


def prm_rows(n_questions: int, min_words: int, max_words: int, seed: int = 0) -> list[dict]:
    """``prm_examples`` rows: 4 traces per question, 3-8 steps each, mixed labels."""
    rng = random.Random(seed)
    rows = []
    for q in range(n_questions):
        prompt = make_text(rng, rng.randint(20, 60))
        for t in range(4):
            n_steps = rng.randint(3, 8)
            words = rng.randint(min_words, max_words) // n_steps
            labels = [1] * n_steps if t == 0 else [int(rng.random() < 0.5) for _ in range(n_steps)]
            rows.append(
                {
                    "question_id": f"q{q}",
                    "trace_id": f"q{q}-{t}",
                    "prompt": prompt,
                    "steps": [make_text(rng, max(words, 1)) for _ in range(n_steps)],
                    "step_labels": labels,
                }
            )
    return rows


def model_shape(path: str) -> dict:
    """The numbers the FLOP formula needs, read off the saved model."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    body = sum(p.numel() for name, p in model.named_parameters() if ".layers." in name)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    return {
        "n_body": body,
        "lm_head": config.vocab_size * config.hidden_size,
        "layers": config.num_hidden_layers,
        "d_attn": config.num_attention_heads * head_dim,
    }


def example_flops(shape: dict, length: int, scored: int, lm_head: bool) -> float:
    """Model FLOPs of one trained example (formula in the module docstring)."""
    flops = 6 * shape["n_body"] * length + 6 * shape["layers"] * shape["d_attn"] * length**2
    return flops + (6 * shape["lm_head"] * scored if lm_head else 0)
