"""Commands that do not train start without torch or timm (checked with ``python -X importtime``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_compare import single_label_test, write_run

HEAVY = ("torch", "timm")


def imported_modules(args: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """Exit code, every module the command imported, and its output."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "zslbench", *args], cwd=cwd,
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return proc.returncode, modules, proc.stdout + proc.stderr


@pytest.fixture
def stored_runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(root, "svip", "synthetic", seed, single_label_test(0.5, 0.4, 0.6, 0.48), f"20260101-00000{seed}",
                  data_version=3)
        write_run(root, "baseline", "synthetic", seed, single_label_test(0.4, 0.3, 0.6, 0.40), f"20260101-00001{seed}",
                  data_version=3)
    return root


@pytest.mark.slow
def test_reading_commands_import_neither_torch_nor_timm(tmp_path, stored_runs):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('methods = ["svip"]\ndatasets = ["synthetic-tiny"]\n')
    from zslbench.scoring.score import load_scoring_dataset

    tiny = load_scoring_dataset("synthetic-tiny")
    predictions = tmp_path / "predictions.npy"
    rows = len(tiny.splits["test_seen"]) + len(tiny.splits["test_unseen"])
    np.save(predictions, np.random.default_rng(0).standard_normal((rows, tiny.num_classes)))
    commands = {
        "--help": (["--help"], 0),
        "--version": (["--version"], 0),
        "list": (["list"], 0),
        "compare": (["compare", "svip", "baseline", "--dataset", "synthetic", "--runs", str(stored_runs)], 0),
        "report": (["report", "svip", "baseline", "--runs", str(stored_runs), "--out", str(tmp_path / "report")], 0),
        "cache ls": (["cache", "ls"], 0),
        "data check": (["data", "check", "synthetic-tiny"], 0),
        "data check (missing copy)": (["data", "check", "cub", "--root", str(tmp_path / "no-cub")], 1),
        "data download --help": (["data", "download", "--help"], 0),
        "data download (by hand only)": (["data", "download", "nus-wide", "--root", str(tmp_path / "no-nus")], 1),
        "sweep status": (["sweep", "status", str(sweep), "--out", str(stored_runs)], 0),
        "score": (["score", str(predictions), "--dataset", "synthetic-tiny", "--trust-order",
                   "--out", str(tmp_path / "scored")], 0),
    }
    for name, (args, expected_code) in commands.items():
        code, modules, output = imported_modules(args, tmp_path)
        assert code == expected_code, f"{name}: exit {code}\n{output[-2000:]}"
        assert "zslbench.cli" in modules, name  # the measurement saw the command's imports
        heavy = [m for m in HEAVY if m in modules]
        assert not heavy, f"`zslbench {' '.join(args)}` imported {', '.join(heavy)}"
    _, _, listing = imported_modules(["list", "methods"], tmp_path)
    assert "svip" in listing and "eszsl" in listing and "epsilon" in listing  # registries filled without torch
