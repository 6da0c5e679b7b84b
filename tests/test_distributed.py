"""DDP through torchrun: 2 gloo processes on CPU give the metrics of 1 process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zslbench import store

from conftest import EXAMPLE_PLUGIN, write_dist_info

ARGS = ["run", "pixel-attr", "-d", "example-bars", "--epochs", "2", "--seed", "5",
        "--set", "data.augment=false", "--set", "train.batch_size=16", "--device", "cpu"]


def _env(tmp_path: Path) -> dict:
    site = tmp_path / "site"
    if not site.exists():
        write_dist_info(site, "zslbench-example", "0.1.0", {"example": "zslbench_example.plugin"})
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(EXAMPLE_PLUGIN)]), OMP_NUM_THREADS="1")


def _only_run(root: Path) -> Path:
    (run,) = list(root.glob("*/*/*/"))
    return run


def test_two_gloo_processes_match_one(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    env = _env(tmp_path)
    one = subprocess.run([sys.executable, "-m", "zslbench", *ARGS, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "zslbench", *ARGS,
                          "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    run_one, run_two = _only_run(tmp_path / "one"), _only_run(tmp_path / "two")  # rank 0 alone writes
    a, b = store.read_run(run_one), store.read_run(run_two)
    assert b.status["world_size"] == 2 and a.status.get("world_size") in (None, 1)
    assert a.metrics["counts"] == b.metrics["counts"]
    for key in ("t1", "u", "s", "h", "ausuc"):
        assert a.metrics["test"][key] == pytest.approx(b.metrics["test"][key], abs=1e-6), key
    # Losses are averaged over ranks, images summed: the same as one process.
    for ha, hb in zip(a.metrics["history"], b.metrics["history"]):
        assert ha["images"] == hb["images"]
        assert ha["losses"]["loss"] == pytest.approx(hb["losses"]["loss"], rel=1e-4)


def test_nproc_shortcut_launches_torchrun(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    exe = Path(sys.executable).parent / "zslbench"
    ran = subprocess.run([str(exe), *ARGS, "--nproc", "2", "--out", str(tmp_path / "runs")], env=_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    record = store.read_run(_only_run(tmp_path / "runs"))
    assert record.status["world_size"] == 2 and record.complete
