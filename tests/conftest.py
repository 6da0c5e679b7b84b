"""Shared fixtures: an isolated cache and run store, and the example third-party plugin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = REPO / "examples" / "third_party_plugin"
SHARED_DATA = REPO.parent / "shared" / "data"

#: Test modules whose numbers come from floating-point kernels (losses, gradients, metrics, model outputs).
#: `make test` runs them a second time with ATEN_CPU_CAPABILITY=default, so a test that holds only on this
#: machine's vector kernels (AVX2 vs AVX-512 sum in other orders) fails here before it fails on another CPU.
NUMERICS_MODULES = frozenset({
    "test_svip_reference", "test_svip", "test_svip_selection", "test_backbones", "test_engine", "test_evaluation",
    "test_epsilon", "test_multilabel_metrics", "test_classic_baselines", "test_generative_baselines",
    "test_published_protocol", "test_vit_baseline", "test_diagnostics", "test_transforms", "test_text_encoders",
    "test_clip", "test_model_evaluation", "test_score", "test_selection_curve",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in NUMERICS_MODULES:
            item.add_marker(pytest.mark.numerics)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and run store; nothing touches the user's."""
    base = tmp_path_factory.mktemp("zslbench")
    monkeypatch.setenv("ZSLBENCH_CACHE", str(base / "cache"))
    monkeypatch.setenv("ZSLBENCH_RUNS", str(base / "runs"))
    return base


@pytest.fixture
def train_on_batch():
    """``run(model, images, targets, class_attributes, optimiser, steps)``: optimiser steps on
    ``model.training_losses(...)["loss"]`` of one fixed batch; returns the loss of each step."""

    def run(model, images, targets, class_attributes, optimiser, steps: int) -> list[float]:
        history = []
        for _ in range(steps):
            loss = model.training_losses(images, targets, class_attributes)["loss"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            history.append(loss.item())
        return history

    return run


def write_dist_info(site: Path, name: str, version: str, entry_points: dict[str, str]) -> Path:
    """A minimal installed distribution (dist-info with METADATA and entry_points.txt) on ``site``."""
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[zslbench]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return dist


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """Installs the example third-party plugin as a throwaway distribution on sys.path."""
    from zslbench.plugins import load_plugins

    site = tmp_path / "site"
    write_dist_info(site, "zslbench-example", "0.1.0", {"example": "zslbench_example.plugin"})
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    load_plugins(force=True)
    yield site
    monkeypatch.undo()
    sys.modules.pop("zslbench_example.plugin", None)
    sys.modules.pop("zslbench_example.model", None)
    sys.modules.pop("zslbench_example", None)
    load_plugins(force=True)


@pytest.fixture
def forget_in_process(monkeypatch):
    """In-process registrations (``zslbench.register``) made by a test are forgotten after it."""
    from zslbench import plugins

    monkeypatch.setitem(plugins._state, "in_process", [])
    yield
    monkeypatch.undo()
    plugins.load_plugins(force=True)
