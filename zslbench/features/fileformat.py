"""The HDF5 file of one feature-cache entry: layout, chunked writing, verification.

One entry = one file ``<cache>/features/<dataset>-<backbone>-<fp12>.h5`` holding, per split of the
dataset (trainval, test_seen, test_unseen, ...)::

    /<split>/cls          (n, D)     float16 (default) or float32, chunked along images
    /<split>/patches      (n, P, Dp) optional: patch tokens, grouped 2x2 by default
    /<split>/labels       (n,)       int64 class ids
    /<split>/image_ids    (n,)       int64 indices into the dataset's images
    /<split>/cls_crc32    (chunks,)  CRC-32 of each written chunk (likewise patches_crc32)

with the attributes ``written`` (rows flushed so far), ``labels_crc32`` and ``image_ids_crc32`` on
each split group and, on the root, the fingerprint, its parts (JSON) and ``complete``, written last:
an interrupted or disk-full build never looks complete, and a resumed build keeps the verified chunks.
Every array read back is checked against its checksum (:mod:`zslbench.cache_integrity`).
A build stops cleanly before a chunk that would not fit on the disk (:func:`_ensure_space`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from zslbench import cache_integrity as integrity
from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, ZSLBenchError
from zslbench.features.fingerprints import FEATURE_FORMAT_VERSION, FeatureKey
from zslbench.features.sources import FeatureSource

@dataclass
class FeatureSplit:
    """Features of one split: ``features`` (N, D) float32, ``labels`` (N,), ``image_ids`` (N,) dataset indices.

    ``patches`` (N, P, Dp) is only read on request and kept in the stored dtype
    (float16 by default) to spare memory. Unpacks as ``features, labels, image_ids``.
    """

    features: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    patches: np.ndarray | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.features, self.labels, self.image_ids))

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class CacheEntry:
    """A complete, verified cache entry."""

    path: Path
    fingerprint: str
    parts: dict
    split_sizes: dict[str, int]
    feature_dim: int
    patch_shape: tuple[int, int] | None
    dtype: str


@dataclass(frozen=True)
class CacheEntryInfo:
    """One file of the cache, as listed by ``zslbench cache ls``.

    ``status`` is ``complete``, ``partial`` (an interrupted build, resumable),
    ``building`` (locked by a running build), ``unreadable`` or (with
    ``ls(verify=True)``) ``corrupt``.
    """

    path: Path
    size_bytes: int
    fingerprint: str
    parts: dict
    created: str
    status: str
    split_sizes: dict[str, int] = field(default_factory=dict)
    problem: str = ""  # why a ``corrupt`` entry failed verification


class CorruptEntryError(DataError):
    """A cache entry whose stored data does not match its checksums."""


ProgressCallback = Callable[[int, int], None]  # (rows done, rows total)


#: errno values of a cache the process may not write (a read-only mount, no permission).
READ_ONLY_ERRNOS = (errno.EACCES, errno.EROFS, errno.EPERM)


def is_disk_full(exc: BaseException) -> bool:
    # h5py reports HDF5 write failures as OSError or RuntimeError whose message carries the C errno
    return (getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
            or f"errno = {errno.ENOSPC}" in str(exc))


def read_split(f: Any, split: str, with_patches: bool, verify: bool, dtype: str | None) -> FeatureSplit:
    """One split of an open entry; with ``verify`` every array is checked (ChecksumMismatch naming it)."""
    group = f[split]
    chunk_rows = int(f.attrs["chunk_rows"])

    def rows(name: str, out_dtype: str | None) -> np.ndarray:
        digests = group[name + integrity.CRC_SUFFIX][...] if verify else None
        return integrity.read_rows(group[name], digests, chunk_rows, out_dtype, where=name)

    def small(name: str) -> np.ndarray:
        values = group[name][...]
        return integrity.verify_array(values, group.attrs[f"{name}_crc32"], f"{name} fail their checksum") if verify else values

    return FeatureSplit(features=rows("cls", dtype), labels=small("labels"), image_ids=small("image_ids"),
                        patches=rows("patches", None) if with_patches else None)


def _splits_of(dataset: ZSLDataset) -> dict[str, np.ndarray]:
    return {name: np.asarray(idx, dtype=np.int64) for name, idx in sorted(dataset.splits.items())}


def _attr(attrs: Any, name: str, where: str) -> Any:
    if name not in attrs:
        raise _Malformed(f"{where}attribute {name!r} missing")
    return attrs[name]


def _int_attr(attrs: Any, name: str, where: str, minimum: int) -> int:
    value = _attr(attrs, name, where)
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or int(value) < minimum:
        raise _Malformed(f"{where}attribute {name!r} is {value!r}, expected an integer >= {minimum}")
    return int(value)


def _json_attr(attrs: Any, name: str, where: str) -> Any:
    try:
        return json.loads(str(_attr(attrs, name, where)))
    except ValueError:
        raise _Malformed(f"{where}attribute {name!r} is not JSON") from None


def _expect_dataset(group: Any, name: str, shape: tuple[int, ...], dtype: Any) -> None:
    if name not in group or not hasattr(group[name], "shape"):
        raise _Malformed(f"split {group.name.lstrip('/')!r}: dataset {name!r} missing")
    dset = group[name]
    if dset.shape != shape:
        raise _Malformed(f"split {group.name.lstrip('/')!r}: {name} has shape {dset.shape}, expected {shape}")
    if dset.dtype != np.dtype(dtype):
        raise _Malformed(f"split {group.name.lstrip('/')!r}: {name} is stored as {dset.dtype}, expected {np.dtype(dtype)}")


class _Malformed(Exception):
    """A structural fault of an entry file (the message says which)."""


def recorded_key(f: Any) -> FeatureKey:
    """The key an entry file records (its ``key_parts``), checked against its fingerprint and file name."""
    parts = _json_attr(f.attrs, "key_parts", "")
    try:
        key = FeatureKey(**parts)
    except (TypeError, ZSLBenchError):
        raise _Malformed("attribute 'key_parts' does not describe a feature key") from None
    if str(_attr(f.attrs, "fingerprint", "")) != key.fingerprint:
        raise _Malformed("fingerprint mismatch (the fingerprint does not match the recorded key)")
    if Path(f.filename).name != key.filename:
        raise _Malformed(f"the file name does not match its key (expected {key.filename})")
    return key


def structure_problem(f: Any, key: FeatureKey | None = None) -> str | None:
    """Why an opened file is not a complete, well-formed entry (None when it is).

    Checks every attribute, dataset, shape and dtype the layout requires
    against the recorded counts, but reads no array data (see :func:`read_split`
    for the checksums). ``key``: the entry must also be this key's (default:
    the key the file records, checked against its fingerprint).
    """
    try:
        _check_structure(f, key)
    except _Malformed as exc:
        return str(exc)
    except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:  # h5py on damaged metadata
        return f"unreadable structure ({type(exc).__name__}: {exc})"
    return None


def _check_structure(f: Any, key: FeatureKey | None) -> None:
    if _int_attr(f.attrs, "format_version", "", 0) != FEATURE_FORMAT_VERSION:
        raise _Malformed(f"format version {f.attrs['format_version']} != {FEATURE_FORMAT_VERSION}")
    own = recorded_key(f)
    if key is not None and own.fingerprint != key.fingerprint:
        raise _Malformed("fingerprint mismatch")
    if own.format_version != FEATURE_FORMAT_VERSION:
        raise _Malformed(f"format version {own.format_version} != {FEATURE_FORMAT_VERSION}")
    if str(_attr(f.attrs, "dtype", "")) != own.dtype:
        raise _Malformed(f"attribute 'dtype' is {f.attrs['dtype']!r}, the key says {own.dtype}")
    if not bool(_attr(f.attrs, "complete", "")):
        raise _Malformed("incomplete (an interrupted build)")
    chunk_rows = _int_attr(f.attrs, "chunk_rows", "", 1)
    dim = _int_attr(f.attrs, "feature_dim", "", 1)
    patch_shape = _json_attr(f.attrs, "patch_shape", "")
    if patch_shape is not None and not (isinstance(patch_shape, list) and len(patch_shape) == 2
                                        and all(isinstance(v, int) and v > 0 for v in patch_shape)):
        raise _Malformed(f"attribute 'patch_shape' is {patch_shape!r}")
    if (patch_shape is not None) != own.with_patches:
        raise _Malformed(f"patch tokens {'recorded' if patch_shape else 'not recorded'}, the key says "
                         f"with_patches={own.with_patches}")
    splits = _json_attr(f.attrs, "splits", "")
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) and s for s in splits):
        raise _Malformed("attribute 'splits' is not a list of split names")
    for split in splits:
        if split not in f or not hasattr(f[split], "attrs") or hasattr(f[split], "shape"):
            raise _Malformed(f"split {split!r} missing")
        _check_split(f[split], split, own, chunk_rows, dim, patch_shape)


def _check_split(group: Any, split: str, key: FeatureKey, chunk_rows: int, dim: int,
                 patch_shape: list[int] | None) -> None:
    where = f"split {split!r}: "
    n = _int_attr(group.attrs, "n_images", where, 0)
    written = _int_attr(group.attrs, "written", where, 0)
    if written != n:
        raise _Malformed(f"split {split!r} has {written} of {n} rows")
    for name in ("labels", "image_ids"):
        _int_attr(group.attrs, f"{name}_crc32", where, 0)
        _expect_dataset(group, name, (n,), np.int64)
    n_chunks = math.ceil(n / chunk_rows)
    arrays = {"cls": (n, dim), **({"patches": (n, *patch_shape)} if patch_shape is not None else {})}
    for name, shape in arrays.items():
        _expect_dataset(group, name, shape, key.dtype)
        _expect_dataset(group, name + integrity.CRC_SUFFIX, (n_chunks,), integrity.CRC_DTYPE)
    if patch_shape is None and "patches" in group:
        raise _Malformed(f"split {split!r}: patch tokens present, the key says none")


def entry_from_file(path: Path, f: Any) -> CacheEntry:
    shape = json.loads(f.attrs.get("patch_shape", "null"))
    return CacheEntry(
        path=path, fingerprint=str(f.attrs["fingerprint"]), parts=json.loads(f.attrs["key_parts"]),
        split_sizes={s: int(f[s].attrs["n_images"]) for s in json.loads(f.attrs["splits"])},
        feature_dim=int(f.attrs["feature_dim"]), patch_shape=tuple(shape) if shape else None,
        dtype=str(f.attrs["dtype"]),
    )


def _create_file(path: Path, key: FeatureKey, dataset: ZSLDataset, chunk_rows: int) -> Any:
    import h5py

    from zslbench.version import __version__

    f = h5py.File(path, "w")
    f.attrs.update({
        "fingerprint": key.fingerprint, "key_parts": json.dumps(key.parts(), sort_keys=True),
        "format_version": key.format_version, "zslbench_version": __version__, "dtype": key.dtype,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "chunk_rows": chunk_rows, "complete": False, "feature_dim": -1, "patch_shape": "null",
        "splits": json.dumps(list(_splits_of(dataset))),
    })
    for name, idx in _splits_of(dataset).items():
        group = f.create_group(name)
        labels = np.asarray(dataset.labels)[idx].astype(np.int64)
        group.attrs.update({"n_images": len(idx), "written": 0, "labels_crc32": integrity.checksum(labels),
                            "image_ids_crc32": integrity.checksum(idx)})
        group.create_dataset("labels", data=labels)
        group.create_dataset("image_ids", data=idx)
    f.flush()
    return f


def _open_for_writing(path: Path, key: FeatureKey, dataset: ZSLDataset, chunk_rows: int) -> Any:
    """The resumable partial file of ``key`` with its bad chunks dropped, or a fresh file."""
    import h5py

    if path.exists():
        try:
            f = h5py.File(path, "a")
        except OSError as exc:
            warnings.warn(f"feature cache file {path} is unreadable ({exc}); starting it again", RuntimeWarning,
                          stacklevel=4)
        else:
            try:
                if _resumable(f, key, dataset):
                    _drop_bad_chunks(f)
                    return f
            except (KeyError, ValueError, RuntimeError, OSError) as exc:  # damaged metadata, e.g. after a full disk
                warnings.warn(f"feature cache file {path} cannot be resumed ({exc}); starting it again",
                              RuntimeWarning, stacklevel=4)
            with contextlib.suppress(Exception):
                f.close()
        path.unlink(missing_ok=True)
    return _create_file(path, key, dataset, chunk_rows)


def _resumable(f: Any, key: FeatureKey, dataset: ZSLDataset) -> bool:
    if str(f.attrs.get("fingerprint", "")) != key.fingerprint or bool(f.attrs.get("complete", False)):
        return False
    splits = _splits_of(dataset)
    if json.loads(f.attrs.get("splits", "[]")) != list(splits):
        return False
    return all(name in f and np.array_equal(f[name]["image_ids"][...], idx) for name, idx in splits.items())


def _drop_bad_chunks(f: Any) -> None:
    """Keep the written rows up to the first chunk whose data no longer matches its checksum."""
    chunk_rows = int(f.attrs["chunk_rows"])
    for name in json.loads(f.attrs["splits"]):
        group = f[name]
        written = int(group.attrs["written"])
        if written == 0 or "cls" not in group:
            group.attrs["written"] = 0
            continue
        good = 0
        for c in range(math.ceil(written / chunk_rows)):
            rows = slice(c * chunk_rows, min(written, (c + 1) * chunk_rows))
            ok = integrity.checksum(group["cls"][rows]) == int(group["cls" + integrity.CRC_SUFFIX][c])
            if ok and "patches" in group:
                ok = integrity.checksum(group["patches"][rows]) == int(group["patches" + integrity.CRC_SUFFIX][c])
            if not ok:
                break
            good = rows.stop
        group.attrs["written"] = good
    f.flush()


def _ensure_datasets(f: Any, group: Any, key: FeatureKey, chunk_rows: int, dim: int,
                     patch_shape: tuple[int, int] | None) -> None:
    """Create the feature datasets of a split (shapes are known once the first chunk is encoded)."""
    if "cls" in group:
        return
    if int(f.attrs["feature_dim"]) < 0:
        f.attrs["feature_dim"] = dim
        f.attrs["patch_shape"] = json.dumps(list(patch_shape) if patch_shape else None)
    elif int(f.attrs["feature_dim"]) != dim:
        raise DataError(f"the backbone produced {dim}-d features for split {group.name}, "
                        f"{int(f.attrs['feature_dim'])}-d for another split")
    n = int(group.attrs["n_images"])
    rows = max(1, min(n, chunk_rows))
    group.create_dataset("cls", shape=(n, dim), dtype=key.dtype, chunks=(rows, dim) if n else None)
    n_chunks = math.ceil(n / chunk_rows)
    group.create_dataset("cls" + integrity.CRC_SUFFIX, shape=(n_chunks,), dtype=integrity.CRC_DTYPE)
    if key.with_patches:
        if patch_shape is None:
            raise DataError("patch tokens were requested but the feature source produced none")
        p_rows = max(1, min(rows, 16))  # patch chunks stay a few MB
        group.create_dataset("patches", shape=(n, *patch_shape), dtype=key.dtype,
                             chunks=(p_rows, *patch_shape) if n else None)
        group.create_dataset("patches" + integrity.CRC_SUFFIX, shape=(n_chunks,), dtype=integrity.CRC_DTYPE)


def _write_chunk(f: Any, group: Any, chunk_index: int, start: int, cls: np.ndarray,
                 patches: np.ndarray | None, dtype: str) -> None:
    """Write one chunk, its checksums, then advance ``written`` and flush (the order makes resuming safe)."""
    stop = start + len(cls)
    stored = cls.astype(dtype)
    group["cls"][start:stop] = stored
    group["cls" + integrity.CRC_SUFFIX][chunk_index] = integrity.checksum(stored)
    if patches is not None:
        stored_p = patches.astype(dtype)
        group["patches"][start:stop] = stored_p
        group["patches" + integrity.CRC_SUFFIX][chunk_index] = integrity.checksum(stored_p)
    group.attrs["written"] = stop
    f.flush()


def fill_entry(path: Path, key: FeatureKey, dataset: ZSLDataset, source: FeatureSource, chunk_rows: int,
          progress: ProgressCallback | None) -> None:
    f = _open_for_writing(path, key, dataset, chunk_rows)
    try:
        chunk_rows = int(f.attrs["chunk_rows"])  # a resumed file keeps its own chunking
        splits = _splits_of(dataset)
        total = sum(len(v) for v in splits.values())
        done = sum(int(f[name].attrs["written"]) for name in splits)
        if progress:
            progress(done, total)
        for name, idx in splits.items():
            group = f[name]
            written = int(group.attrs["written"])
            for offset, (cls, patches) in enumerate(source.iter_chunks(idx[written:], chunk_rows)):
                if cls.shape[0] != min(chunk_rows, len(idx) - written - offset * chunk_rows):
                    raise DataError(f"the feature source returned {cls.shape[0]} rows for a chunk of split {name!r}")
                patch_shape = tuple(patches.shape[1:]) if patches is not None else None
                _ensure_datasets(f, group, key, chunk_rows, int(cls.shape[1]), patch_shape)
                start = written + offset * chunk_rows
                _ensure_space(path, cls, patches if key.with_patches else None, key.dtype)
                _write_chunk(f, group, start // chunk_rows, start, cls, patches if key.with_patches else None, key.dtype)
                done += len(cls)
                if progress:
                    progress(done, total)
        _finish(f, key, splits, chunk_rows)
    except BaseException:
        _close_after_failure(f, path)
        raise
    f.close()


#: Free space kept beyond a chunk's own bytes, for HDF5's metadata (chunk index, attributes, flushes).
_SPACE_MARGIN_BYTES = 8 << 20


def _ensure_space(path: Path, cls: np.ndarray, patches: np.ndarray | None, dtype: str) -> None:
    """Stop before a chunk that would not fit on the disk (OSError ENOSPC), while HDF5 can still close cleanly.

    A real ENOSPC inside HDF5 leaves dirty metadata that can never be flushed
    (the file is unusable and the interpreter crashed at exit); checking the
    free space first keeps the partial entry intact and resumable.
    """
    itemsize = np.dtype(dtype).itemsize
    needed = (cls.size + (patches.size if patches is not None else 0)) * itemsize + _SPACE_MARGIN_BYTES
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device ({free} bytes free, a chunk needs {needed})", str(path))


def _close_after_failure(f: Any, path: Path) -> None:
    """Close a file whose last write failed, so that HDF5 holds nothing open at exit.

    After a real ENOSPC (the disk filled between :func:`_ensure_space` and the
    write), HDF5 cannot flush its metadata and the close fails; the content is
    unusable then: truncating frees the space, and the file is removed (the
    next build starts it again). A close that succeeds keeps the partial file.
    """
    try:
        f.close()
        return
    except Exception:
        pass
    with contextlib.suppress(OSError):
        os.truncate(path, 0)
    with contextlib.suppress(Exception):
        f.close()
    with contextlib.suppress(OSError):
        path.unlink()


def _finish(f: Any, key: FeatureKey, splits: dict[str, np.ndarray], chunk_rows: int) -> None:
    """Create the datasets of empty splits, then mark the entry complete (the very last write)."""
    dim = int(f.attrs["feature_dim"])
    if dim < 0:
        raise DataError(f"dataset {key.dataset!r} has no images in any split: nothing to cache")
    shape = json.loads(f.attrs["patch_shape"])
    for name in splits:
        _ensure_datasets(f, f[name], key, chunk_rows, dim, tuple(shape) if shape else None)
    f.flush()
    f.attrs["complete"] = True
    f.flush()
