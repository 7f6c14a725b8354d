# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
LINTED := $(wildcard src tests examples benchmarks scripts)

.PHONY: demo test docs lint format bench bench-alone clean

$(VENV)/.base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

$(VENV)/.demo: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[train,viz]"
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[test,train,viz]"
	touch $@

$(VENV)/.docs: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[train,viz,docs]"
	touch $@

$(VENV)/.bench: $(VENV)/.test
	$(PIP) install -q -e ".[bench]"
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/chainrule demo

test: $(VENV)/.test
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) -m pytest -n 2 tests src --doctest-modules

# The site, into site/: the tutorials' code runs while it builds (one BLAS thread: the models
# are small, and threads only fight on a shared machine); --strict turns any warning into an error.
docs: $(VENV)/.docs
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 \
	  $(VENV)/bin/mkdocs build --strict

format: $(VENV)/.test
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)

bench: $(VENV)/.bench
	$(PY) -m benchmarks.run $(BENCH_ARGS)

# The training steps again, each library in a process of its own (see benchmarks/alone.py).
bench-alone: $(VENV)/.bench
	$(PY) -m benchmarks.alone $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .ruff_cache
