# One-command set-up: `make demo` and `make test` create .venv and install the
# core and the plugins (torch pinned in constraints.txt) before they run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := plugins/svip plugins/baselines plugins/epsilon
PLUGIN_PROJECTS := $(addsuffix /pyproject.toml,$(PLUGINS))
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile $(PLUGIN_PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch torchvision
	$(PIP) -e '.[test,glove]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

# svip and the ViT baseline on `synthetic` under the validated protocol, side by side (~7 min on 2 cores
# after set-up; the first run also pretrains the tiny backbone, once, into the cache)
demo: $(STAMP)
	$(BIN)/zslbench run svip --dataset synthetic --protocol gbu --tag demo -q
	$(BIN)/zslbench run baseline --dataset synthetic --protocol gbu --tag demo -q
	$(BIN)/zslbench compare svip baseline --dataset synthetic --tag demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only --benchmark-json=.benchmarks/latest.json

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
