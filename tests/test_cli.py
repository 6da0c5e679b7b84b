"""The command line end to end: runs, the run store, errors and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import zslbench
from zslbench import store
from zslbench.cli import main

from conftest import EXAMPLE_PLUGIN, REPO, write_dist_info

QUICK = ["--epochs", "2", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _runs(root) -> list[Path]:
    return sorted(Path(root).glob("*/*/*/"))


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and zslbench.__version__ in result.output


def test_list_shows_origins(example_plugin):
    result = invoke("list", "methods")
    assert result.exit_code == 0
    assert "pixel-attr" in result.output and "zslbench-example" in result.output
    datasets = invoke("list", "datasets")
    assert "example-bars" in datasets.output and "synthetic" in datasets.output
    plugins = invoke("list", "plugins")
    assert "zslbench-example" in plugins.output and "0.1.0" in plugins.output


def test_third_party_run_end_to_end(example_plugin, tmp_path):
    result = invoke("run", "pixel-attr", "--dataset", "example-bars", "--out", tmp_path / "runs", *QUICK)
    assert result.exit_code == 0, result.output
    (run_dir,) = _runs(tmp_path / "runs")
    assert run_dir.parent.name == "pixel-attr" and run_dir.parent.parent.name == "example-bars"
    assert f"run stored in {run_dir}" in result.output.replace("\n", "")
    record = store.read_run(run_dir)
    assert record.complete
    test = record.metrics["test"]
    for key in ("t1", "u", "s", "h", "ausuc", "oracle_h"):
        assert 0.0 <= test[key] <= 1.0
    assert test["cs_h"] is None  # standard protocol: no gamma is chosen
    assert record.metrics["counts"]["images_test_unseen"] == 60
    assert len(record.metrics["history"]) == 2 and record.timings["train_images_per_second"] > 0
    assert record.env["git_commit"] is None or len(record.env["git_commit"]) >= 40
    assert record.config["train"]["epochs"] == 2 and record.config["method_options"]["pooled_size"] == 4
    assert (run_dir / "checkpoint.safetensors").exists()
    assert not list(run_dir.glob(".*.tmp"))


def test_config_file_and_set_override(example_plugin, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "example-bars"\nseed = 4\n'
                   '[train]\nepochs = 1\nlr = 0.01\n[method]\nname = "pixel-attr"\npooled_size = 2\n')
    result = invoke("run", "--config", cfg, "--set", "train.lr=0.02", "--set", "method.temperature=5",
                    "--out", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = _runs(tmp_path / "runs")
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["seed"] == 4 and saved["train"]["lr"] == 0.02 and saved["train"]["epochs"] == 1
    assert saved["method_options"] == {"pooled_size": 2, "temperature": 5.0}


def test_same_seed_same_metrics(example_plugin, tmp_path):
    for out in ("a", "b"):
        assert invoke("run", "pixel-attr", "-d", "example-bars", "--seed", "1", "--out", tmp_path / out, *QUICK).exit_code == 0
    (a,), (b,) = _runs(tmp_path / "a"), _runs(tmp_path / "b")
    assert store.read_run(a).metrics["test"] == store.read_run(b).metrics["test"]


def test_gbu_protocol_chooses_on_validation(example_plugin, tmp_path):
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--protocol", "gbu", "--out", tmp_path / "runs",
                    "--epochs", "3", "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = _runs(tmp_path / "runs")
    metrics = store.read_run(run_dir).metrics
    val = metrics["validation"]
    assert set(val["val_classes"]).isdisjoint(metrics["test"]["per_class"]["zsl_unseen"])
    assert 1 <= val["chosen_epochs"] <= 3 and len(val["per_epoch"]) == 3
    assert metrics["test"]["cs_gamma"] == pytest.approx(val["chosen_gamma"])
    assert metrics["test"]["cs_h"] is not None
    assert len(metrics["history"]) == val["chosen_epochs"]


def test_resume_matches_uninterrupted_run(example_plugin, tmp_path, monkeypatch):
    assert invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "full", "--epochs", "3", "--quiet").exit_code == 0
    (full,) = _runs(tmp_path / "full")

    from zslbench.training import engine

    real_save = engine.save_checkpoint
    calls = {"n": 0}

    def save_then_crash(path, obj):
        real_save(path, obj)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", save_then_crash)
    stopped = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "part", "--epochs", "3", "--quiet")
    assert stopped.exit_code == 130 and "zslbench run --resume" in stopped.output
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    (part,) = _runs(tmp_path / "part")
    assert json.loads((part / "status.json").read_text())["state"] == "interrupted"
    assert not (part / "metrics.json").exists()
    result = invoke("run", "--resume", part, "--quiet")
    assert result.exit_code == 0, result.output
    assert store.read_run(part).metrics["test"] == store.read_run(full).metrics["test"]
    again = invoke("run", "--resume", part)
    assert again.exit_code == 2 and "already complete" in again.output


@pytest.mark.parametrize("args, code, message", [
    (["run", "svpi", "--dataset", "synthetic-tiny"], 2, "did you mean 'svip'"),
    (["run", "pixel-attr", "--dataset", "nope"], 2, "unknown dataset 'nope'"),
    (["run", "pixel-attr", "-d", "example-bars", "--set", "train.epoch=3"], 2, "did you mean train.epochs"),
    (["run", "pixel-attr", "-d", "example-bars", "--set", "train.lr=fast"], 2, "expects a number"),
    (["run", "pixel-attr", "-d", "example-bars", "--set", "method.nonexistent=1"], 2, "method.nonexistent"),
    (["run", "pixel-attr", "-d", "example-bars", "--config", "/no/such/file.toml"], 2, "config file not found"),
    (["run", "--resume", "/no/such/run"], 2, "run directory not found"),
    (["run", "pixel-attr", "-d", "awa2", "--data-root", "/no/such/root"], 1, "zslbench data check"),
])
def test_bad_input_one_line_error_and_nothing_stored(example_plugin, tmp_path, args, code, message):
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "runs")] if args[1] != "--resume" else args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1
    assert not (tmp_path / "runs").exists()


def test_installed_console_script_with_a_wheel_style_plugin(tmp_path):
    """A real subprocess: the console script finds a plugin installed on PYTHONPATH."""
    site = tmp_path / "site"
    write_dist_info(site, "zslbench-example", "0.1.0", {"example": "zslbench_example.plugin"})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(EXAMPLE_PLUGIN)]),
               ZSLBENCH_RUNS=str(tmp_path / "runs"))
    exe = Path(sys.executable).parent / "zslbench"
    listed = subprocess.run([str(exe), "list", "datasets"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "example-bars" in listed.stdout
    ran = subprocess.run([str(exe), "run", "pixel-attr", "-d", "example-bars", "--epochs", "1"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "[train] epoch 1/1 done" in ran.stderr  # plain log lines when not a TTY
    assert len(_runs(tmp_path / "runs")) == 1


def test_list_shows_variants_and_aliases():
    result = invoke("list", "methods")
    assert result.exit_code == 0
    no_jsd = next(line for line in result.output.splitlines() if "svip-no-jsd" in line)
    assert "variant of svip" in no_jsd
    assert "aliases: vit-attr-head" in result.output.replace("\n", " ") or "vit-attr-head" in result.output


def test_list_methods_has_task_and_kind_columns():
    result = invoke("list", "methods")
    assert result.exit_code == 0
    header = next(line for line in result.output.splitlines() if "name" in line and "description" in line)
    assert "task" in header and "kind" in header
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "single-label" in rows["svip"] and "image" in rows["svip"]
    assert "feature" in rows["eszsl"] and "multi-label" in rows["epsilon"]


def test_data_show_writes_a_png(tmp_path):
    out = tmp_path / "grid.png"
    result = invoke("data", "show", "synthetic-tiny", "--out", out, "--masks")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_check_embedded_and_missing(tmp_path):
    ok = invoke("data", "check", "synthetic-tiny")
    assert ok.exit_code == 0 and "images_test_unseen" in ok.output
    missing = invoke("data", "check", "cub", "--root", tmp_path / "nothing-here")
    assert missing.exit_code == 1
    assert "att_splits.mat" in missing.output and "xlsa17" in missing.output


def test_data_check_real_split_files_when_present():
    from conftest import SHARED_DATA

    cub = SHARED_DATA / "xlsa17" / "CUB"
    if not (cub / "att_splits.mat").exists():
        pytest.skip("shared CUB split files absent")
    result = invoke("data", "check", "cub", "--root", cub)
    assert "7057" in result.output and "2967" in result.output


def test_readme_config_example_resolves(tmp_path):
    """The TOML example in the README is valid and means what it says."""
    from zslbench.runner import resolve_run

    text = (REPO / "README.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "run.toml"
    path.write_text(example)
    resolved = resolve_run(None, None, str(path), ["train.lr=1e-4", "method.pooling=mean"], {})
    assert resolved.config.method == "svip" and resolved.config.dataset == "synthetic"
    assert resolved.config.train.lr == 1e-4 and resolved.options.pooling == "mean"
