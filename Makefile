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

.PHONY: install demo test bench dist readme-figures clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile $(PLUGIN_PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch torchvision
	$(PIP) -e '.[test]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

# svip and the ViT baseline on `synthetic` under the validated protocol, side by side (6 min 55 s on 2 idle cores
# from a fresh clone, set-up included; the first run also pretrains the tiny backbone, once, into the cache)
demo: $(STAMP)
	$(BIN)/zslbench run svip --dataset synthetic --protocol gbu --tag demo -q
	$(BIN)/zslbench run baseline --dataset synthetic --protocol gbu --tag demo -q
	$(BIN)/zslbench compare svip baseline --dataset synthetic --tag demo

# The numerics-marked tests run a second time on the scalar kernels: CI machines differ in CPU (AVX2 or
# AVX-512), and a test must hold on any of them (tests/conftest.py NUMERICS_MODULES).
test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -q -m numerics tests

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only --benchmark-json=.benchmarks/latest.json

# Each sdist first, then its wheel built from that sdist (so a file missing from an
# sdist fails here). No isolation: .venv already holds setuptools and build.
dist: $(STAMP)
	rm -rf dist
	for project in $(DISTRIBUTIONS); do $(BIN)/python -m build --no-isolation --outdir dist $$project || exit 1; done
	ls dist

# The figure and the report shown in README.md: the demo's runs (svip and baseline on `synthetic`, the
# validated protocol), 3 seeds: a benchmark that learns something, not the chance-level smoke test.
README_RUNS := .readme-runs
readme-figures: $(STAMP)
	rm -rf $(README_RUNS) docs/report
	for seed in 0 1 2; do for method in svip baseline; do \
	  $(BIN)/zslbench run $$method --dataset synthetic --protocol gbu --seed $$seed --out $(README_RUNS) --quiet || exit 1; \
	done; done
	$(BIN)/zslbench report svip baseline --dataset synthetic --runs $(README_RUNS) --out docs/report
	mkdir -p docs/img && cp docs/report/synthetic-curves.png docs/img/seen-unseen-curves.png

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks dist build $(README_RUNS)
