"""make_generator: name lookup, lazy backend imports, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentark_core.llm.factory import BACKENDS, make_generator
from agentark_core.llm.types import Generator, SamplingParams
from agentark_core.toy.tiny import make_tiny_model


def test_known_backends():
    assert {"openai", "transformers", "vllm"} <= set(BACKENDS.names())


def test_unknown_backend_lists_valid_names():
    with pytest.raises(KeyError, match="unknown backend 'tgi'; valid: .*openai.*transformers.*vllm"):
        make_generator("tgi", model="m")


def test_transformers_backend_is_built_and_generates(tmp_path):
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.llm.types import ChatRequest

    gen = make_generator("transformers", model=make_tiny_model(tmp_path / "tiny"), show_progress=False)
    assert isinstance(gen, TransformersGenerator) and isinstance(gen, Generator)
    [completion] = gen.generate([ChatRequest.user("hi")], SamplingParams(temperature=0, max_tokens=3))
    assert 1 <= completion.completion_tokens <= 3


def test_bad_option_names_the_backend():
    with pytest.raises(TypeError, match="backend 'openai' got a bad option: .*'base_uri'"):
        make_generator("openai", base_uri="http://x/v1", model="m")


def test_dotted_path_escape_hatch():
    dotted = "agentark_core.llm.openai_backend:OpenAIGenerator"
    gen = make_generator(dotted, base_url="http://x/v1", model="m")
    assert type(gen).__name__ == "OpenAIGenerator"


def test_openai_backend_does_not_import_torch():
    code = (
        "import sys; from agentark_core.llm.factory import make_generator; "
        "make_generator('openai', base_url='http://x/v1', model='m'); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vllm_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail whether or not it is installed
    with pytest.raises(ImportError, match=r"pip install agentark\[vllm\]"):
        make_generator("vllm", model="m")
