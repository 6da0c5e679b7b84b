"""Hostile files in the caches and sweep files: one line, the right exit code, repaired or refused.

The feature-cache entry fault matrix (:data:`ENTRY_FAULTS`) is applied to a
real entry; ``cache verify`` must name the damaged entry and exit 1 for every
kind, and a build or run must rebuild it after a one-line warning. The res101
image index and the synthetic dataset caches carry checksums and are rebuilt
when damaged; a read-only empty cache is one line; sweep names are confined to
``<runs>/.sweeps`` and huge grids are refused before they are expanded.
See docs/reliability.md, "Caches and sweeps: hostile files".
"""

from __future__ import annotations

import errno
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from zslbench import cache_integrity
from test_faults import assert_one_line_error, invoke, snapshot
from test_features import cli_registry  # noqa: F401  (fixture: the cache CLI on a tiny dataset)

# --------------------------------------------------------------------------- the feature-cache fault matrix


def _flip_file_byte(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def _chunk_offset(path: Path, dataset: str) -> int:
    """Byte offset in the file of the first stored chunk of ``dataset``."""
    with h5py.File(path, "r") as f:
        return int(f[dataset].id.get_chunk_info(0).byte_offset)


def _edit(path: Path, change: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "a") as f:
        change(f)


def _replace_dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    del group[name]
    group.create_dataset(name, data=data)


def _restore_cls_as_float32(f: h5py.File) -> None:
    """cls re-stored as float32 with consistent checksums: only the dtype check sees it."""
    group, chunk_rows = f["trainval"], int(f.attrs["chunk_rows"])
    values = group["cls"][...].astype(np.float32)
    _replace_dataset(group, "cls", values)
    group["cls_crc32"][...] = cache_integrity.block_checksums(values, chunk_rows)


def _restore_labels_as_int32(f: h5py.File) -> None:
    group = f["trainval"]
    labels = group["labels"][...].astype(np.int32)
    _replace_dataset(group, "labels", labels)
    group.attrs["labels_crc32"] = cache_integrity.checksum(labels)


def _drop_last_row(f: h5py.File) -> None:
    _replace_dataset(f["trainval"], "cls", f["trainval"]["cls"][:-1])


def _one_more_checksum(f: h5py.File) -> None:
    _replace_dataset(f["trainval"], "cls_crc32", np.append(f["trainval"]["cls_crc32"][...], np.uint32(7)))


def _add(f: h5py.File, name: str, delta: float) -> None:
    f[name][0] = f[name][0] + delta


TV = "trainval"

#: fault kind -> how it damages an entry file (one feature entry with patch tokens, chunks of 4 rows).
ENTRY_FAULTS: dict[str, Callable[[Path], None]] = {
    # the file itself
    "zero-byte": lambda p: p.write_bytes(b""),
    "truncated-half": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "truncated-tail": lambda p: p.write_bytes(p.read_bytes()[:-64]),
    "superblock-signature-flipped": lambda p: _flip_file_byte(p, 1),
    "superblock-version-flipped": lambda p: _flip_file_byte(p, 8, 0x40),
    "random-bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(p.stat().st_size)),
    "cls-chunk-bit-flipped": lambda p: _flip_file_byte(p, _chunk_offset(p, f"{TV}/cls") + 3),
    "patches-chunk-bit-flipped": lambda p: _flip_file_byte(p, _chunk_offset(p, f"{TV}/patches") + 5),
    # root attributes
    "fingerprint-attr-changed": lambda p: _edit(p, lambda f: f.attrs.__setitem__("fingerprint", "0" * 64)),
    "format-version-changed": lambda p: _edit(p, lambda f: f.attrs.__setitem__("format_version", 1)),
    "splits-attr-not-json": lambda p: _edit(p, lambda f: f.attrs.__setitem__("splits", "[not json")),
    "key-parts-not-json": lambda p: _edit(p, lambda f: f.attrs.__setitem__("key_parts", "{oops")),
    "chunk-rows-attr-changed": lambda p: _edit(p, lambda f: f.attrs.__setitem__("chunk_rows", 3)),
    "feature-dim-attr-changed": lambda p: _edit(p, lambda f: f.attrs.__setitem__("feature_dim", 5)),
    "dtype-attr-changed": lambda p: _edit(p, lambda f: f.attrs.__setitem__("dtype", "float32")),
    # split structure and the completion flag
    "written-zero": lambda p: _edit(p, lambda f: f[TV].attrs.__setitem__("written", 0)),
    "written-short": lambda p: _edit(p, lambda f: f[TV].attrs.__setitem__("written", f[TV].attrs["n_images"] - 1)),
    "n-images-changed": lambda p: _edit(p, lambda f: f[TV].attrs.__setitem__("n_images", 3)),
    "split-group-deleted": lambda p: _edit(p, lambda f: f.__delitem__(TV)),
    "cls-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("cls")),
    "patches-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("patches")),
    "labels-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("labels")),
    "image-ids-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("image_ids")),
    "cls-crc32-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("cls_crc32")),
    "patches-crc32-deleted": lambda p: _edit(p, lambda f: f[TV].__delitem__("patches_crc32")),
    "labels-crc32-attr-deleted": lambda p: _edit(p, lambda f: f[TV].attrs.__delitem__("labels_crc32")),
    "image-ids-crc32-attr-deleted": lambda p: _edit(p, lambda f: f[TV].attrs.__delitem__("image_ids_crc32")),
    "cls-row-missing": lambda p: _edit(p, _drop_last_row),
    "cls-crc32-one-too-many": lambda p: _edit(p, _one_more_checksum),
    # contents
    "cls-value-changed": lambda p: _edit(p, lambda f: _add(f, f"{TV}/cls", 1.0)),
    "patches-value-changed": lambda p: _edit(p, lambda f: _add(f, f"{TV}/patches", 1.0)),
    "labels-value-changed": lambda p: _edit(p, lambda f: _add(f, f"{TV}/labels", 1)),
    "image-ids-value-changed": lambda p: _edit(p, lambda f: _add(f, f"{TV}/image_ids", 1)),
    "cls-crc32-value-changed": lambda p: _edit(p, lambda f: _add(f, f"{TV}/cls_crc32", 1)),
    "labels-crc32-attr-changed": lambda p: _edit(p, lambda f: f[TV].attrs.__setitem__(
        "labels_crc32", int(f[TV].attrs["labels_crc32"]) ^ 1)),
    "cls-restored-as-float32": lambda p: _edit(p, _restore_cls_as_float32),
    "labels-restored-as-int32": lambda p: _edit(p, _restore_labels_as_int32),
}

BUILD = ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--pretrained", "none", "--device", "cpu",
         "--batch-size", "4", "--patches"]


def _built_entries() -> tuple[Path, Path]:
    """Two complete entries with patch tokens (the tiny dataset and another one): (victim, bystander)."""
    from test_features import fetch, make_dataset

    from zslbench import features as F

    for name in ("tiny", "other"):
        fetch(make_dataset(name=name), with_patches=True)
    by_name = {e.parts["dataset"]: e.path for e in F.FeatureCache().ls()}
    return by_name["tiny"], by_name["other"]


@pytest.mark.parametrize("fault", sorted(ENTRY_FAULTS))
def test_cache_verify_names_every_kind_of_damaged_entry(fault):
    from zslbench.features.cli import cache

    victim, bystander = _built_entries()
    assert CliRunner().invoke(cache, ["verify"]).exit_code == 0
    ENTRY_FAULTS[fault](victim)
    before = snapshot(victim.parent)
    result = CliRunner().invoke(cache, ["verify"])
    assert_one_line_error(result, 1, "1 of 2 feature cache entries are corrupt")
    corrupt = [line for line in result.output.splitlines() if " corrupt " in f" {line} " and not line.startswith("Error")]
    assert len(corrupt) == 1 and victim.name in corrupt[0], result.output
    listing = CliRunner().invoke(cache, ["ls", "--verify"])
    assert listing.exit_code == 0 and "Traceback" not in listing.output
    assert [line for line in listing.output.splitlines() if " corrupt " in line] != []
    assert snapshot(victim.parent) == before  # verify and ls report, they never repair or delete


def _rebuild_warnings(result, caught, name: str) -> list[str]:
    """The warnings about entry ``name``: RuntimeWarnings raised, plus `Warning:` lines the CLI printed."""
    raised = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning) and name in str(w.message)]
    printed = [line for line in result.output.splitlines() if line.startswith("Warning") and name in line]
    return raised + printed


@pytest.mark.parametrize("fault", sorted(ENTRY_FAULTS))
def test_cache_build_rebuilds_every_kind_of_damaged_entry_after_one_warning(cli_registry, fault):
    from zslbench import features as F
    from zslbench.features.cli import cache

    assert CliRunner().invoke(cache, BUILD).exit_code == 0
    (info,) = F.FeatureCache().ls()
    with h5py.File(info.path, "r") as f:
        original = {s: f[s]["cls"][...] for s in json.loads(f.attrs["splits"])}
    ENTRY_FAULTS[fault](info.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(cache, BUILD)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert len(_rebuild_warnings(result, caught, info.path.name)) == 1, (result.output, [str(w.message) for w in caught])
    assert F.FeatureCache().verify_file(info.path) is None
    with h5py.File(info.path, "r") as f:
        for split, values in original.items():
            np.testing.assert_array_equal(f[split]["cls"][...], values)


def test_a_run_rebuilds_an_entry_without_its_chunk_checksums(tmp_path):
    """`trainval/cls_crc32` deleted from the res101 entry: `run eszsl` warns once, rebuilds, scores the same."""
    from zslbench import features as F
    from zslbench import store
    from fixtures_xlsa17 import build_xlsa17_layout

    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, n_classes=8, n_unseen=2,
                                 images_per_class=6)
    args = ["run", "eszsl", "--dataset", "awa2", "--data-root", layout.root, "--quiet"]
    assert invoke(*args, "--out", tmp_path / "first").exit_code == 0
    (info,) = F.FeatureCache().ls()
    _edit(info.path, lambda f: f["trainval"].__delitem__("cls_crc32"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke(*args, "--out", tmp_path / "second")
    assert result.exit_code == 0, result.output
    assert len(_rebuild_warnings(result, caught, info.path.name)) == 1
    assert F.FeatureCache().verify_file(info.path) is None
    (first,), (second,) = (store.scan_runs(tmp_path / d)[0] for d in ("first", "second"))
    assert first.metrics["test"] == second.metrics["test"]


# --------------------------------------------------------------------------- the res101 image index of xlsa17


def _rewrite_index(path: Path, change: Callable[[dict], dict]) -> None:
    """The index rewritten as a well-formed file with ``change`` applied (the zip's own CRCs agree)."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    with open(path, "wb") as handle:
        np.savez(handle, **change(arrays))


def _flip_in_first_array(path: Path) -> None:
    """Flip a bit in the last data byte of the first array stored in an .npz (a zip of .npy members)."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        member = archive.infolist()[0]
    local_header = path.read_bytes()[member.header_offset:member.header_offset + 30]
    name_length, extra_length = struct.unpack("<HH", local_header[26:30])
    _flip_file_byte(path, member.header_offset + 30 + name_length + extra_length + member.file_size - 1)


INDEX_FAULTS: dict[str, Callable[[Path], None]] = {
    "bit-flipped": _flip_in_first_array,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "zero-byte": lambda p: p.write_bytes(b""),
    "label-bit-flipped-consistently": lambda p: _rewrite_index(p, lambda a: {**a, "labels": a["labels"] ^ 1}),
    "legacy-without-checksums": lambda p: _rewrite_index(p, lambda a: {k: v for k, v in a.items()
                                                                        if not k.startswith("crc32.")}),
}


@pytest.mark.parametrize("fault", sorted(INDEX_FAULTS))
def test_a_damaged_res101_index_is_rebuilt_after_one_warning(tmp_path, caplog, fault):
    from zslbench import store
    from zslbench.paths import cache_dir
    from fixtures_xlsa17 import build_xlsa17_layout

    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, n_classes=8, n_unseen=2,
                                 images_per_class=6)
    args = ["run", "eszsl", "--dataset", "awa2", "--data-root", layout.root, "--quiet"]
    assert invoke(*args, "--out", tmp_path / "first").exit_code == 0
    (index,) = cache_dir("xlsa17").glob("res101-index-*.npz")
    good = index.read_bytes()
    INDEX_FAULTS[fault](index)
    with caplog.at_level(logging.WARNING):
        result = invoke(*args, "--out", tmp_path / "second")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warned = [r.getMessage() for r in caplog.records if index.name in r.getMessage()]
    assert len(warned) == 1 and "rebuilding" in warned[0] and "\n" not in warned[0], warned
    assert index.read_bytes() == good  # rebuilt as it was
    (first,), (second,) = (store.scan_runs(tmp_path / d)[0] for d in ("first", "second"))
    assert first.metrics["test"] == second.metrics["test"]


@pytest.mark.parametrize("fault", ["bit-flipped", "truncated", "zero-byte"])
def test_a_damaged_word_vector_cache_is_re_encoded_after_one_warning(caplog, fault):
    """The same checksummed .npz cache holds the attribute word vectors (`cache_dir("text")`)."""
    from test_features import make_dataset

    from zslbench.config import DataConfig
    from zslbench.models.text_encoders import attribute_vectors
    from zslbench.paths import cache_dir

    ds = make_dataset()
    first = attribute_vectors(ds, "hashing", DataConfig())
    (path,) = cache_dir("text").glob("hashing-*.npz")
    good = path.read_bytes()
    INDEX_FAULTS[fault](path)
    with caplog.at_level(logging.WARNING):
        again = attribute_vectors(ds, "hashing", DataConfig())
    warned = [r.getMessage() for r in caplog.records if path.name in r.getMessage()]
    assert len(warned) == 1 and "rebuilding" in warned[0], warned
    np.testing.assert_array_equal(again, first)
    assert path.read_bytes() == good


# --------------------------------------------------------------------------- the synthetic dataset caches


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _first_split(f: h5py.File) -> str:
    return f"splits/{sorted(f['splits'])[0]}"


SYNTHETIC_FAULTS: dict[str, Callable[[Path], None]] = {
    "pixel-flipped": lambda p: _edit(p, lambda f: f["pixels"].__setitem__((0, 0, 0, 0), f["pixels"][0, 0, 0, 0] ^ 1)),
    "label-bit-flipped": lambda p: _edit(p, lambda f: f["labels"].__setitem__(0, f["labels"][0] ^ 1)),
    "split-index-changed": lambda p: _edit(p, lambda f: _add(f, _first_split(f), 1)),
    "checksum-removed": lambda p: _edit(p, lambda f: f.attrs.__delitem__("crc32:pixels")),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "zero-byte": lambda p: p.write_bytes(b""),
}

SYNTHETIC_CASES = [(name, fault) for name in ("synthetic-tiny", "synthetic-v3-tiny", "synthetic-v2-tiny",
                                              "synthetic-multilabel-tiny") for fault in ("pixel-flipped", "label-bit-flipped")]
SYNTHETIC_CASES += [("synthetic-v3-tiny", fault) for fault in SYNTHETIC_FAULTS if fault not in ("pixel-flipped", "label-bit-flipped")]


@pytest.mark.parametrize("dataset,fault", SYNTHETIC_CASES)
def test_a_damaged_synthetic_cache_is_regenerated_identically_after_one_warning(caplog, dataset, fault):
    from zslbench.api import load_dataset
    from zslbench.paths import cache_dir

    first = load_dataset(dataset)
    (path,) = cache_dir("synthetic").glob(f"{dataset}-seed0-v*.h5")
    stored = _h5_arrays(path)
    SYNTHETIC_FAULTS[fault](path)
    with caplog.at_level(logging.WARNING):
        again = load_dataset(dataset)
    warned = [r.getMessage() for r in caplog.records if path.name in r.getMessage()]
    assert len(warned) == 1 and "regenerating" in warned[0] and "\n" not in warned[0], warned
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(again.images.pixels, first.images.pixels)
    rewritten = _h5_arrays(path)
    assert rewritten.keys() == stored.keys()
    for name, values in stored.items():
        np.testing.assert_array_equal(rewritten[name], values)
    caplog.clear()
    load_dataset(dataset)  # the rewritten file is sound: a quiet hit
    assert not [r for r in caplog.records if path.name in r.getMessage()]


def test_synthetic_cache_files_carry_the_checksum_of_every_array():
    from zslbench.api import load_dataset
    from zslbench.data import h5cache
    from zslbench.paths import cache_dir

    load_dataset("synthetic-v3-tiny")
    (path,) = cache_dir("synthetic").glob("synthetic-v3-tiny-seed0-v*.h5")
    arrays = _h5_arrays(path)
    with h5py.File(path, "r") as f:
        crcs = {k[len(h5cache.CRC_ATTR_PREFIX):]: int(v) for k, v in f.attrs.items()
                if k.startswith(h5cache.CRC_ATTR_PREFIX)}
    assert crcs == {name: cache_integrity.checksum(values) for name, values in arrays.items()}


# --------------------------------------------------------------------------- a read-only, empty cache


@pytest.fixture
def read_only_empty_cache(tmp_path, monkeypatch):
    """An empty ZSLBENCH_CACHE on a real read-only tmpfs (root with mount rights), else one whose writes fail
    with EROFS (simulated)."""
    import subprocess

    mount_point = tmp_path / "ro-cache"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        real_mkdir = Path.mkdir

        def refuse(self, *args, **kwargs):
            if self == mount_point or mount_point in self.parents:
                raise OSError(errno.EROFS, "Read-only file system", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setenv("ZSLBENCH_CACHE", str(mount_point))
    yield mount_point
    if mounted.returncode == 0:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.parametrize("command", [["run", "baseline", "-d", "synthetic-tiny", "--epochs", "1", "--quiet"],
                                     ["cache", "ls"], ["cache", "verify"]])
def test_a_read_only_empty_cache_is_one_line_naming_it(read_only_empty_cache, tmp_path, command):
    out = ["--out", tmp_path / "runs"] if command[0] == "run" else []
    result = invoke(*command, *out)
    assert_one_line_error(result, 1, f"cannot create the cache directory {read_only_empty_cache}")
    assert "set ZSLBENCH_CACHE to a writable directory" in result.output
    assert not (tmp_path / "runs").exists()
    assert not list(read_only_empty_cache.iterdir())


# --------------------------------------------------------------------------- sweep files


SWEEP = """
name = {name}
methods = ["baseline"]
datasets = ["synthetic-tiny"]
seeds = [0]
out = "runs"

[set]
"train.epochs" = 1
"""


@pytest.mark.parametrize("name", ['"../../x"', '"/tmp/zslbench-escape"', '".."', '"a/b"', '".hidden"', '""', "3"])
@pytest.mark.parametrize("command", [["sweep"], ["sweep", "--dry-run"], ["sweep", "status"]])
def test_a_sweep_name_that_is_not_a_plain_name_is_refused(tmp_path, name, command):
    work = tmp_path / "work"
    work.mkdir()
    sweep_file = work / "study.toml"
    sweep_file.write_text(SWEEP.format(name=name))
    before = snapshot(tmp_path)
    if command[-1] == "status":
        result = invoke(*command, sweep_file)
    else:
        result = invoke(command[0], sweep_file, *command[1:])
    assert_one_line_error(result, 2, "is not a plain name")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and not Path("/tmp/zslbench-escape").exists()
    assert sorted(p.name for p in work.iterdir()) == ["study.toml"]


def test_a_sweep_file_whose_stem_is_not_a_plain_name_is_refused(tmp_path):
    sweep_file = tmp_path / "my study.toml"
    sweep_file.write_text(SWEEP.replace("name = {name}\n", ""))
    result = invoke("sweep", sweep_file, "--dry-run")
    assert_one_line_error(result, 2, "is not a plain name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my study.toml"]


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path, monkeypatch):
    """20 seeds x 12^8 grid values (8.6e9 runs): refused at once, one line, exit 2, nothing expanded or written."""
    from zslbench.sweep import spec as sweep_spec

    grid = "\n".join(f'"method.k{i}" = [{", ".join(str(v) for v in range(12))}]' for i in range(8))
    sweep_file = tmp_path / "huge.toml"
    sweep_file.write_text(SWEEP.format(name='"huge"').replace("seeds = [0]", f"seeds = {list(range(20))}")
                          + "\n[grid]\n" + grid + "\n")
    monkeypatch.setattr(sweep_spec.RunSpec, "__init__", lambda *a, **k: pytest.fail("the grid was expanded"))
    for args in (["sweep", sweep_file, "--dry-run"], ["sweep", sweep_file], ["sweep", "status", sweep_file]):
        result = invoke(*args)
        assert_one_line_error(result, 2, f"names {20 * 12 ** 8:,} runs")
        assert f"limit of {sweep_spec.MAX_SWEEP_RUNS:,}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.toml"]


def test_a_dry_run_streams_the_grid_without_materialising_it(tmp_path, monkeypatch):
    """--dry-run walks the grid lazily: it never builds the list of runs, and prints every command once."""
    from zslbench.sweep import spec as sweep_spec

    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(SWEEP.format(name='"grid"').replace("seeds = [0]", "seeds = [0, 1, 2]")
                          + '\n[grid]\n"method.sigma" = [1.0, 2.0, 3.0, 4.0]\n')
    monkeypatch.setattr(sweep_spec.SweepSpec, "expand", lambda self: pytest.fail("the grid was materialised"))
    result = invoke("sweep", sweep_file, "--dry-run")
    assert result.exit_code == 0, result.output
    commands = [line for line in result.output.splitlines() if line.startswith("zslbench run")]
    assert len(commands) == len(set(commands)) == 12
    assert "12 runs: 0 complete (skipped), 0 to resume, 12 to start" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml"]
