"""Fault injection: bad inputs and faults give one line, the right exit code, and leave stored data unchanged.

Every case of docs/reliability.md is here: code-carrying and damaged
checkpoints, leaked splits, meaningless settings, corrupt or read-only feature
caches, a full disk, SIGINT/SIGTERM (a real subprocess), two writers of one
run, and broken plugins.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main

from conftest import EXAMPLE_PLUGIN, REPO, write_dist_info
from fixtures_xlsa17 import build_xlsa17_layout
from test_features import cli_registry  # noqa: F401  (fixture: the cache CLI on a tiny dataset)

QUICK = ["--quiet"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (nothing stored may change)."""
    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def assert_one_line_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    assert message in errors[0], result.output


def only_run(root: Path) -> Path:
    (run,) = [p for p in Path(root).glob("*/*/*") if p.is_dir() and not p.name.startswith(".")]
    return run


def interrupted_run(root: Path, monkeypatch, epochs: int = 3) -> Path:
    """A pixel-attr run stopped (Ctrl-C) right after its first checkpoint."""
    from zslbench.training import engine

    real = engine.save_checkpoint

    def save_then_stop(path, state):
        real(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", save_then_stop)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", root, "--epochs", epochs, *QUICK)
    monkeypatch.setattr(engine, "save_checkpoint", real)
    assert result.exit_code == 130, result.output
    return only_run(root)


# --------------------------------------------------------------------------- checkpoints cannot run code


class Payload:
    """Unpickling this runs ``Path(marker).touch()``: what a malicious checkpoint.pt would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _payload_bytes(marker: Path) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"model": Payload(marker), "epoch": 1}, buffer)
    return buffer.getvalue()


def test_the_payload_is_real_when_loaded_with_pickle(tmp_path):
    """Guards the tests below: with pickle (weights_only=False) the payload does create its marker."""
    marker = tmp_path / "pwned-control"
    path = tmp_path / "evil.pt"
    path.write_bytes(_payload_bytes(marker))
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("damage", ["pickle-as-safetensors", "legacy-pickle-pt", "truncated", "random", "empty"])
@pytest.mark.parametrize("command", ["resume", "explain"])
def test_damaged_or_code_carrying_checkpoint_is_refused(example_plugin, tmp_path, monkeypatch, damage, command):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    checkpoint = run / store.CHECKPOINT_FILE
    marker = tmp_path / "pwned"
    good = checkpoint.read_bytes()
    if damage == "pickle-as-safetensors":
        checkpoint.write_bytes(_payload_bytes(marker))
    elif damage == "legacy-pickle-pt":
        checkpoint.unlink()
        (run / "checkpoint.pt").write_bytes(_payload_bytes(marker))
    elif damage == "truncated":
        checkpoint.write_bytes(good[: len(good) // 2])
    elif damage == "random":
        checkpoint.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        checkpoint.write_bytes(b"")
    before = snapshot(run)
    if command == "resume":
        result = invoke("run", "--resume", run, *QUICK)
    else:
        result = invoke("explain", run, "--index", "0", "--out", tmp_path / "x.png")
    message = "older zslbench" if damage == "legacy-pickle-pt" else "cannot load checkpoint"
    assert_one_line_error(result, 1, message)
    assert not marker.exists()
    assert snapshot(run) == before
    assert not (tmp_path / "x.png").exists()


def test_resume_from_the_safe_checkpoint_matches_an_uninterrupted_run(example_plugin, tmp_path, monkeypatch):
    assert invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "full", "--epochs", 3, *QUICK).exit_code == 0
    run = interrupted_run(tmp_path / "part", monkeypatch)
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert store.read_run(run).metrics["test"] == store.read_run(only_run(tmp_path / "full")).metrics["test"]


# --------------------------------------------------------------------------- leaked splits


def _rewrite_locs(layout, **changes) -> None:
    path = layout.split_dir / "att_splits.mat"
    data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    for key, locs in changes.items():
        data[key] = (np.asarray(locs) + 1).astype(np.uint16).reshape(-1, 1)
    scipy.io.savemat(path, data)


def _leak(layout, kind: str) -> str:
    if kind == "test_seen-in-trainval":
        _rewrite_locs(layout, test_seen_loc=np.concatenate([layout.test_seen_loc, layout.trainval_loc[:2]]))
        return "split test_seen shares 2 images with trainval"
    if kind == "test_unseen-in-trainval":
        _rewrite_locs(layout, trainval_loc=np.concatenate([layout.trainval_loc, layout.test_unseen_loc[:1]]))
        return "split test_unseen shares 1 images with trainval"
    if kind == "gbu-classes-overlap":
        train_images = np.flatnonzero(np.isin(layout.labels, layout.train_classes))
        val_images = np.flatnonzero(np.isin(layout.labels, layout.val_classes))
        _rewrite_locs(layout, val_loc=np.concatenate([val_images, train_images[:1]]))
        return "GBU train and validation classes share 1 classes"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["test_seen-in-trainval", "test_unseen-in-trainval", "gbu-classes-overlap"])
def test_leaked_split_stops_a_run_and_is_reported_by_data_check(tmp_path, kind):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", n_classes=8, n_unseen=2, images_per_class=6)
    clean = invoke("data", "check", "awa2", "--root", layout.root)
    assert clean.exit_code == 0, clean.output
    message = _leak(layout, kind)
    checked = invoke("data", "check", "awa2", "--root", layout.root)
    assert checked.exit_code == 1 and "Traceback" not in checked.output
    assert [line for line in checked.output.splitlines() if "disjoint splits" in line and message in line]
    result = invoke("run", "eszsl", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *QUICK)
    assert_one_line_error(result, 1, message)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("splits, message", [
    ({"trainval": [0, 1, 1], "test_seen": [2], "test_unseen": [3]}, "split trainval lists 1 images more than once: [1]"),
    ({"trainval": [0, 1], "test_seen": [2, 9], "test_unseen": [3]}, "split test_seen refers to images outside 0..3: [9]"),
    ({"trainval": [0, 1], "test_seen": [2], "test_unseen": [3, -1]}, "refers to images outside 0..3: [-1]"),
    ({"trainval": [0, 1], "test_seen": [1, 2], "test_unseen": [3]}, "split test_seen shares 1 images with trainval: [1]"),
    ({"trainval": [0, 1], "test_seen": [2], "test_unseen": [2, 3]}, "split test_unseen shares 1 images with test_seen"),
])
def test_dataset_validate_names_the_split_and_the_first_ids(splits, message):
    from zslbench.data.dataset import ArrayImages, ZSLDataset
    from zslbench.data.split_check import SplitIntegrityError

    labels = np.array([0, 0, 0, 1])
    ds = ZSLDataset(name="toy", class_names=["a", "b"], attribute_names=["x"], class_attributes=np.ones((2, 1)),
                    labels=labels, splits={k: np.asarray(v) for k, v in splits.items()},
                    seen_classes=np.array([0]), unseen_classes=np.array([1]),
                    images=ArrayImages(np.zeros((4, 2, 2, 3), np.uint8)))
    with pytest.raises(SplitIntegrityError) as info:
        ds.validate()
    assert message in info.value.message and "\n" not in str(info.value)


# --------------------------------------------------------------------------- meaningless settings


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "train.epochs must be at least 1, got 0"),
    (["--epochs", "-3"], "train.epochs must be at least 1, got -3"),
    (["--set", "train.max_steps_per_epoch=0"], "train.max_steps_per_epoch must be at least 1"),
    (["--set", "train.batch_size=0"], "train.batch_size must be at least 1"),
    (["--set", "train.eval_batch_size=-1"], "train.eval_batch_size must be at least 1"),
    (["--set", "train.lr=nan"], "train.lr must be a finite number"),
    (["--set", "train.lr=inf"], "train.lr must be a finite number"),
    (["--set", "train.lr=-0.1"], "train.lr must be in (0, inf)"),
    (["--set", "train.lr=0"], "train.lr must be in (0, inf)"),
    (["--set", "train.weight_decay=-1"], "train.weight_decay must be in [0, inf)"),
    (["--set", "train.beta1=1.0"], "train.beta1 must be in [0, 1)"),
    (["--set", "train.warmup_epochs=5", "--epochs", "2"], "train.warmup_epochs must be in 0..train.epochs"),
    (["--set", "train.schedule=bogus"], "unknown train.schedule 'bogus'"),
    (["--set", "train.optimizer=lbfgs"], "unknown train.optimizer 'lbfgs'"),
    (["--set", "train.device=tpu"], "unknown device 'tpu'"),
    (["--protocol", "gbu", "--set", "validation_fraction=1.5"], "validation_fraction must be in (0, 1)"),
    (["--protocol", "gbu", "--set", "validation_fraction=0"], "validation_fraction must be in (0, 1)"),
    (["--seed", "1180591620717411303424"], "seed must be in 0.."),
    (["--seed", "-1"], "seed must be in 0.."),
    (["--set", "data.synthetic_seed=-5"], "data.synthetic_seed must be in 0.."),
    (["--set", "data.num_workers=-1"], "data.num_workers must be 0 or more"),
    (["--set", "data.image_size=0"], "data.image_size must be at least 1"),
    (["--set", "data.normalize=sepia"], "unknown data.normalize 'sepia'"),
])
def test_meaningless_setting_is_refused_before_anything_is_stored(example_plugin, tmp_path, args, message):
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", *args, *QUICK)
    assert_one_line_error(result, 2, message)
    assert not (tmp_path / "runs").exists()


def test_batch_smaller_than_the_processes_is_refused(example_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs",
                    "--set", "train.batch_size=2", *QUICK)
    assert_one_line_error(result, 2, "does not split over the 4 processes")
    assert not (tmp_path / "runs").exists()


def test_out_that_is_a_file_and_a_binary_config_are_one_line(example_plugin, tmp_path):
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0\n")
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", afile, *QUICK)
    assert_one_line_error(result, 2, "is not a directory")
    assert afile.read_text() == "root:x:0:0\n"
    binary = tmp_path / "run.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    result = invoke("run", "pixel-attr", "--config", binary, "--out", tmp_path / "runs", *QUICK)
    assert_one_line_error(result, 2, "cannot read config file")
    assert not (tmp_path / "runs").exists()


def test_out_under_a_file_is_one_line(example_plugin, tmp_path):
    afile = tmp_path / "plain-file"
    afile.write_text("x")
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", afile / "runs", "--epochs", 1, *QUICK)
    assert_one_line_error(result, 1, "cannot create the run directory")
    assert afile.read_text() == "x"


# --------------------------------------------------------------------------- feature cache integrity


def _cached_entry(name: str = "tiny"):
    from test_features import fetch, make_dataset

    from zslbench import features as F

    ds = make_dataset(name=name)
    feats = fetch(ds)
    (entry,) = [e for e in F.FeatureCache().ls() if e.parts.get("dataset") == name]
    return ds, feats, entry.path


def _damage(path: Path, what: str) -> None:
    with h5py.File(path, "a") as f:
        group = f["trainval"]
        if what == "labels":
            group["labels"][0] = (int(group["labels"][0]) + 1) % 4
        elif what == "image_ids":
            ids = group["image_ids"][...]
            group["image_ids"][0], group["image_ids"][1] = ids[1], ids[0]
        elif what == "features":
            group["cls"][2] = group["cls"][2] * -1 + 1
        elif what == "labels-and-checksum":  # a consistent edit: only the comparison with the dataset sees it
            from zslbench import cache_integrity

            labels = group["labels"][...]
            labels[0] = (labels[0] + 1) % 4
            group["labels"][...] = labels
            group.attrs["labels_crc32"] = cache_integrity.checksum(labels)


@pytest.mark.parametrize("what", ["labels", "image_ids", "features"])
def test_corrupt_entry_is_reported_by_verify_and_ls(what):
    from zslbench.features.cli import cache

    _, _, other = _cached_entry("other")
    ds, feats, path = _cached_entry("tiny")
    _damage(path, what)
    other_before = hashlib.sha256(other.read_bytes()).hexdigest()
    result = CliRunner().invoke(cache, ["verify"])
    assert_one_line_error(result, 1, "1 of 2 feature cache entries are corrupt")
    assert what.replace("features", "cls") in result.output
    listing = CliRunner().invoke(cache, ["ls", "--verify"])
    assert listing.exit_code == 0 and "corrupt" in listing.output
    assert hashlib.sha256(other.read_bytes()).hexdigest() == other_before


@pytest.mark.parametrize("what", ["labels", "image_ids", "features", "labels-and-checksum"])
def test_corrupt_entry_is_rebuilt_on_read(what):
    from test_features import CountingFactory, fetch

    ds, feats, path = _cached_entry("tiny")
    _damage(path, what)
    factory = CountingFactory()
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        again = fetch(ds, factory=factory)
    assert factory.calls >= 1
    for split in ds.splits:
        np.testing.assert_array_equal(again[split].labels, ds.labels[ds.splits[split]])
        np.testing.assert_array_equal(again[split].image_ids, ds.splits[split])
        np.testing.assert_array_equal(again[split].features, feats[split].features)


def test_cache_build_rebuilds_an_entry_with_corrupt_feature_bytes(cli_registry):
    from zslbench import features as F
    from zslbench.features.cli import cache

    args = ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--pretrained", "none", "--device", "cpu",
            "--batch-size", "4"]
    assert CliRunner().invoke(cache, args).exit_code == 0
    (info,) = F.FeatureCache().ls()
    _damage(info.path, "features")
    rebuilt = CliRunner().invoke(cache, args)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "corrupt" in rebuilt.output and "rebuilding" in rebuilt.output
    assert F.FeatureCache().verify_file(F.FeatureCache().ls()[0].path) is None


def test_read_only_cache_is_readable_without_a_lock_file(monkeypatch):
    from zslbench.features import cache as cache_module
    from test_features import CountingFactory, fetch

    ds, feats, path = _cached_entry("tiny")
    for lock in path.parent.glob("*.lock"):
        lock.unlink()
    before = snapshot(path.parent)
    real_open = os.open

    def read_only_open(file, flags, *args, **kwargs):  # the file system refuses every write
        if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(cache_module.os, "open", read_only_open)
    factory = CountingFactory()
    again = fetch(ds, factory=factory)
    assert factory.calls == 0  # a hit: no backbone, no build
    np.testing.assert_array_equal(again["trainval"].features, feats["trainval"].features)
    assert snapshot(path.parent) == before and not list(path.parent.glob("*.lock"))


def test_a_miss_in_a_read_only_cache_is_one_line(cli_registry, monkeypatch):
    from zslbench.features import cache as cache_module
    from zslbench.features.cli import cache

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cache_module, "fill_entry", refuse)
    result = CliRunner().invoke(cache, ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--device", "cpu"])
    assert_one_line_error(result, 1, "is read-only")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_really_read_only_cache_directory(tmp_path):  # pragma: no cover - CI runs as root here
    ds, feats, path = _cached_entry("tiny")
    from test_features import fetch

    for p in path.parent.iterdir():
        p.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        again = fetch(ds)
        np.testing.assert_array_equal(again["trainval"].features, feats["trainval"].features)
    finally:
        path.parent.chmod(0o755)


def test_disk_full_during_a_cache_build_is_one_line_and_resumable(cli_registry, monkeypatch):
    from zslbench import features as F
    from zslbench.features.cli import cache

    from zslbench.features import fileformat

    real_write, calls = fileformat._write_chunk, []

    def full_disk(*args, **kwargs):  # h5py's report of ENOSPC: a RuntimeError carrying the errno
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("Can't write data (file write failed: errno = 28, error message = "
                               "'No space left on device')")
        return real_write(*args, **kwargs)

    args = ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--device", "cpu", "--batch-size", "4"]
    monkeypatch.setattr(fileformat, "_write_chunk", full_disk)
    result = CliRunner().invoke(cache, args)
    assert_one_line_error(result, 1, "disk full while writing the feature cache")
    (info,) = F.FeatureCache().ls()
    assert info.status == "partial"
    monkeypatch.setattr(fileformat, "_write_chunk", real_write)
    assert CliRunner().invoke(cache, args).exit_code == 0
    (info,) = F.FeatureCache().ls(verify=True)
    assert info.status == "complete"


def test_disk_full_in_the_run_store_is_one_line_and_resumable(example_plugin, tmp_path, monkeypatch):
    real = store.atomic_write_bytes

    def full_on_metrics(path, data):
        if Path(path).name == store.METRICS_FILE:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(store, "atomic_write_bytes", full_on_metrics)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", "--epochs", 2, *QUICK)
    assert_one_line_error(result, 1, "No space left on device")
    run = only_run(tmp_path / "runs")
    assert json.loads((run / store.STATUS_FILE).read_text())["state"] == "failed"
    assert (run / store.CHECKPOINT_FILE).exists() and not (run / store.METRICS_FILE).exists()
    monkeypatch.setattr(store, "atomic_write_bytes", real)
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert store.read_run(run).complete


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A real 2 MiB tmpfs (needs root with mount rights; skipped elsewhere); ``resize(size)`` frees space."""
    mount_point = tmp_path / "tiny-fs"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount_point)], check=True)

    yield mount_point, resize
    subprocess.run(["umount", str(mount_point)], check=False)


def test_a_really_full_disk_during_a_cache_build_is_one_line_and_resumable(tiny_filesystem):
    from zslbench import features as F
    from zslbench.data.dataset import ArrayImages, ZSLDataset
    from zslbench.errors import DataError

    mount_point, resize = tiny_filesystem
    n = 12_000  # 12,000 x 256 float16 = 6 MB: does not fit in 2 MiB
    labels = np.arange(n) % 10
    ds = ZSLDataset(name="big", class_names=[f"c{i}" for i in range(10)], attribute_names=["a"],
                    class_attributes=np.ones((10, 1)), labels=labels,
                    splits={"trainval": np.flatnonzero(labels < 8)[:8000], "test_seen": np.flatnonzero(labels < 8)[8000:],
                            "test_unseen": np.flatnonzero(labels >= 8)},
                    seen_classes=np.arange(8), unseen_classes=np.arange(8, 10),
                    images=ArrayImages(np.zeros((n, 1, 1, 3), np.uint8)))
    tokens = np.random.default_rng(0).normal(size=(n, 256)).astype(np.float16)
    key = F.make_key(ds, "bench", "w", "bench", 224)
    cache = F.FeatureCache(root=mount_point / "cache")
    with pytest.raises(DataError, match="disk full") as info:
        cache.build_from_source(ds, F.ArraySource(tokens), key, chunk_rows=256)
    assert "\n" not in str(info.value)
    (partial,) = cache.ls()
    assert partial.status == "partial"
    resize("20m")
    entry = cache.build_from_source(ds, F.ArraySource(tokens), key, chunk_rows=256)
    assert cache.verify_file(entry.path) is None
    np.testing.assert_array_equal(cache.read(entry, "test_unseen", dtype=None).features, tokens[ds.splits["test_unseen"]])


def test_a_really_full_disk_under_the_run_store_is_one_line_and_resumable(example_plugin, tiny_filesystem):
    mount_point, resize = tiny_filesystem
    resize("100k")  # room for config and status, not for the checkpoints
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", mount_point / "runs", "--epochs", 3,
                    "--set", "method.pooled_size=64", *QUICK)
    assert_one_line_error(result, 1, "No space left on device")
    run = only_run(mount_point / "runs")
    assert json.loads((run / store.STATUS_FILE).read_text())["state"] == "failed"
    resize("20m")
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert store.read_run(run).complete


# --------------------------------------------------------------------------- signals and the run store


def _subprocess_env(tmp_path: Path, site: Path | None = None) -> dict:
    paths = [str(p) for p in (site,) if p] + [str(EXAMPLE_PLUGIN), str(REPO)] + [
        str(REPO / "plugins" / name) for name in ("svip", "baselines", "epsilon")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), ZSLBENCH_RUNS=str(tmp_path / "runs"),
                OMP_NUM_THREADS="1")


def test_sigterm_marks_the_run_interrupted_exits_143_and_resumes(example_plugin, tmp_path):
    site = tmp_path / "subprocess-site"
    write_dist_info(site, "zslbench-example", "0.1.0", {"example": "zslbench_example.plugin"})
    env = _subprocess_env(tmp_path, site)
    proc = subprocess.Popen([sys.executable, "-m", "zslbench", "run", "pixel-attr", "-d", "example-bars",
                             "--epochs", "400", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "runs").glob(f"*/*/*/{store.CHECKPOINT_FILE}")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.startswith("Error")]) == 1
    run = only_run(tmp_path / "runs")
    status = json.loads((run / store.STATUS_FILE).read_text())
    assert status["state"] == "interrupted" and "--resume" in status["hint"]
    assert not (run / store.METRICS_FILE).exists()
    config = json.loads((run / store.CONFIG_FILE).read_text())
    config["train"]["epochs"] = 2  # finish quickly: the saved epochs are kept, the rest trained
    (run / store.CONFIG_FILE).write_text(json.dumps(config))
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert store.read_run(run).complete


def test_a_second_writer_is_refused_naming_the_holder(example_plugin, tmp_path, monkeypatch):
    from zslbench.run_lock import RunLock

    run = interrupted_run(tmp_path / "runs", monkeypatch)
    before = snapshot(run)
    with RunLock(run):
        result = invoke("run", "--resume", run, *QUICK)
        assert_one_line_error(result, 1, f"is being written by pid {os.getpid()}")
    assert snapshot(run) == before  # the lock file is empty again once released
    assert json.loads((run / store.STATUS_FILE).read_text())["state"] == "interrupted"


def test_a_stale_lock_of_a_dead_process_is_taken_over(example_plugin, tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    (run / ".lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": "elsewhere", "since": "2020"}))
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0  # nobody holds the flock: stale
    assert store.read_run(run).complete


def test_resume_removes_temporary_files(example_plugin, tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    orphan = run / f".{store.CHECKPOINT_FILE}.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert not orphan.exists() and not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_run_files_follow_the_umask(example_plugin, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", "--epochs", 1,
                      *QUICK).exit_code == 0
    finally:
        os.umask(old)
    run = only_run(tmp_path / "runs")
    for name in (store.CONFIG_FILE, store.STATUS_FILE, store.METRICS_FILE, store.CHECKPOINT_FILE):
        assert (run / name).stat().st_mode & 0o777 == mode, name
    assert run.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_run_directory_without_status_json_is_resumable(example_plugin, tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    (run / store.STATUS_FILE).unlink()  # killed between config.json and status.json by an older zslbench
    assert invoke("run", "--resume", run, *QUICK).exit_code == 0
    assert store.read_run(run).complete


def test_a_kill_while_the_run_directory_is_created_leaves_nothing(example_plugin, tmp_path, monkeypatch):
    def interrupted_rename(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.os, "rename", interrupted_rename)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", "--epochs", 1, *QUICK)
    assert_one_line_error(result, 130, "interrupted")
    assert [p for p in (tmp_path / "runs").rglob("*") if p.is_dir() and p.parent.name == "pixel-attr"] == []


def test_ctrl_c_during_start_up_is_one_line(example_plugin, tmp_path, monkeypatch):
    from zslbench import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "load_dataset", interrupted)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", *QUICK)
    assert_one_line_error(result, 130, "interrupted")
    assert not (tmp_path / "runs").exists()


def test_a_second_ctrl_c_while_the_status_is_written_still_records_it(example_plugin, tmp_path, monkeypatch):
    from zslbench.training import engine

    def stop(path, state):
        raise KeyboardInterrupt

    real_status = store.write_status

    def status_with_second_ctrl_c(run_dir, state, **extra):
        if state == "interrupted":
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the status is being written
        real_status(run_dir, state, **extra)

    monkeypatch.setattr(engine, "save_checkpoint", stop)
    monkeypatch.setattr(store, "write_status", status_with_second_ctrl_c)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", tmp_path / "runs", "--epochs", 2, *QUICK)
    assert_one_line_error(result, 130, "interrupted")
    assert "Aborted" not in result.output
    assert json.loads((only_run(tmp_path / "runs") / store.STATUS_FILE).read_text())["state"] == "interrupted"


# --------------------------------------------------------------------------- plugins


BAD_PLUGINS = {
    "bad_import": 'raise RuntimeError("broken at import\\nsecond line")\n',
    "bad_exit": "import sys\nsys.exit(3)\n",
    "bad_hook": ("import zslbench\n\n@zslbench.hookimpl\ndef register_methods(register):\n"
                 "    raise ValueError('hook exploded')\n"),
    "bad_duplicate": ("import zslbench\nfrom zslbench.methods import MethodSpec\nfrom zslbench.registry import DatasetSpec\n\n"
                      "@zslbench.hookimpl\ndef register_methods(register):\n"
                      "    register(MethodSpec(name='dup-only-method', build=lambda c, o: None, options_type=None))\n\n"
                      "@zslbench.hookimpl\ndef register_datasets(register):\n"
                      "    register(DatasetSpec(name='synthetic', load=lambda cfg: None))\n"),
}


def _install_bad_plugins(site: Path, names) -> None:
    for name in names:
        (site / f"{name}.py").write_text(BAD_PLUGINS[name])
        write_dist_info(site, f"zslbench-{name.replace('_', '-')}", "0.0.1", {name: name})


@pytest.mark.parametrize("name, message", [
    ("bad_import", "RuntimeError: broken at import"),
    ("bad_exit", "SystemExit: 3"),
    ("bad_hook", "register_methods raised ValueError: hook exploded"),
    ("bad_duplicate", "dataset 'synthetic' is registered twice"),
])
def test_a_broken_plugin_is_one_warning_and_skipped(tmp_path, monkeypatch, name, message):
    from zslbench import registry
    from zslbench.plugins import load_plugins

    site = tmp_path / "site"
    site.mkdir()
    _install_bad_plugins(site, [name])
    monkeypatch.syspath_prepend(str(site))
    try:
        with pytest.warns(RuntimeWarning) as caught:
            infos = load_plugins(force=True)
        mine = [str(w.message) for w in caught if f"plugin {name!r}" in str(w.message)]
        assert len(mine) == 1 and message in mine[0] and "\n" not in mine[0]
        assert any(i.name == name and i.error for i in infos)
        assert "dup-only-method" not in registry.methods  # a failing plugin leaves nothing behind
        assert "synthetic" in registry.datasets and registry.datasets.entry("synthetic").origin.plugin == "core"
        assert invoke("list").exit_code == 0
    finally:
        monkeypatch.undo()
        for module in BAD_PLUGINS:
            sys.modules.pop(module, None)
        load_plugins(force=True)


def test_broken_plugins_are_one_stderr_line_each_in_a_real_process(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_bad_plugins(site, BAD_PLUGINS)
    env = _subprocess_env(tmp_path, site)
    result = subprocess.run([sys.executable, "-m", "zslbench", "list", "plugins"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in BAD_PLUGINS:
        assert len([line for line in result.stderr.splitlines() if f"plugin {name!r}" in line]) == 1, result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == len(BAD_PLUGINS), result.stderr
