# selrob: two commands on a fresh machine.
#   make demo   set up everything, then run the main job (Fashion-MNIST sweep + HTML report)
#   make test   set up everything, then run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: demo test setup setup-test dataset browser lint bench clean

demo: setup dataset
	$(VENV)/bin/selrob demo

test: setup-test dataset browser
	$(PY) -m pytest -q

# `make demo` installs what the demo needs; `make test` adds the test-only extras
# (pytest, foolbox, playwright, Ray).
setup: $(STAMP)

setup-test: $(TEST_STAMP)

# The demo's set-up skips byte-compiling every installed module (about half its time) and
# compiles only what selrob imports (tools/compile_imports.py); the test set-up compiles the
# rest, as the tests and their Ray workers import more of it.
$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	PYTHONDONTWRITEBYTECODE= $(PY) tools/compile_imports.py
	touch $@

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m compileall -qq -j 0 $(VENV)/lib || true  # a few files are for newer Pythons
	touch $@

# Debian's dataset-fashion-mnist: installed when missing and we are root (no sudo prompts).
dataset:
	@if [ ! -e $(FASHION) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist \
	    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; }; \
	  else echo "Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist' (or pass --data-dir)"; exit 1; fi; \
	fi

# Debian's chromium, for the report's browser test (skipped when it cannot be installed).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || echo "chromium not installed: the browser test will be skipped"; \
	fi

lint: setup-test
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/ruff check src tests benchmarks tools

bench: setup dataset
	for f in benchmarks/*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) demo-runs runs .pytest_cache
