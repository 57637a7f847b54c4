"""Tiny real models for tests and smoke runs: a locally trained BPE tokenizer + a random-init Qwen3.

Nothing is downloaded: the tokenizer is trained on a built-in corpus in well under a
second and the model is initialised from a small config. Both are saved in HF format
so every consumer exercises the real ``from_pretrained`` path.

Example:
    >>> path = make_tiny_model("/tmp/tiny")          # doctest: +SKIP
    >>> AutoModelForCausalLM.from_pretrained(path)     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]

_CORPUS = [
    "Step 1: 12 + 7 = 19. Step 2: 19 * 3 = 57. Final Answer: 57",
    "Tom has 5 apples and buys 3 more. How many apples does he have? The answer is 8.",
    "These are the opinions of other agents. Use them as additional advice and give an updated answer.",
    "Question: Which option is correct? A) red B) blue C) green D) yellow. Answer: B",
    "The final answer is \\boxed{42}. #### 42",
    "user assistant system you are a helpful agent solve the problem step by step",
]


def train_tokenizer(vocab_size: int = 512):
    """Train a byte-level BPE tokenizer on the built-in corpus and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_qwen3_config(vocab_size: int, hidden: int = 32, layers: int = 2, heads: int = 4, **overrides):
    """A Qwen3 config small enough to train a few steps on a CPU in milliseconds."""
    from transformers import Qwen3Config

    kw = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "head_dim": hidden // heads,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
    }
    kw.update(overrides)
    return Qwen3Config(**kw)


def save_random_init(path: str | Path, tokenizer, config, seed: int = 0) -> str:
    """Initialise a causal LM from ``config`` (pad/eos from ``tokenizer``), save it with the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def make_tiny_model(path: str | Path, seed: int = 0, **config_overrides) -> str:
    """Build, save and return the path of a random-init tiny Qwen3 with its tokenizer."""
    tokenizer = train_tokenizer()
    return save_random_init(path, tokenizer, tiny_qwen3_config(len(tokenizer), **config_overrides), seed)
