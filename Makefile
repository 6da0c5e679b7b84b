# One-command set-up: `make demo` and `make test` create .venv and install the
# core and the plugins (torch pinned in constraints.txt) before they run.
# `make dist` builds the sdist and the wheel of every distribution into dist/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := plugins/svip plugins/baselines plugins/epsilon
PLUGIN_PROJECTS := $(addsuffix /pyproject.toml,$(PLUGINS))
DISTRIBUTIONS := . $(PLUGINS)
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install demo test bench dist clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile $(PLUGIN_PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch torchvision
	$(PIP) -e '.[test]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/zslbench run svip --dataset synthetic

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only --benchmark-json=.benchmarks/latest.json

# Each sdist first, then its wheel built from that sdist (so a file missing from an
# sdist fails here). No isolation: .venv already holds setuptools and build.
dist: $(STAMP)
	rm -rf dist
	for project in $(DISTRIBUTIONS); do $(BIN)/python -m build --no-isolation --outdir dist $$project || exit 1; done
	ls dist

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks dist build
