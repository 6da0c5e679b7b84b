"""The HDF5 file of one feature-cache entry: layout, chunked writing, verification.

One entry = one file ``<cache>/features/<dataset>-<backbone>-<fp12>.h5`` holding, per split of the
dataset (trainval, test_seen, test_unseen, ...)::

    /<split>/cls          (n, D)     float16 (default) or float32, chunked along images
    /<split>/patches      (n, P, Dp) optional: patch tokens, grouped 2x2 by default
    /<split>/labels       (n,)       int64 class ids
    /<split>/image_ids    (n,)       int64 indices into the dataset's images
    /<split>/cls_sha256   (chunks,)  sha256 of each written chunk (likewise patches_sha256)

with the attribute ``written`` (rows flushed so far) on each split group and, on the root, the
fingerprint, its parts (JSON) and ``complete``, written last: an interrupted or disk-full build never
looks complete, and a resumed build keeps the verified chunks.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError
from zslbench.features.fingerprints import FeatureKey
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
    ``building`` (locked by a running build) or ``unreadable``.
    """

    path: Path
    size_bytes: int
    fingerprint: str
    parts: dict
    created: str
    status: str
    split_sizes: dict[str, int] = field(default_factory=dict)


class CorruptEntryError(DataError):
    """A cache entry whose stored data does not match its checksums."""


ProgressCallback = Callable[[int, int], None]  # (rows done, rows total)


def is_disk_full(exc: OSError) -> bool:
    # h5py reports HDF5 write failures as OSError whose message carries the C errno
    return exc.errno == errno.ENOSPC or "No space left" in str(exc) or f"errno = {errno.ENOSPC}" in str(exc)


def _sha256_rows(rows: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest().encode()


def verify_chunks(data: np.ndarray, digests: np.ndarray, chunk_rows: int, path: Path, split: str) -> None:
    for c in range(math.ceil(len(data) / chunk_rows)):
        if _sha256_rows(data[c * chunk_rows:(c + 1) * chunk_rows]) != bytes(digests[c]):
            raise CorruptEntryError(f"feature cache file {path}: chunk {c} of split {split!r} fails its checksum")


def _splits_of(dataset: ZSLDataset) -> dict[str, np.ndarray]:
    return {name: np.asarray(idx, dtype=np.int64) for name, idx in sorted(dataset.splits.items())}


def structure_problem(f: Any, key: FeatureKey) -> str | None:
    """Why an opened file is not a complete entry of ``key`` (None when it is)."""
    if int(f.attrs.get("format_version", -1)) != key.format_version:
        return f"format version {f.attrs.get('format_version')} != {key.format_version}"
    if str(f.attrs.get("fingerprint", "")) != key.fingerprint:
        return "fingerprint mismatch"
    chunk_rows = int(f.attrs.get("chunk_rows", 0))
    dim = int(f.attrs.get("feature_dim", -1))
    for split in json.loads(f.attrs.get("splits", "[]")):
        if split not in f:
            return f"split {split!r} missing"
        group = f[split]
        n = int(group.attrs.get("n_images", -1))
        if int(group.attrs.get("written", -1)) != n:
            return f"split {split!r} has {group.attrs.get('written')} of {n} rows"
        for name in ("labels", "image_ids"):
            if name not in group or group[name].shape != (n,):
                return f"split {split!r}: {name} has the wrong shape"
        if "cls" not in group or group["cls"].shape != (n, dim):
            return f"split {split!r}: class tokens have shape {group['cls'].shape if 'cls' in group else None}, expected {(n, dim)}"
        if str(group["cls"].dtype) != key.dtype:
            return f"split {split!r}: stored dtype {group['cls'].dtype} != {key.dtype}"
        if ("patches" in group) != key.with_patches:
            return f"split {split!r}: patch tokens {'present' if 'patches' in group else 'missing'}"
        if group["cls_sha256"].shape[0] != math.ceil(n / max(chunk_rows, 1)):
            return f"split {split!r}: checksum count does not match the rows"
    return None


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
        group.attrs.update({"n_images": len(idx), "written": 0})
        group.create_dataset("labels", data=np.asarray(dataset.labels)[idx].astype(np.int64))
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
            if _resumable(f, key, dataset):
                _drop_bad_chunks(f)
                return f
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
            ok = _sha256_rows(group["cls"][rows]) == bytes(group["cls_sha256"][c])
            if ok and "patches" in group:
                ok = _sha256_rows(group["patches"][rows]) == bytes(group["patches_sha256"][c])
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
    group.create_dataset("cls_sha256", shape=(n_chunks,), dtype="S64")
    if key.with_patches:
        if patch_shape is None:
            raise DataError("patch tokens were requested but the feature source produced none")
        p_rows = max(1, min(rows, 16))  # patch chunks stay a few MB
        group.create_dataset("patches", shape=(n, *patch_shape), dtype=key.dtype,
                             chunks=(p_rows, *patch_shape) if n else None)
        group.create_dataset("patches_sha256", shape=(n_chunks,), dtype="S64")


def _write_chunk(f: Any, group: Any, chunk_index: int, start: int, cls: np.ndarray,
                 patches: np.ndarray | None, dtype: str) -> None:
    """Write one chunk, its checksums, then advance ``written`` and flush (the order makes resuming safe)."""
    stop = start + len(cls)
    stored = cls.astype(dtype)
    group["cls"][start:stop] = stored
    group["cls_sha256"][chunk_index] = _sha256_rows(stored)
    if patches is not None:
        stored_p = patches.astype(dtype)
        group["patches"][start:stop] = stored_p
        group["patches_sha256"][chunk_index] = _sha256_rows(stored_p)
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
                _write_chunk(f, group, start // chunk_rows, start, cls, patches if key.with_patches else None, key.dtype)
                done += len(cls)
                if progress:
                    progress(done, total)
        _finish(f, key, splits, chunk_rows)
    finally:
        f.close()


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
