"""benchmarks/patch_classifier_fit.py on a tiny trained SVIP run: what it measures, and what it refuses."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from benchmarks.patch_classifier_fit import fit_report
from zslbench.cli import main


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


def _tiny_run(tmp_path, method: str) -> str:
    result = CliRunner().invoke(main, ["run", method, "--dataset", "synthetic-v3-tiny", "--out", str(tmp_path / "runs"),
                                       "--epochs", "1", "--set", "data.text_encoder=hashing", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = list((tmp_path / "runs").glob("*/*/*/"))
    return str(run_dir)


def test_offline_fit_lowers_the_bce_to_the_runs_own_pseudo_labels(tmp_path):
    report = fit_report(_tiny_run(tmp_path, "svip"), steps=[0, 300], fit_images=200, eval_images=64)
    # a freshly initialised classifier (0 steps) against the same classifier fitted for 300 steps
    assert report["fit 300 steps BCE to targets"] < report["fit 0 steps BCE to targets"]
    for name in ("attention AUROC", "run's classifier AUROC", "fit 0 steps AUROC", "fit 300 steps AUROC"):
        assert 0.0 <= report[name] <= 1.0
    assert not math.isnan(report["run's classifier spearman vs attention"])


def test_a_run_without_a_patch_classifier_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="needs an SVIP run with SSPS"):
        fit_report(_tiny_run(tmp_path, "svip-no-ssps"), steps=[10])
