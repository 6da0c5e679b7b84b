"""End-to-end multi-label runs through the CLI, and the refusal of method/dataset task mismatches."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import registry
from zslbench.methods import MethodSpec
from zslbench.registry import Origin

REPO = Path(__file__).resolve().parent.parent


@dataclass
class _NoOptions:
    pass


@pytest.fixture
def multilabel_registry(monkeypatch):
    """The registries with the multi-label datasets, epsilon, mlzsl-baseline and a single-label dummy method.

    Works before and after the lead wires them into the plugins: only missing names are added.
    """
    from zslbench.plugins import load_plugins

    for plugin in ("epsilon", "baselines"):
        if importlib.util.find_spec(f"zslbench_{plugin}") is None:
            monkeypatch.syspath_prepend(str(REPO / "plugins" / plugin))
    load_plugins(force=True)
    from zslbench.data.multilabel_specs import dataset_specs
    from zslbench_baselines.mlzsl_baseline import MLZSL_METHODS
    from zslbench_epsilon.plugin import method_specs

    origin = Origin("tests")
    for spec in dataset_specs():
        if spec.name not in registry.datasets:
            registry.datasets.add(spec.name, spec, origin, spec.aliases)
    for spec in (*method_specs(), *MLZSL_METHODS):
        if spec.name not in registry.methods:
            registry.methods.add(spec.name, spec, origin)
    dummy = MethodSpec(name="single-label-dummy", build=lambda context, options: None, options_type=_NoOptions)
    registry.methods.add(dummy.name, dummy, origin)
    yield
    load_plugins(force=True)


def run_cli(*args: str):
    from zslbench.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stored_runs(method: str) -> list[Path]:
    return sorted(Path(os.environ["ZSLBENCH_RUNS"]).glob(f"synthetic-multilabel-tiny/{method}/*"))


@pytest.mark.parametrize("method", ["epsilon", "mlzsl-baseline"])
def test_tiny_multilabel_run_stores_map_and_f1_at_k(multilabel_registry, method):
    result = run_cli("run", method, "--dataset", "synthetic-multilabel-tiny", "--device", "cpu", "--quiet",
                     "--set", "data.text_encoder=hashing")
    assert result.exit_code == 0, result.output
    (run_dir,) = stored_runs(method)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "multi-label" and metrics["protocol"] == "standard"
    test = metrics["test"]
    for key in ("zsl_map", "zsl_f1_at_3", "zsl_f1_at_5", "gzsl_map", "gzsl_f1_at_3", "gzsl_f1_at_5",
                "zsl_precision_at_3", "gzsl_recall_at_5"):
        assert 0.0 <= test[key] <= 1.0, key
    assert test["counts"]["unseen_labels"] == 6 and test["counts"]["images"] == 64
    assert len(metrics["per_label_ap"]["unseen"]) == 6
    assert metrics["label_vectors"] == "text-encoder:hashing"
    assert len(metrics["history"]) == 2  # the tiny recipe's 2 epochs
    timings = json.loads((run_dir / "timings.json").read_text())
    assert timings["train_images_per_second"] > 0
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    assert (run_dir / "checkpoint.pt").is_file()


def test_single_label_method_on_multilabel_data_exits_2(multilabel_registry):
    result = run_cli("run", "single-label-dummy", "--dataset", "synthetic-multilabel-tiny", "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert "does not support multi-label" in result.output
    assert not stored_runs("single-label-dummy")  # refused before anything was written


def test_multilabel_method_on_single_label_data_exits_2(multilabel_registry):
    result = run_cli("run", "epsilon", "--dataset", "synthetic-tiny", "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert "does not support single-label" in result.output


def test_gbu_protocol_is_refused_for_multilabel_data(multilabel_registry):
    result = run_cli("run", "epsilon", "--dataset", "synthetic-multilabel-tiny", "--protocol", "gbu", "--device",
                     "cpu", "-q", "--set", "data.text_encoder=hashing")
    assert result.exit_code == 2
    assert "defined for single-label datasets" in result.output


def test_resume_continues_a_multilabel_run(multilabel_registry):
    """An interrupted run (checkpoint after epoch 1 of 2) resumes and completes the remaining epoch only."""
    from zslbench import store
    from zslbench.runner import execute_run, resolve_resume, resolve_run

    resolved = resolve_run("mlzsl-baseline", "synthetic-multilabel-tiny",
                           set_items=["data.text_encoder=hashing", "train.device=cpu", "train.epochs=1"])
    first = execute_run(resolved, progress=False)
    config = json.loads((first.run_dir / store.CONFIG_FILE).read_text())
    config["train"]["epochs"] = 2  # as if the run had been asked for 2 epochs and stopped after 1
    store.atomic_write_json(first.run_dir / store.CONFIG_FILE, config)
    store.write_status(first.run_dir, "interrupted")
    resumed = execute_run(resolve_resume(first.run_dir), resume_dir=first.run_dir, progress=False)
    history = resumed.metrics["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[0] == first.metrics["history"][0]  # the first epoch was not trained again
