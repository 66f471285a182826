# The two commands of the README. Both create .venv (Python 3.10+) on first use and install the
# project into it; torch/torchvision are pinned in pyproject.toml so a CPU machine never pulls CUDA.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: install run test test-fast lint viz bench browser lock

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

run: install  ## install, then run the default pipeline (digits, SGD vs SAM) on the CPU
	$(BIN)/kedro run

test: install browser  ## install, then run the whole test suite (slow end-to-end tests included)
	$(BIN)/python -m pytest

test-fast: install  ## the tests not marked slow (no end-to-end kedro/dvc runs): minutes, for the edit loop
	$(BIN)/python -m pytest -m "not slow"

lint: install  ## ruff over the tree: lint rules and formatting (pyproject.toml [tool.ruff])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Headless Chromium for the tests that render the report and kedro-viz (driven by playwright, without its
# browser download). Installed with apt-get when missing and we are root; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  command -v google-chrome >/dev/null 2>&1 || [ -n "$$SAMLAB_CHROMIUM" ] || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	      echo "chromium could not be installed: the browser tests will skip"; \
	  else echo "no chromium (and not root with apt-get): the browser tests will skip; set SAMLAB_CHROMIUM"; fi

viz: install  ## kedro-viz on http://127.0.0.1:4141
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1 --port 4141

bench: install  ## samlab's SAM step vs its peers (benchmarks/optim_step.py; ARGS="--rounds 7" for more rounds)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	OMP_NUM_THREADS=2 $(BIN)/python benchmarks/optim_step.py $(ARGS)

lock: install  ## dvc repro: rerun the DVC stages whose code/params/data changed, update dvc.lock (commit it)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
