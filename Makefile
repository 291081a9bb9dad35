# Corral developer entry points. Every target installs what it needs first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.corral-installed
DEMO_DIR ?= /tmp/corral-demo

.PHONY: venv test lint demo demo-down bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/install-deps.sh
	bash scripts/install-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check corral tests bench
	$(VENV)/bin/mypy

test: venv
	$(VENV)/bin/ruff check corral tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests

demo: venv
	bash scripts/demo.sh $(DEMO_DIR)

demo-down: venv
	$(VENV)/bin/corral vcluster down --dir $(DEMO_DIR)

bench: venv
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) build *.egg-info
