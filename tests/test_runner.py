"""Runs on the real-dataset loaders (miniature xlsa17 copies built here) through the runner."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main

from fixtures_xlsa17 import build_xlsa17_layout


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _only_run(root: Path) -> Path:
    (run,) = list(Path(root).glob("*/*/*/"))
    return run


def test_eszsl_on_published_res101_features_needs_no_images(tmp_path):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, n_classes=8, n_unseen=2,
                                 images_per_class=6)
    result = _run("run", "eszsl", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--quiet")
    assert result.exit_code == 0, result.output
    record = store.read_run(_only_run(tmp_path / "runs"))
    assert record.config["backbone"] == "resnet101-xlsa17"
    counts = record.metrics["test"]["counts"]
    assert counts["images_test_unseen"] == len(layout.test_unseen_loc)
    assert counts["images_test_seen"] == len(layout.test_seen_loc)
    assert record.timings["features_seconds"] >= 0


def test_image_method_on_real_layout(example_plugin, tmp_path):
    layout = build_xlsa17_layout(tmp_path / "cub", "cub", n_classes=6, n_unseen=2, images_per_class=4)
    result = _run("run", "pixel-attr", "--dataset", "cub", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--epochs", "1", "--set", "data.image_size=32", "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 0, result.output
    record = store.read_run(_only_run(tmp_path / "runs"))
    assert record.metrics["counts"]["images_test_unseen"] == 8
    assert record.config["data"]["root"] == str(layout.root)


def test_missing_images_are_an_error_naming_the_count(example_plugin, tmp_path):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", n_classes=6, n_unseen=2, images_per_class=4)
    victim = layout.image_dir / layout.rel_paths[0]
    victim.unlink()
    result = _run("run", "pixel-attr", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--epochs", "1", "--set", "data.image_size=32", "--quiet")
    assert result.exit_code == 1
    assert "1 " in result.output and victim.name in result.output
    assert not (tmp_path / "runs").exists()


def test_input_normalisation_follows_the_backbone_weights():
    from zslbench.config import DataConfig, RunConfig
    from zslbench.data.transforms import IMAGENET_MEAN
    from zslbench.runner import input_normalisation

    augreg = RunConfig(dataset="awa2", backbone="vit_base_patch16_224")
    assert input_normalisation(augreg) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    deit = RunConfig(dataset="awa2", backbone="deit_small_patch16_224")
    assert input_normalisation(deit)[0] == IMAGENET_MEAN
    forced = RunConfig(dataset="awa2", backbone="vit_base_patch16_224", data=DataConfig(normalize="imagenet"))
    assert input_normalisation(forced)[0] == IMAGENET_MEAN


def test_missing_pretrained_weights_stop_before_anything_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-cache"))
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", n_classes=6, n_unseen=2, images_per_class=2)
    result = _run("run", "baseline", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--backbone", "vit_tiny_patch16_224", "--set", "data.text_encoder=hashing", "--quiet")
    assert result.exit_code == 1
    assert "pretrained weights" in result.output and "--pretrained" in result.output
    assert not (tmp_path / "runs").exists()


def _stored_run(tmp_path: Path, config: dict, state: str = "running") -> Path:
    run = tmp_path / "runs" / "synthetic-tiny" / "eszsl" / "run1"
    run.mkdir(parents=True)
    (run / store.CONFIG_FILE).write_text(json.dumps(config))
    (run / store.STATUS_FILE).write_text(json.dumps({"schema": store.SCHEMA_VERSION, "state": state}))
    return run


def test_stored_run_resolution_is_shared_by_resume_and_explain(tmp_path):
    from zslbench.errors import UsageError
    from zslbench.runner import read_run_dir, resolve_resume, resolve_stored_run

    run = _stored_run(tmp_path, {"method": "eszsl", "dataset": "synthetic-tiny", "method_options": {"gamma_exp": 1.0}})
    resolved = resolve_stored_run(read_run_dir(run, "hint"))
    assert resolved.method.name == "eszsl" and resolved.options.gamma_exp == 1.0
    assert resolved.config.dataset == "synthetic-tiny"
    assert resolve_resume(run).options.gamma_exp == 1.0
    with pytest.raises(UsageError, match="run directory not found") as err:
        read_run_dir(tmp_path / "nowhere", "look elsewhere")
    assert err.value.hint == "look elsewhere"
    (run / store.STATUS_FILE).write_text("{broken")
    with pytest.raises(UsageError, match="cannot resume"):
        resolve_resume(run)
    nameless = _stored_run(tmp_path / "other", {"dataset": "synthetic-tiny"})
    with pytest.raises(UsageError, match="config.json has no 'method'"):
        resolve_resume(nameless)


def test_tune_grid_is_chosen_on_validation_only(tmp_path):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, n_classes=8, n_unseen=2,
                                 images_per_class=6)
    result = _run("run", "eszsl", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--protocol", "gbu", "--set", "tune.gamma_exp=[-1, 0, 1]", "--set", "tune.lambda_exp=[0, 1]",
                  "--quiet")
    assert result.exit_code == 0, result.output
    metrics = store.read_run(_only_run(tmp_path / "runs")).metrics
    validation = metrics["validation"]
    assert len(validation["trials"]) == 6
    best = max(t["val_cs_h"] for t in validation["trials"])
    assert validation["val_cs_h"] == best
    assert validation["chosen_options"] in [t["options"] for t in validation["trials"]]
    assert metrics["test"]["cs_gamma"] == validation["chosen_gamma"]


@pytest.mark.parametrize("args, message", [
    (["--set", "tune.gamma_exp=[0, 1]"], "add --protocol gbu"),
    (["--protocol", "gbu", "--set", "tune.nope=[0, 1]"], "method.nope"),
    (["--protocol", "gbu", "--set", "tune.gamma_exp=[\"x\"]"], "expects a number"),
    (["--protocol", "gbu", "--set", "tune.gamma_exp=1"], "non-empty list"),
])
def test_bad_tune_settings_are_usage_errors(tmp_path, args, message):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False)
    result = _run("run", "eszsl", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "runs").exists()


def test_a_run_without_a_method_is_a_usage_error_listing_the_methods():
    import os

    result = CliRunner().invoke(main, ["run", "--dataset", "synthetic-tiny", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and "no method given" in error[0] and "svip" in error[0] and "baseline" in error[0]
    assert not any(Path(os.environ["ZSLBENCH_RUNS"]).rglob("config.json"))  # nothing stored
