"""End to end on synthetic-v2-tiny: the diagnostic metrics of a run, and the mask-oracle usage error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main

from fixtures_xlsa17 import build_xlsa17_layout


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_mask_oracle_run_stores_family_and_selection_metrics(tmp_path):
    result = _run("run", "svip", "--dataset", "synthetic-v2-tiny", "--out", tmp_path / "runs", "--epochs", "1",
                  "--set", "method.selection=mask-oracle", "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = list((tmp_path / "runs").glob("*/*/*/"))
    record = store.read_run(run_dir)
    assert record.config["pretrained"] == "synthetic-pretrained"  # the default for v2 datasets
    assert record.metrics["data_version"] == 2  # generated data: the run records its version
    assert list((tmp_path / "cache" / "pretrained").glob("*.safetensors"))  # built on first use
    families = record.metrics["families"]
    assert families["names"] == ["body", "head"]
    assert families["blind_t1_ceiling"] == [pytest.approx(1 / 3), pytest.approx(1 / 3)]
    assert families["chance_t1"] == pytest.approx(1 / 9)
    assert len(families["zsl_accuracy"]) == len(families["seen_accuracy"]) == 2
    selection = record.metrics["patch_selection"]
    assert selection["auroc"] == pytest.approx(1.0)  # the oracle ranks object cells first
    assert selection["precision_normalised"] == pytest.approx(1.0)
    assert selection["recall_normalised"] == pytest.approx(1.0)


def test_svip_without_selection_runs_on_a_dataset_with_masks(tmp_path):
    # svip-no-ssps has no patch classifier: its selection diagnostics must not ask it for scores
    result = _run("run", "svip-no-ssps", "--dataset", "synthetic-v3-tiny", "--out", tmp_path / "runs", "--epochs", "1",
                  "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = list((tmp_path / "runs").glob("*/*/*/"))
    record = store.read_run(run_dir)
    assert record.metrics["data_version"] == 3
    selection = record.metrics["patch_selection"]
    assert selection["kept_fraction"] == 0.0 and "auroc" not in selection


def test_mask_oracle_on_a_dataset_without_masks_stops_before_a_run_directory(tmp_path):
    layout = build_xlsa17_layout(tmp_path / "cub", "cub", n_classes=6, n_unseen=2, images_per_class=4)
    result = _run("run", "svip", "--dataset", "cub", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--backbone", "vit-synthetic-tiny", "--pretrained", "none", "--set", "data.image_size=32",
                  "--set", "method.num_kept=3", "--set", "data.text_encoder=hashing",
                  "--set", "method.selection=mask-oracle", "--quiet")
    assert result.exit_code == 2, result.output
    assert "mask-oracle needs object masks" in result.output and "cub" in result.output
    assert not Path(tmp_path / "runs").exists()


def test_feature_methods_read_features_of_the_pretrained_backbone(tmp_path):
    result = _run("run", "eszsl", "--dataset", "synthetic-v2-tiny", "--out", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = list((tmp_path / "runs").glob("*/*/*/"))
    assert store.read_run(run_dir).config["pretrained"] == "synthetic-pretrained"
    assert list((tmp_path / "cache" / "pretrained").glob("*.safetensors"))
