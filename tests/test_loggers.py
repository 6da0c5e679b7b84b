"""Experiment trackers (--logger tensorboard|wandb): what a run logs is in the event files / the offline W&B run.

Both packages are optional extras: each test skips when its package is absent.
W&B always runs offline here (no server is ever contacted).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from zslbench import loggers
from zslbench.training.engine import train
from zslbench.errors import UsageError
from zslbench.progress import RunProgress

from test_engine import ATTRS, TinySet, _cfg, _fresh


def _train_with(trackers: loggers.TrackerGroup, epochs: int = 2) -> None:
    cfg = _cfg(epochs=epochs, log_every_steps=2)
    with RunProgress(0, enabled=False, trackers=trackers):
        train(_fresh(), TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0)
    trackers.log_final({"test": {"t1": 0.5, "h": 0.25, "cs_gamma": 3.0, "per_class": {}}})
    trackers.close()


def tensorboard_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_event_files_hold_steps_epochs_and_final_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    _train_with(loggers.TrackerGroup([loggers.TensorBoardTracker(tmp_path / "tb")]))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    scalars = tensorboard_scalars(tmp_path / "tb")
    # 48 images / batch 8 = 6 steps per epoch, logged every 2 steps: 3 points per epoch, global steps
    assert [step for step, _ in scalars["train/loss"]] == [2, 4, 6, 8, 10, 12]
    assert {"train/ce", "train/reg", "train/lr", "train/images_per_second"} <= set(scalars)
    assert [step for step, _ in scalars["train_epoch/loss"]] == [1, 2]
    assert scalars["train/lr"][0][1] == pytest.approx(0.05)  # cosine schedule, epoch 0
    assert scalars["test/h"] == [(0, pytest.approx(25.0))] and "test/cs_gamma" not in scalars


def wandb_history(run_dir: Path) -> list[dict]:
    """The history rows of the offline W&B run under ``run_dir`` (read from its LevelDB-log .wandb file)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, rows = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a record header never straddles a block: the rest is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk  # full/first start a record, middle/last extend it
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    return rows


def test_offline_wandb_run_directory_holds_the_logged_scalars(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = loggers.WandbTracker(tmp_path, name="run-1", group="tiny/toy")
    tracker.log_config({"method": "tiny", "train": {"epochs": 2}})
    _train_with(loggers.TrackerGroup([tracker]))
    rows = wandb_history(tmp_path)
    losses = [(r["train/step"], r["train/loss"]) for r in rows if "train/loss" in r]
    assert [step for step, _ in losses] == [2, 4, 6, 8, 10, 12]
    assert [r["train_epoch/step"] for r in rows if "train_epoch/loss" in r] == [1, 2]
    assert any(r.get("test/t1") == pytest.approx(50.0) for r in rows)


def test_run_with_logger_tensorboard_writes_into_the_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from click.testing import CliRunner

    from zslbench.cli import main

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["run", "baseline", "--dataset", "synthetic-tiny", "--epochs", "1",
                                       "--set", "train.max_steps_per_epoch=2", "--set", "data.text_encoder=hashing",
                                       "--out", str(tmp_path / "runs"), "--logger", "tensorboard", "-q"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs" / "synthetic-tiny" / "baseline").iterdir()
    scalars = tensorboard_scalars(run_dir / "tensorboard")
    assert "train/loss" in scalars and "train_epoch/loss" in scalars
    stored = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert scalars["test/t1"][0][1] == pytest.approx(100 * stored["t1"], rel=1e-5)
    assert json.loads((run_dir / "config.json").read_text())["loggers"] == ["tensorboard"]


def test_a_missing_tracker_package_is_a_usage_error_naming_the_extra(monkeypatch):
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"zslbench\[wandb\]"):
        loggers.check_loggers(["wandb"])
    with pytest.raises(UsageError, match="unknown logger"):
        loggers.check_loggers(["mlflow"])


def test_a_failing_tracker_never_fails_the_run():
    class Broken:
        def log_scalars(self, scalars, step):
            raise RuntimeError("disk full")

    group = loggers.TrackerGroup([Broken()])
    with pytest.warns(RuntimeWarning, match="disk full"):
        group.log_scalars({"train/loss": 1.0}, 1)
    group.log_scalars({"train/loss": float("nan")}, 2)  # non-finite values are dropped, nothing raised
    assert len(group.errors) == 1
