"""The feature cache: frozen backbone features of a dataset, stored once in HDF5 and reused.

Feature-level methods (ESZSL, SAE, ALE, ...) never see pixels; they are fitted
on the class tokens (and optionally the grouped patch tokens) of a frozen
backbone. :func:`get_features` is the entry point: on a cache hit it reads the
arrays without constructing the backbone; on a miss it encodes every image of
the dataset once (with a progress bar) and stores the result.

One entry = one HDF5 file ``<cache>/features/<dataset>-<backbone>-<fp12>.h5``
holding, per split of the dataset (trainval, test_seen, test_unseen, ...)::

    /<split>/cls          (n, D)     float16 (default) or float32, chunked along images
    /<split>/patches      (n, P, Dp) optional: patch tokens, grouped 2x2 by default
    /<split>/labels       (n,)       int64 class ids
    /<split>/image_ids    (n,)       int64 indices into the dataset's images
    /<split>/cls_sha256   (chunks,)  sha256 of each written chunk (likewise patches_sha256)

with the attribute ``written`` (rows flushed so far) on each split group and,
on the root, the fingerprint, its parts (JSON) and ``complete``, written last.

The fingerprint (:class:`FeatureKey`) covers everything that changes the
features: dataset name, split definition (hash of the split index arrays and
the labels), data identity (see :func:`data_fingerprint`), backbone name,
weights checksum (:func:`state_dict_checksum`), transform recipe, image size,
storage dtype, patch settings and :data:`FEATURE_FORMAT_VERSION`. A changed
input gives a new file name, never a stale hit.

Robustness: builds are resumable (verified chunks are kept), a file that fails
verification is reported with a warning naming it and rebuilt, concurrent
builders of one entry are serialised by a lock file, and an interrupted or
disk-full build never looks complete because ``complete=True`` is written last.

The published ResNet-101 features of Xian et al. (``res101.mat``) import as the
backbone :data:`RES101_BACKBONE` (:func:`import_res101`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from zslbench import paths
from zslbench.data.dataset import ArrayImages, FileImages, ZSLDataset
from zslbench.errors import DataError, UsageError

try:  # POSIX advisory locks; released by the OS when the holder dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Bumped whenever the file layout or the meaning of stored features changes.
FEATURE_FORMAT_VERSION = 1
#: Backbone name of the published ResNet-101 features of Xian et al. (res101.mat).
RES101_BACKBONE = "resnet101-xlsa17"
#: Storage dtypes a cache entry may use.
DTYPES = ("float16", "float32")

_SAMPLES_PER_TENSOR = 4096  # elements hashed per weight tensor
_FILE_SAMPLE_BYTES = 1 << 20  # bytes hashed at the start, middle and end of a file
_IMAGE_FILES_SAMPLED = 16  # image files whose content is sampled for the data identity
_FULL_HASH_MAX_BYTES = 256 << 20  # in-memory image arrays up to this size are hashed whole
_NOT_REPRODUCIBLE = "not-reproducible"  # weights-index marker: the source initialises randomly
#: dataset.meta keys that identify the data (everything else, e.g. the attribute choice, does not change pixels).
_IDENTITY_META_KEYS = ("source_files", "preset", "seed", "generator_version", "image_size", "recipe")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FeatureKey:
    """Everything that determines the stored features; its :attr:`fingerprint` names the entry."""

    dataset: str
    backbone: str
    weights_checksum: str
    transform_recipe: str
    image_size: int
    split_hash: str
    data_hash: str
    dtype: str = "float16"
    with_patches: bool = False
    patch_group: int = 2
    format_version: int = FEATURE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown feature dtype {self.dtype!r}", f"choose one of {', '.join(DTYPES)}")
        if not self.with_patches and self.patch_group != 0:
            object.__setattr__(self, "patch_group", 0)  # irrelevant without patches: one key, not several

    def parts(self) -> dict:
        """The fingerprint parts, JSON-serialisable (stored in the file)."""
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`parts`."""
        return _sha256_text(json.dumps(self.parts(), sort_keys=True))

    @property
    def filename(self) -> str:
        return f"{_safe_name(self.dataset)}-{_safe_name(self.backbone)}-{self.fingerprint[:12]}.h5"


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


class CacheLockTimeout(DataError):
    """Another process holds the build lock of an entry for longer than allowed."""


class CorruptEntryError(DataError):
    """A cache entry whose stored data does not match its checksums."""


class FeatureSource(Protocol):
    """Produces the features of dataset images, one chunk of rows at a time."""

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(cls (n, D), patches (n, P, Dp) | None)`` for consecutive slices of ``indices``."""
        ...


# --------------------------------------------------------------------------- fingerprint parts


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def split_fingerprint(dataset: ZSLDataset) -> str:
    """sha256 of the labels and of every split's index array (names included, sorted)."""
    h = hashlib.sha256()
    labels = np.ascontiguousarray(dataset.labels, dtype=np.int64)
    h.update(f"labels{labels.shape}".encode())
    h.update(labels.tobytes())
    for name in sorted(dataset.splits):
        idx = np.ascontiguousarray(dataset.splits[name], dtype=np.int64)
        h.update(f"|{name}:{idx.size}|".encode())
        h.update(idx.tobytes())
    return h.hexdigest()


def file_sample_digest(path: Path) -> str:
    """Identity of a file's content: its size and sha256 of 1 MiB at its start, middle and end.

    Cheap on multi-GB files; misses only edits confined to the unsampled bytes
    that keep the size, which real dataset and checkpoint files do not have.
    """
    size = path.stat().st_size
    h = hashlib.sha256(f"size={size}".encode())
    with path.open("rb") as fh:
        for offset in sorted({0, max(0, size // 2 - _FILE_SAMPLE_BYTES // 2), max(0, size - _FILE_SAMPLE_BYTES)}):
            fh.seek(offset)
            h.update(fh.read(_FILE_SAMPLE_BYTES))
    return h.hexdigest()


def _image_source_identity(dataset: ZSLDataset, sample_files: bool) -> str:
    """What identifies the pixels: array content, or relative file paths (+ sampled file contents)."""
    images = dataset.images
    h = hashlib.sha256(f"{type(images).__name__}:{len(images)}".encode())
    if isinstance(images, ArrayImages):
        pixels = np.ascontiguousarray(images.pixels)
        h.update(f"{pixels.shape}{pixels.dtype}".encode())
        if pixels.nbytes <= _FULL_HASH_MAX_BYTES:
            h.update(pixels.tobytes())
        else:  # one pixel row of every image, plus every k-th image whole
            h.update(np.ascontiguousarray(pixels[:, pixels.shape[1] // 2]).tobytes())
            h.update(np.ascontiguousarray(pixels[:: max(1, len(pixels) // 64)]).tobytes())
    elif isinstance(images, FileImages):
        base = dataset.meta.get("image_dir") or dataset.meta.get("root")
        names = [_relative(Path(p), base) for p in images.paths]
        h.update("\n".join(names).encode())
        if sample_files and len(images.paths):
            for i in np.unique(np.linspace(0, len(images.paths) - 1, _IMAGE_FILES_SAMPLED).astype(np.int64)):
                p = Path(images.paths[int(i)])
                h.update((file_sample_digest(p) if p.is_file() else "missing").encode())
    else:  # an unknown source: its own description of a sample of images
        for i in np.unique(np.linspace(0, max(0, len(images) - 1), min(len(images), 1000)).astype(np.int64)):
            h.update(images.describe(int(i)).encode())
    return h.hexdigest()


def _relative(path: Path, base: str | None) -> str:
    if base:
        with contextlib.suppress(ValueError):
            return path.relative_to(base).as_posix()
    return path.as_posix()


def data_fingerprint(dataset: ZSLDataset, sample_image_files: bool = True) -> str:
    """sha256 identifying the data behind the features.

    Covers the dataset name, the identity keys of ``dataset.meta``
    (``source_files`` with their size and mtime, synthetic preset/seed/generator
    version, image size, recipe) and the images: the whole pixel array for
    in-memory images (a sample above 256 MiB), or the file paths relative to the
    image folder plus a content sample of 16 files. The dataset root itself is
    left out so a moved copy keeps its cache.
    """
    meta = {k: dataset.meta[k] for k in _IDENTITY_META_KEYS if k in dataset.meta}
    if "source_files" in meta:  # a moved copy of identical files keeps its cache
        meta["source_files"] = [
            {k: v for k, v in entry.items() if k != "path"} | {"name": Path(str(entry.get("path", ""))).name}
            if isinstance(entry, dict) else str(entry)
            for entry in (meta["source_files"].values() if isinstance(meta["source_files"], dict) else meta["source_files"])
        ]
    h = hashlib.sha256(dataset.name.encode())
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    h.update(_image_source_identity(dataset, sample_image_files).encode())
    return h.hexdigest()


def state_dict_checksum(module: Any) -> str:
    """Checksum of a module's weights: sha256 over every tensor's name, dtype, shape and a strided sample.

    At most 4096 evenly strided elements of each tensor are hashed (always the
    first one), computed on the CPU copy, so the checksum is cheap for large
    backbones and independent of the device. Two weight sets that differ only
    outside the samples collide; fine-tuned or differently initialised weights
    change nearly every element, so in practice they do not.
    """
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.reshape(-1)
        if flat.numel() == 0:
            continue
        step = max(1, math.ceil(flat.numel() / _SAMPLES_PER_TENSOR))
        sample = flat[::step].cpu()
        if sample.dtype == torch.bfloat16:  # numpy has no bfloat16
            sample = sample.float()
        h.update(sample.contiguous().numpy().tobytes())
    return h.hexdigest()


def make_key(dataset: ZSLDataset, backbone: str, weights_checksum: str, transform_recipe: str, image_size: int,
             dtype: str = "float16", with_patches: bool = False, patch_group: int = 2,
             sample_image_files: bool = True) -> FeatureKey:
    """The :class:`FeatureKey` of ``dataset`` encoded by ``backbone`` with the given weights and settings."""
    return FeatureKey(
        dataset=dataset.name, backbone=backbone, weights_checksum=weights_checksum,
        transform_recipe=transform_recipe, image_size=int(image_size),
        split_hash=split_fingerprint(dataset), data_hash=data_fingerprint(dataset, sample_image_files),
        dtype=dtype, with_patches=bool(with_patches), patch_group=int(patch_group),
    )


# --------------------------------------------------------------------------- lock


class _BuildLock:
    """An exclusive lock file next to an entry; waits up to ``timeout_s`` (None: forever).

    POSIX: ``fcntl.flock`` (released by the OS if the holder dies, so no stale
    locks). Elsewhere: ``O_CREAT | O_EXCL`` creation of the lock file.
    """

    def __init__(self, path: Path, timeout_s: float | None, poll_s: float = 0.2):
        self.path = path.with_name(path.name + ".lock")
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._fd: int | None = None

    def __enter__(self) -> "_BuildLock":
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        announced = False
        while not self._try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise CacheLockTimeout(
                    f"another process is building the feature cache entry {self.path.with_suffix('')}",
                    f"wait for it to finish; if no build is running, delete {self.path}")
            if not announced:
                warnings.warn(f"waiting for another process building {self.path.with_suffix('')}", RuntimeWarning,
                              stacklevel=2)
                announced = True
            time.sleep(self.poll_s)
        return self

    def _try_acquire(self) -> bool:
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        try:  # pragma: no cover - non-POSIX
            self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # pragma: no cover
            return False
        return True  # pragma: no cover

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        else:  # pragma: no cover
            os.close(self._fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._fd = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock right now (checked without waiting)."""
        if not self.path.exists():
            return False
        if not self._try_acquire():
            return True
        self.__exit__()
        return False


# --------------------------------------------------------------------------- sources


class BackboneSource:
    """Encodes dataset images with a backbone exposing ``encode(images) -> (cls, patches)``."""

    def __init__(self, dataset: ZSLDataset, backbone: Any, transform: Callable, device: str = "cpu",
                 with_patches: bool = False, patch_group: int = 2, num_workers: int = 0):
        self.dataset, self.backbone, self.transform = dataset, backbone, transform
        self.device, self.with_patches, self.patch_group = device, with_patches, patch_group
        self.num_workers = num_workers

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        import torch
        from torch.utils.data import DataLoader

        if len(indices) == 0:
            return
        loader = DataLoader(_TransformedImages(self.dataset, indices, self.transform), batch_size=chunk_rows,
                            shuffle=False, num_workers=self.num_workers)
        self.backbone.to(self.device).eval()
        for images in loader:
            # inference mode around the forward only: it must not stay on while the generator is suspended
            with torch.inference_mode():
                cls, patches = self.backbone.encode(images.to(self.device, non_blocking=True))
                if self.with_patches and self.patch_group > 1:
                    patches = self.backbone.group_patches(patches, group=self.patch_group)
                chunk = (cls.float().cpu().numpy(), patches.float().cpu().numpy() if self.with_patches else None)
            yield chunk


class _TransformedImages:
    """Map-style dataset of transformed images (a torch Dataset by duck typing)."""

    def __init__(self, dataset: ZSLDataset, indices: np.ndarray, transform: Callable):
        self.images, self.indices, self.transform = dataset.images, np.asarray(indices), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        index = int(self.indices[i])
        try:
            image = self.images.load(index)
        except Exception as exc:  # decoding errors of user files become one readable line
            raise DataError(f"cannot read image {self.images.describe(index)}: {exc}",
                            "restore the file or set data.skip_bad_images=true") from exc
        return self.transform(image)


class ArraySource:
    """Features already in memory, one row per dataset image (e.g. the published res101 features)."""

    def __init__(self, features: np.ndarray):
        self.features = features

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for start in range(0, len(indices), chunk_rows):
            yield self.features[indices[start:start + chunk_rows]], None


# --------------------------------------------------------------------------- the cache


ProgressCallback = Callable[[int, int], None]  # (rows done, rows total)


class FeatureCache:
    """HDF5 feature cache under ``root`` (default ``paths.cache_dir("features")``)."""

    def __init__(self, root: str | Path | None = None, lock_timeout_s: float | None = None):
        self.root = Path(root) if root is not None else paths.cache_dir("features")
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_timeout_s = lock_timeout_s

    # ------------------------------------------------------------ naming and locking

    def path_for(self, key: FeatureKey) -> Path:
        return self.root / key.filename

    def lock(self, key: FeatureKey) -> _BuildLock:
        """The build lock of ``key``'s entry (a context manager)."""
        return _BuildLock(self.path_for(key), self.lock_timeout_s)

    # ------------------------------------------------------------ lookup

    def lookup(self, key: FeatureKey) -> CacheEntry | None:
        """The complete entry of ``key``, or None. An entry that fails verification is reported and removed."""
        with self.lock(key):
            return self._lookup_locked(key)

    def _lookup_locked(self, key: FeatureKey) -> CacheEntry | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if not bool(f.attrs.get("complete", False)):
                    return None  # an interrupted build: resumed by build()
                problem = _structure_problem(f, key)
                if problem is None:
                    return _entry_from_file(path, f)
        except OSError as exc:
            problem = f"cannot be opened ({exc})"
        warnings.warn(f"feature cache file {path} failed verification: {problem}; rebuilding it", RuntimeWarning,
                      stacklevel=3)
        path.unlink(missing_ok=True)
        return None

    # ------------------------------------------------------------ build

    def build(self, dataset: ZSLDataset, backbone: Any, key: FeatureKey, transform: Callable, *,
              batch_size: int = 64, device: str = "cpu", num_workers: int = 0,
              progress: ProgressCallback | None = None) -> CacheEntry:
        """Encode every split of ``dataset`` with ``backbone`` (``encode``/``group_patches``) into ``key``'s entry.

        Returns the existing entry when another builder finished it first; resumes
        an interrupted build of the same key.
        """
        source = BackboneSource(dataset, backbone, transform, device, key.with_patches, key.patch_group, num_workers)
        return self.build_from_source(dataset, source, key, chunk_rows=batch_size, progress=progress)

    def build_from_source(self, dataset: ZSLDataset, source: FeatureSource, key: FeatureKey, *,
                          chunk_rows: int = 64, progress: ProgressCallback | None = None) -> CacheEntry:
        """Fill ``key``'s entry from any :class:`FeatureSource` (locking, resuming, verifying)."""
        if chunk_rows < 1:
            raise UsageError(f"batch size must be positive, got {chunk_rows}")
        with self.lock(key):
            entry = self._lookup_locked(key)
            if entry is not None:
                return entry
            path = self.path_for(key)
            try:
                _fill(path, key, dataset, source, chunk_rows, progress)
            except OSError as exc:
                if _is_disk_full(exc):
                    raise DataError(f"disk full while writing the feature cache {path} (left incomplete)",
                                    "free some space and rerun to resume, or remove it with `zslbench cache rm`") from exc
                raise
            entry = self._lookup_locked(key)
        if entry is None:  # pragma: no cover - _fill completes or raises
            raise DataError(f"feature cache {path} is incomplete after its build")
        return entry

    # ------------------------------------------------------------ read

    def read(self, entry: CacheEntry, split: str, with_patches: bool = False, verify: bool = True) -> FeatureSplit:
        """Read one split; ``verify`` checks every chunk against its stored sha256 (CorruptEntryError if not)."""
        import h5py

        if split not in entry.split_sizes:
            raise UsageError(f"split {split!r} is not in the feature cache entry {entry.path.name}",
                             f"it has: {', '.join(entry.split_sizes)}")
        if with_patches and entry.patch_shape is None:
            raise UsageError(f"the feature cache entry {entry.path.name} holds no patch tokens",
                             "build it with patches (zslbench cache build --patches)")
        try:
            with h5py.File(entry.path, "r") as f:
                group = f[split]
                chunk_rows = int(f.attrs["chunk_rows"])
                cls = group["cls"][...]
                if verify:
                    _verify_chunks(cls, group["cls_sha256"][...], chunk_rows, entry.path, split)
                patches = None
                if with_patches:
                    patches = group["patches"][...]
                    if verify:
                        _verify_chunks(patches, group["patches_sha256"][...], chunk_rows, entry.path, split)
                return FeatureSplit(features=cls.astype(np.float32), labels=group["labels"][...],
                                    image_ids=group["image_ids"][...], patches=patches)
        except (OSError, KeyError) as exc:
            raise CorruptEntryError(f"feature cache file {entry.path} is unreadable: {exc}") from exc

    # ------------------------------------------------------------ ls / rm

    def ls(self) -> list[CacheEntryInfo]:
        """Every entry file of the cache (complete or not), newest first."""
        import h5py

        out: list[CacheEntryInfo] = []
        for path in sorted(self.root.glob("*.h5")):
            size = path.stat().st_size
            if _BuildLock(path, timeout_s=0).held_elsewhere():
                out.append(CacheEntryInfo(path, size, "", {}, "", "building"))
                continue
            try:
                with h5py.File(path, "r") as f:
                    parts = json.loads(f.attrs.get("key_parts", "{}"))
                    status = "complete" if bool(f.attrs.get("complete", False)) else "partial"
                    sizes = {s: int(f[s].attrs["n_images"]) for s in json.loads(f.attrs.get("splits", "[]")) if s in f}
                    out.append(CacheEntryInfo(path, size, str(f.attrs.get("fingerprint", "")), parts,
                                              str(f.attrs.get("created", "")), status, sizes))
            except (OSError, ValueError, KeyError):
                out.append(CacheEntryInfo(path, size, "", {}, "", "unreadable"))
        return sorted(out, key=lambda e: e.created, reverse=True)

    def rm(self, selector: str | None = None, all_entries: bool = False) -> list[Path]:
        """Remove the entry whose fingerprint (or file name) starts with ``selector``, or all of them.

        A selector matching no entry or several entries is a UsageError. Entries
        being built by another process are never removed. Returns the removed paths.
        """
        entries = self.ls()
        if all_entries:
            chosen = entries
        else:
            if not selector:
                raise UsageError("give a fingerprint prefix or --all", "see `zslbench cache ls`")
            sel = selector.lower()
            chosen = [e for e in entries if (e.fingerprint and e.fingerprint.startswith(sel)) or e.path.name.startswith(selector)]
            if not chosen:
                raise UsageError(f"no feature cache entry matches {selector!r}", "see `zslbench cache ls`")
            if len(chosen) > 1:
                raise UsageError(f"{selector!r} matches {len(chosen)} feature cache entries",
                                 "give more characters of the fingerprint, or --all")
        removed: list[Path] = []
        for info in chosen:
            lock = _BuildLock(info.path, timeout_s=0)
            if lock.held_elsewhere():
                if not all_entries:
                    raise UsageError(f"{info.path.name} is being built by another process", "retry when it is done")
                continue
            info.path.unlink(missing_ok=True)
            lock.path.unlink(missing_ok=True)
            removed.append(info.path)
        return removed


# --------------------------------------------------------------------------- file internals


def _is_disk_full(exc: OSError) -> bool:
    # h5py reports HDF5 write failures as OSError whose message carries the C errno
    return exc.errno == errno.ENOSPC or "No space left" in str(exc) or f"errno = {errno.ENOSPC}" in str(exc)


def _sha256_rows(rows: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest().encode()


def _verify_chunks(data: np.ndarray, digests: np.ndarray, chunk_rows: int, path: Path, split: str) -> None:
    for c in range(math.ceil(len(data) / chunk_rows)):
        if _sha256_rows(data[c * chunk_rows:(c + 1) * chunk_rows]) != bytes(digests[c]):
            raise CorruptEntryError(f"feature cache file {path}: chunk {c} of split {split!r} fails its checksum")


def _splits_of(dataset: ZSLDataset) -> dict[str, np.ndarray]:
    return {name: np.asarray(idx, dtype=np.int64) for name, idx in sorted(dataset.splits.items())}


def _structure_problem(f: Any, key: FeatureKey) -> str | None:
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


def _entry_from_file(path: Path, f: Any) -> CacheEntry:
    shape = json.loads(f.attrs.get("patch_shape", "null"))
    return CacheEntry(
        path=path, fingerprint=str(f.attrs["fingerprint"]), parts=json.loads(f.attrs["key_parts"]),
        split_sizes={s: int(f[s].attrs["n_images"]) for s in json.loads(f.attrs["splits"])},
        feature_dim=int(f.attrs["feature_dim"]), patch_shape=tuple(shape) if shape else None,
        dtype=str(f.attrs["dtype"]),
    )


def _create_file(path: Path, key: FeatureKey, dataset: ZSLDataset, chunk_rows: int) -> Any:
    import h5py

    from zslbench import __version__

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


def _fill(path: Path, key: FeatureKey, dataset: ZSLDataset, source: FeatureSource, chunk_rows: int,
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


# --------------------------------------------------------------------------- weights identity


def _weights_index_path(cache: FeatureCache) -> Path:
    return cache.root / "weights-index.json"


def _read_weights_index(cache: FeatureCache) -> dict:
    try:
        return json.loads(_weights_index_path(cache).read_text())
    except (OSError, ValueError):
        return {}


def _remember_weights(cache: FeatureCache, source_id: str, checksum: str) -> None:
    index = _read_weights_index(cache)
    index[source_id] = checksum
    tmp = _weights_index_path(cache).with_name(f"weights-index.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, _weights_index_path(cache))  # atomic: readers never see half a file


def _weights_sources_path(cache: FeatureCache) -> Path:
    return cache.root / "weights-sources.json"


def _read_weights_sources(cache: FeatureCache) -> dict:
    """``{weights checksum: weights source id}`` of the entries built in this cache."""
    try:
        return json.loads(_weights_sources_path(cache).read_text())
    except (OSError, ValueError):
        return {}


def _remember_source(cache: FeatureCache, checksum: str, source_id: str) -> None:
    sources = _read_weights_sources(cache)
    if sources.get(checksum) == source_id:
        return
    sources[checksum] = source_id
    cache.root.mkdir(parents=True, exist_ok=True)
    tmp = _weights_sources_path(cache).with_name(f"weights-sources.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sources, indent=1, sort_keys=True))
    os.replace(tmp, _weights_sources_path(cache))


@dataclass(frozen=True)
class WeightsProvenance:
    """Where an entry's backbone weights came from, and whether building it again gives the same features."""

    source: str  # "timm", "random init (seed 0)", "file model.pth", "res101.mat (published)", "unknown"
    reproducible: bool | None  # None: unknown (an entry built before zslbench recorded its source)


def weights_provenance(cache: FeatureCache, parts: dict) -> WeightsProvenance:
    """The :class:`WeightsProvenance` of an entry's key parts (for ``zslbench cache ls``)."""
    checksum = str(parts.get("weights_checksum", ""))
    if checksum.startswith("res101.mat:"):
        return WeightsProvenance("res101.mat (published)", True)
    source_id = _read_weights_sources(cache).get(checksum)
    if source_id is None:
        return WeightsProvenance("unknown", None)
    reproducible = _read_weights_index(cache).get(source_id) == checksum
    source = _describe_source(source_id)
    if not reproducible and source.startswith("random init"):
        source = "random init (unseeded)"
    return WeightsProvenance(source, reproducible)


def _describe_source(source_id: str) -> str:
    """A short reading of :func:`weights_source_id`'s string."""
    fields = source_id.split("|")
    pretrained = fields[1] if len(fields) > 1 else "?"
    if pretrained.startswith("file:"):
        return f"file {Path(pretrained[5:]).name}"
    if pretrained in ("None", ""):  # the backbone's default: timm weights for timm models, else random init
        from zslbench.backbones import SYNTHETIC_VIT_CONFIGS

        pretrained = "none" if fields[0] in SYNTHETIC_VIT_CONFIGS else "timm"
    if pretrained == "none":
        return f"random init (seed {FEATURE_INIT_SEED})"
    return "timm weights" if pretrained == "timm" else pretrained


def weights_source_id(backbone: str, pretrained: str | None) -> str:
    """What identifies a backbone's weights before it is built.

    A checkpoint file: its resolved path, size and mtime. A named weight set
    (``timm``): the name with the timm version. Default or random
    initialisation: the name with the torch and timm versions (remembered only
    if two constructions give identical weights, see :func:`get_features`).
    """
    from importlib import metadata

    import torch

    try:  # the installed version, without importing timm (slow) on a cache hit
        timm_version = metadata.version("timm")
    except metadata.PackageNotFoundError:  # pragma: no cover
        timm_version = "none"
    if pretrained and pretrained.lower() not in ("none", "timm"):
        path = Path(pretrained).expanduser()
        if path.is_file():
            st = path.stat()
            return f"{backbone}|file:{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return f"{backbone}|{pretrained}|torch-{torch.__version__}|timm-{timm_version}"


# --------------------------------------------------------------------------- entry points


BackboneFactory = Callable[[str, "str | None", int], Any]
TransformFactory = Callable[[str, int, bool], Callable]


#: Seed of randomly initialised weights in feature extraction (``pretrained none``, the synthetic ViTs).
FEATURE_INIT_SEED = 0


def _default_backbone_factory(name: str, pretrained: str | None, image_size: int) -> Any:
    """The backbone, with any random initialisation drawn from :data:`FEATURE_INIT_SEED`.

    A frozen feature extractor with random weights is then one fixed network,
    whatever the caller's RNG state (``cache build`` and a run's seed alike):
    its checksum is reproducible and the entry ``cache build`` made is reused.
    """
    import torch

    from zslbench.backbones import create_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FEATURE_INIT_SEED)
        return create_backbone(name, pretrained, image_size)


def _default_transform_factory(recipe: str, image_size: int, train: bool, backbone_name: str | None = None) -> Callable:
    """The dataset's eval transform, normalised as the backbone's weights expect."""
    from zslbench.data.transforms import build_transform

    mean_std = None
    if backbone_name is not None:
        from zslbench.backbones import expected_mean_std

        mean_std = expected_mean_std(backbone_name)
    return build_transform(recipe, image_size, train, mean_std=mean_std)


def _resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _resolve_image_size(dataset: ZSLDataset, data_cfg: Any, backbone_name: str) -> int:
    size = getattr(data_cfg, "image_size", None) or dataset.meta.get("image_size")
    if size:
        return int(size)
    from zslbench import registry

    if dataset.name in registry.datasets:
        return int(registry.datasets.get(dataset.name).default_image_size)
    if backbone_name in registry.backbones:
        return int(registry.backbones.get(backbone_name).image_size)
    return 224


def _rich_progress(description: str) -> tuple[contextlib.AbstractContextManager, ProgressCallback]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True))
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def _read_splits(cache: FeatureCache, entry: CacheEntry, splits: tuple[str, ...] | list[str] | None,
                 with_patches: bool) -> dict[str, FeatureSplit]:
    names = list(entry.split_sizes) if splits is None else list(splits)
    return {s: cache.read(entry, s, with_patches=with_patches) for s in names}


def ensure_features(dataset: ZSLDataset, backbone_name: str, data_cfg: Any = None, pretrained: str | None = None,
                    device: str = "cpu", with_patches: bool = False, *, dtype: str | None = None,
                    patch_group: int = 2, batch_size: int = 64, image_size: int | None = None,
                    transform_recipe: str | None = None, backbone_factory: BackboneFactory | None = None,
                    transform_factory: TransformFactory | None = None, cache: FeatureCache | None = None,
                    progress: bool = True) -> CacheEntry:
    """The complete cache entry of ``dataset`` encoded by ``backbone_name``, built on a miss.

    A hit constructs no backbone: the weights checksum of the key is remembered
    per weights source (:func:`weights_source_id`). A miss builds the backbone
    with ``backbone_factory(name, pretrained, image_size)`` (default
    :func:`zslbench.backbones.create_backbone`), the eval transform with
    ``transform_factory(recipe, image_size, train)`` (default
    :func:`zslbench.data.transforms.build_transform`; the recipe defaults to
    ``dataset.meta["recipe"]``) and encodes every split with a rich progress bar.
    :data:`RES101_BACKBONE` imports the published res101 features instead.
    ``dtype`` defaults to float16 (float32 for the res101 import, kept exact).
    """
    cache = cache or FeatureCache()
    if backbone_name == RES101_BACKBONE:
        if with_patches:
            raise UsageError(f"{RES101_BACKBONE} features have no patch tokens", "choose a ViT backbone for patches")
        return import_res101(dataset, data_cfg, cache=cache, dtype=dtype or "float32")
    dtype = dtype or "float16"
    size = int(image_size or _resolve_image_size(dataset, data_cfg, backbone_name))
    recipe = transform_recipe or str(dataset.meta.get("recipe", dataset.name))
    factory = backbone_factory or _default_backbone_factory
    source_id = weights_source_id(backbone_name, pretrained)
    checksum, backbone = _weights_checksum(cache, source_id, lambda: factory(backbone_name, pretrained, size),
                                           named=_is_named_source(pretrained))
    key = make_key(dataset, backbone_name, checksum, recipe, size, dtype, with_patches, patch_group)
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    if backbone is None:
        backbone = factory(backbone_name, pretrained, size)
        actual = state_dict_checksum(backbone)
        if actual != key.weights_checksum:  # the remembered checksum went stale (e.g. weights replaced in place)
            _remember_weights(cache, source_id, actual)
            key = replace(key, weights_checksum=actual)
    _remember_source(cache, key.weights_checksum, source_id)
    if transform_factory is not None:
        transform = transform_factory(recipe, size, False)
    else:
        transform = _default_transform_factory(recipe, size, False, backbone_name)
    bar, update = (_rich_progress(f"features {dataset.name}/{backbone_name}") if progress
                   else (contextlib.nullcontext(), None))
    with bar:
        return cache.build(dataset, backbone, key, transform, batch_size=batch_size, device=_resolve_device(device),
                           num_workers=int(getattr(data_cfg, "num_workers", 0) or 0), progress=update)


def get_features(dataset: ZSLDataset, backbone_name: str, data_cfg: Any = None, pretrained: str | None = None,
                 device: str = "cpu", splits: tuple[str, ...] | list[str] | None = None, with_patches: bool = False,
                 **options: Any) -> dict[str, FeatureSplit]:
    """Features of ``dataset``'s images for a feature-level method: ``{split: FeatureSplit}``.

    The entry point of runners: :func:`ensure_features` (cache hit without
    constructing the backbone, or a build), then the requested ``splits``
    (None: all) are read and verified against their chunk checksums; an entry
    that fails is reported, removed and rebuilt once. ``options`` are the
    keyword options of :func:`ensure_features` (dtype, batch_size, cache, ...).
    """
    cache = options.pop("cache", None) or FeatureCache()

    def ensure() -> CacheEntry:
        return ensure_features(dataset, backbone_name, data_cfg, pretrained, device, with_patches, cache=cache, **options)

    return _read_with_rebuild(cache, ensure(), splits, with_patches, ensure)


def _is_named_source(pretrained: str | None) -> bool:
    return bool(pretrained) and pretrained.lower() != "none"


def _weights_checksum(cache: FeatureCache, source_id: str, construct: Callable[[], Any],
                      named: bool) -> tuple[str, Any]:
    """(weights checksum, the backbone if it had to be built to learn it, else None).

    Checksums are remembered per weights source, so a later cache hit needs no
    backbone. Named weights (a checkpoint file, ``timm``) are remembered at once;
    default or random initialisation only after a second construction gave the
    same weights (a seeded initialisation), otherwise the source is marked
    non-reproducible and always built (each build is then a different backbone).
    """
    remembered = _read_weights_index(cache).get(source_id)
    if remembered and remembered != _NOT_REPRODUCIBLE:
        return remembered, None
    backbone = construct()
    checksum = state_dict_checksum(backbone)
    if remembered is None:
        reproducible = named or state_dict_checksum(construct()) == checksum
        _remember_weights(cache, source_id, checksum if reproducible else _NOT_REPRODUCIBLE)
    return checksum, backbone


def _read_with_rebuild(cache: FeatureCache, entry: CacheEntry, splits: Any, with_patches: bool,
                       rebuild: Callable[[], CacheEntry]) -> dict[str, FeatureSplit]:
    """Read the splits; an entry whose chunks fail their checksums is reported, removed and rebuilt once."""
    try:
        return _read_splits(cache, entry, splits, with_patches)
    except CorruptEntryError as exc:
        warnings.warn(f"{exc}; rebuilding it", RuntimeWarning, stacklevel=3)
        with _BuildLock(entry.path, cache.lock_timeout_s):
            entry.path.unlink(missing_ok=True)
        return _read_splits(cache, rebuild(), splits, with_patches)


def res101_key(dataset: ZSLDataset, data_cfg: Any = None, dtype: str = "float32") -> FeatureKey:
    """The cache key of the published res101 features of ``dataset`` (computed without loading them)."""
    res101 = dataset.meta.get("res101_file")
    identity = "unlocated"
    if res101 and Path(res101).is_file():
        identity = file_sample_digest(Path(res101))
    return make_key(dataset, RES101_BACKBONE, f"res101.mat:{identity}", "xlsa17-res101", 224, dtype,
                    sample_image_files=False)  # the features do not depend on the image files


def import_res101(dataset: ZSLDataset, data_cfg: Any = None, cache: FeatureCache | None = None,
                  dtype: str = "float32") -> CacheEntry:
    """Import the published ResNet-101 features (res101.mat of xlsa17) as a cache entry.

    Backbone name :data:`RES101_BACKBONE`; row ``i`` of res101.mat is image
    ``i`` of the dataset (checked through the labels). Returns the existing
    entry when already imported.
    """
    cache = cache or FeatureCache()
    key = res101_key(dataset, data_cfg, dtype)
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    from zslbench.data.xlsa17 import load_res101_features

    features, labels, _ = load_res101_features(dataset.name, data_cfg)
    dataset_labels = np.asarray(dataset.labels)
    if features.shape[0] != len(dataset_labels) or not np.array_equal(labels, dataset_labels):
        raise DataError(f"{dataset.name}: res101.mat holds {features.shape[0]} images whose labels do not match "
                        f"the dataset's {len(dataset_labels)} images",
                        "use att_splits.mat and res101.mat from one xlsa17 download")
    return cache.build_from_source(dataset, ArraySource(features), key, chunk_rows=1024)


def select_images(features: dict[str, FeatureSplit], image_ids: np.ndarray) -> FeatureSplit:
    """Rows of the given dataset image indices gathered from any of the splits in ``features``.

    Lets a derived benchmark (e.g. :func:`zslbench.data.dataset.validation_split`)
    reuse the cached features of its parent dataset. Unknown ids raise DataError.
    """
    all_ids = np.concatenate([s.image_ids for s in features.values()])
    order = np.argsort(all_ids, kind="stable")
    wanted = np.asarray(image_ids, dtype=np.int64)
    pos = np.searchsorted(all_ids[order], wanted)
    pos = np.clip(pos, 0, max(len(all_ids) - 1, 0))
    if len(all_ids) == 0 or not np.array_equal(all_ids[order][pos], wanted):
        raise DataError("some requested images are not in the cached splits")
    rows = order[pos]
    stack = lambda attr: np.concatenate([getattr(s, attr) for s in features.values()])  # noqa: E731
    patches = None
    if all(s.patches is not None for s in features.values()):
        patches = stack("patches")[rows]
    return FeatureSplit(stack("features")[rows], stack("labels")[rows], wanted, patches)
