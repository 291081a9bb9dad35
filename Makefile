# Corral developer entry points. Every target installs what it needs first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.corral-installed
DEMO_DIR ?= /tmp/corral-demo

.PHONY: venv test lint demo demo-down bench clean bytecode install-iallocator

venv: $(STAMP)

# gnt-* commands start fast only with compiled bytecode: write it even where
# PYTHONDONTWRITEBYTECODE is set in the environment.
bytecode: venv
	$(PY) -m compileall -q corral

$(STAMP): pyproject.toml scripts/install-deps.sh
	bash scripts/install-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check corral tests bench
	$(VENV)/bin/mypy

test: bytecode
	$(VENV)/bin/ruff check corral tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n 2 tests/unit tests/architecture
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/unit --ignore=tests/architecture

demo: bytecode
	bash scripts/demo.sh $(DEMO_DIR)

demo-down: venv
	$(VENV)/bin/corral vcluster down --dir $(DEMO_DIR)

# `make bench` runs every benchmark; `make bench BENCH="rapi instances"` only those.
bench: bytecode
	$(PY) -m bench.run_all $(BENCH)

# Install Corral's allocator where Ganeti (and Corral) look for iallocators, as `corral`.
IALLOCATOR_DIR ?= /usr/lib/ganeti/iallocators
install-iallocator: venv
	mkdir -p $(IALLOCATOR_DIR)
	ln -sf $(abspath $(VENV))/bin/corral-iallocator $(IALLOCATOR_DIR)/corral

clean:
	rm -rf $(VENV) build *.egg-info
