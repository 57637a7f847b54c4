# One-command set-up: `make demo` runs the pipeline's default recipe, `make test` runs the CI test suite.
# Both create .venv (Python 3.11) and install the project on first use.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/agentark demo

test: setup
	AGENTARK_REQUIRE_S3=1 $(BIN)/python -m pytest -m "not gpu" -q

test-fast: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
