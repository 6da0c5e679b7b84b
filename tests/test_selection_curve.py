"""The selection's learning curve of every SVIP run (metrics["selection_curve"]) and its figure in the report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main
from zslbench.tasks.selection_curve import curve_from_history

from test_compare import single_label_test, write_run
from test_plots import assert_png


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _single_run(root):
    (run_dir,) = list(root.glob("*/*/*/"))
    return store.read_run(run_dir)


def test_a_tiny_svip_run_stores_its_selection_curve_and_the_gbu_floor_holds(tmp_path):
    result = _run("run", "svip", "--dataset", "synthetic-v3-tiny", "--out", tmp_path / "runs", "--epochs", "2",
                  "--protocol", "gbu", "--set", "train.min_epochs=2", "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 0, result.output
    record = _single_run(tmp_path / "runs")
    assert record.metrics["validation"]["chosen_epochs"] == 2  # the floor: epoch 1 is not a candidate
    curve = record.metrics["selection_curve"]
    assert [p["epoch"] for p in curve] == [1, 2]
    steps = [p["step"] for p in curve]
    assert steps[0] > 0 and steps[1] == 2 * steps[0]
    for point in curve:
        assert 0.0 <= point["selection_auroc"] <= 1.0
        ratio = point["consistency_over_classification_grad"]
        assert math.isfinite(ratio) and ratio >= 0.0


def test_the_mask_oracle_curve_ranks_object_patches_first(tmp_path):
    result = _run("run", "svip", "--dataset", "synthetic-v3-tiny", "--out", tmp_path / "runs", "--epochs", "1",
                  "--set", "method.selection=mask-oracle", "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 0, result.output
    (point,) = _single_run(tmp_path / "runs").metrics["selection_curve"]
    assert point["selection_auroc"] == pytest.approx(1.0)


def test_the_baseline_has_no_selection_curve(tmp_path):
    result = _run("run", "baseline", "--dataset", "synthetic-v3-tiny", "--out", tmp_path / "runs", "--epochs", "1",
                  "--quiet")
    assert result.exit_code == 0, result.output
    assert "selection_curve" not in _single_run(tmp_path / "runs").metrics


def test_the_probe_leaves_training_unchanged(tmp_path):
    """The curve's probe forks the random state: the model trains exactly as without it."""
    import torch

    from zslbench.registry import datasets
    from zslbench.runner import _train_phase, resolve_run
    from zslbench.tasks import get_task
    from zslbench.training.pretrain import ensure_pretrained

    resolved = resolve_run("svip", "synthetic-v3-tiny", set_items=["data.text_encoder=hashing", "train.epochs=2"])
    spec = datasets.get("synthetic-v3-tiny")
    dataset = spec.load(resolved.config.data)
    ensure_pretrained("synthetic-v3-tiny", 0, progress=False)  # built before either run, not inside the first
    trained = {}
    for curve in (False, True):
        model, _, result = _train_phase(resolved, get_task(spec.task), dataset, torch.device("cpu"),
                                        tmp_path / f"checkpoint-{curve}.safetensors", None, False, "train",
                                        selection_curve=curve)
        trained[curve] = (model.state_dict(), result.history)
    (plain, plain_history), (probed, probed_history) = trained[False], trained[True]
    assert plain.keys() == probed.keys() and all(torch.equal(plain[k], probed[k]) for k in plain)
    assert "selection_auroc" in probed_history[-1].extra and not plain_history[-1].extra


def test_curve_from_history_skips_epochs_without_a_probe():
    history = [{"epoch": 0, "extra": {}}, {"epoch": 1, "extra": {"step": 8, "selection_auroc": 0.6}}]
    assert curve_from_history(history) == [{"epoch": 2, "step": 8, "selection_auroc": 0.6}]


def test_the_report_draws_the_selection_curve(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    for seed in range(2):
        run = write_run(runs, "svip", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}")
        metrics = store.read_run(run).metrics
        metrics["selection_curve"] = [
            {"epoch": e + 1, "step": 10 * (e + 1), "selection_auroc": 0.5 + 0.1 * e,
             "consistency_over_classification_grad": 0.01 * (e + 1)} for e in range(3)]
        store.atomic_write_json(run / store.METRICS_FILE, metrics)
    write_run(runs, "baseline", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000009")
    result = CliRunner().invoke(main, ["report", "--runs", str(runs), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = (out / "README.md").read_text()
    assert "![Selection learning curve on toy](toy-selection-curve.png)" in text
    assert_png(out / "toy-selection-curve.png")
    assert (out / "toy-selection-curve.pdf").exists()


def test_plot_selection_curves_returns_what_it_drew(tmp_path):
    from zslbench.results.selection_plots import plot_selection_curves

    curve = [{"epoch": 1, "step": 5, "selection_auroc": 0.55, "consistency_over_classification_grad": 0.002},
             {"epoch": 2, "step": 10, "selection_auroc": 0.65}]
    drawn = plot_selection_curves({"svip, learned": [curve, curve]}, tmp_path / "c.png")
    (entry,) = drawn["labels"]
    assert entry["runs"] == 2 and entry["steps"][0] == [5, 10] and entry["auroc"][1] == [0.55, 0.65]
    assert entry["gradient"][0][0] == 0.002 and np.isnan(entry["gradient"][0][1])
    assert_png(tmp_path / "c.png")
