"""The feature cache directory: lookup, locked builds, the remembered weights checksums.

Concurrent builders of one entry are serialised by a lock file; a file that fails verification is
reported with a warning naming it and rebuilt. A read-only cache is readable: no lock file is
created where none can be.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zslbench import paths
from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, UsageError
from zslbench import cache_integrity as integrity
from zslbench.features.fileformat import (
    READ_ONLY_ERRNOS, CacheEntry, CacheEntryInfo, CorruptEntryError, FeatureSplit, ProgressCallback, entry_from_file,
    fill_entry, is_disk_full, read_split, structure_problem,
)
from zslbench.features.fingerprints import FeatureKey
from zslbench.features.sources import BackboneSource, FeatureSource

try:  # POSIX advisory locks; released by the OS when the holder dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

NOT_REPRODUCIBLE = "not-reproducible"  # weights-index marker: the source initialises randomly


class CacheLockTimeout(DataError):
    """Another process holds the build lock of an entry for longer than allowed."""


class BuildLock:
    """An exclusive lock file next to an entry; waits up to ``timeout_s`` (None: forever).

    POSIX: ``fcntl.flock`` (released by the OS if the holder dies, so no stale
    locks). Elsewhere: ``O_CREAT | O_EXCL`` creation of the lock file.
    """

    def __init__(self, path: Path, timeout_s: float | None, poll_s: float = 0.2):
        self.path = path.with_name(path.name + ".lock")
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._fd: int | None = None

    def __enter__(self) -> "BuildLock":
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
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:  # a read-only cache: lock the existing file, or read without a lock
                if exc.errno not in READ_ONLY_ERRNOS:
                    raise
                if not self.path.exists():
                    self._fd = -1  # nobody can be building in a folder where no lock file can be created
                    return True
                fd = os.open(self.path, os.O_RDONLY)
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
        if self._fd == -1:
            self._fd = None
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


class FeatureCache:
    """HDF5 feature cache under ``root`` (default ``paths.cache_dir("features")``)."""

    def __init__(self, root: str | Path | None = None, lock_timeout_s: float | None = None):
        self.root = Path(root) if root is not None else paths.cache_dir("features")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the feature cache {self.root}: {exc.strerror}",
                            "set ZSLBENCH_CACHE to a writable folder") from None
        self.lock_timeout_s = lock_timeout_s

    # ------------------------------------------------------------ naming and locking

    def path_for(self, key: FeatureKey) -> Path:
        return self.root / key.filename

    def lock(self, key: FeatureKey) -> BuildLock:
        """The build lock of ``key``'s entry (a context manager)."""
        return BuildLock(self.path_for(key), self.lock_timeout_s)

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
                problem = structure_problem(f, key)
                if problem is None:
                    return entry_from_file(path, f)
        except (OSError, RuntimeError) as exc:  # not an HDF5 file any more: truncated, zeroed, overwritten
            problem = f"cannot be opened ({exc})"
        warnings.warn(f"feature cache file {path} failed verification: {problem}; rebuilding it", RuntimeWarning,
                      stacklevel=3)
        remove_entry_file(path)
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
                fill_entry(path, key, dataset, source, chunk_rows, progress)
            except (OSError, RuntimeError) as exc:  # h5py reports some write failures as RuntimeError
                if is_disk_full(exc):
                    raise DataError(f"disk full while writing the feature cache {path} (left incomplete)",
                                    "free some space and rerun to resume, or remove it with `zslbench cache rm`") from None
                if isinstance(exc, OSError) and exc.errno in READ_ONLY_ERRNOS:
                    raise DataError(f"the feature cache {self.root} is read-only: cannot build {path.name}",
                                    "build it where the cache is writable, or set ZSLBENCH_CACHE") from None
                raise
            entry = self._lookup_locked(key)
        if entry is None:  # pragma: no cover - fill_entry completes or raises
            raise DataError(f"feature cache {path} is incomplete after its build")
        return entry

    # ------------------------------------------------------------ read

    def read(self, entry: CacheEntry, split: str, with_patches: bool = False, verify: bool = True,
             dtype: str | None = "float32") -> FeatureSplit:
        """Read one split; ``verify`` checks features, labels and image ids against their CRCs (CorruptEntryError if not).

        ``dtype`` is the dtype of the returned features (None: as stored); patch tokens keep the stored dtype.
        """
        import h5py

        if split not in entry.split_sizes:
            raise UsageError(f"split {split!r} is not in the feature cache entry {entry.path.name}",
                             f"it has: {', '.join(entry.split_sizes)}")
        if with_patches and entry.patch_shape is None:
            raise UsageError(f"the feature cache entry {entry.path.name} holds no patch tokens",
                             "build it with patches (zslbench cache build --patches)")
        try:
            with h5py.File(entry.path, "r") as f:
                return read_split(f, split, with_patches, verify, dtype)
        except integrity.ChecksumMismatch as exc:
            raise CorruptEntryError(f"feature cache file {entry.path}: split {split!r} {exc.where}") from None
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise CorruptEntryError(f"feature cache file {entry.path} is unreadable: {exc}") from exc

    def verify_file(self, path: Path) -> str | None:
        """Why the entry file ``path`` is corrupt, or None when it is sound.

        Opens it, checks its whole structure (every attribute and dataset the
        layout requires, shapes against the recorded counts, dtypes, the
        completion flags; :func:`structure_problem`), then reads every array of
        every split and checks its CRCs.
        """
        import h5py

        try:
            with h5py.File(path, "r") as f:
                problem = structure_problem(f)
                if problem is not None:
                    return problem
                for split in json.loads(f.attrs["splits"]):
                    try:
                        read_split(f, split, "patches" in f[split], True, None)
                    except integrity.ChecksumMismatch as exc:
                        return f"split {split!r}: {exc}"
        except (OSError, RuntimeError) as exc:
            return f"cannot be opened ({exc})"
        except (KeyError, ValueError, TypeError) as exc:  # h5py on damaged metadata
            return f"unreadable ({exc})"
        return None

    # ------------------------------------------------------------ ls / rm

    def ls(self, verify: bool = False) -> list[CacheEntryInfo]:
        """Every entry file of the cache (complete or not), newest first.

        ``verify`` checks every complete or unreadable entry fully
        (:meth:`verify_file`): a failing one gets status ``corrupt`` and the
        reason in ``problem``. Partial entries (interrupted builds) are resumable, not corrupt.
        """
        import h5py

        out: list[CacheEntryInfo] = []
        for path in sorted(self.root.glob("*.h5")):
            size = path.stat().st_size
            if BuildLock(path, timeout_s=0).held_elsewhere():
                out.append(CacheEntryInfo(path, size, "", {}, "", "building"))
                continue
            try:
                with h5py.File(path, "r") as f:
                    parts = json.loads(f.attrs.get("key_parts", "{}"))
                    if not isinstance(parts, dict):
                        raise ValueError("key_parts is not a JSON object")
                    status = "complete" if bool(f.attrs.get("complete", False)) else "partial"
                    sizes = {s: int(f[s].attrs["n_images"]) for s in json.loads(f.attrs.get("splits", "[]")) if s in f}
                    info = CacheEntryInfo(path, size, str(f.attrs.get("fingerprint", "")), parts,
                                          str(f.attrs.get("created", "")), status, sizes)
            except (OSError, RuntimeError, ValueError, KeyError, TypeError):
                info = CacheEntryInfo(path, size, "", {}, "", "unreadable")
            if verify and info.status in ("complete", "unreadable"):  # an unreadable file is a corrupt entry
                problem = self.verify_file(path)
                if problem is not None:
                    info = replace(info, status="corrupt", problem=problem)
            out.append(info)
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
            lock = BuildLock(info.path, timeout_s=0)
            if lock.held_elsewhere():
                if not all_entries:
                    raise UsageError(f"{info.path.name} is being built by another process", "retry when it is done")
                continue
            info.path.unlink(missing_ok=True)
            lock.path.unlink(missing_ok=True)
            removed.append(info.path)
        return removed


def _weights_index_path(cache: FeatureCache) -> Path:
    return cache.root / "weights-index.json"


def read_json_index(path: Path) -> dict:
    """A small JSON dict kept beside the entries (empty when missing or unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def update_json_index(path: Path, key: str, value: str) -> None:
    """Set ``key`` in the JSON dict at ``path``, written atomically (readers never see half a file).

    In a read-only cache nothing is written: these indexes are shortcuts and labels, never needed for correctness.
    """
    index = read_json_index(path)
    if index.get(key) == value:
        return
    index[key] = value
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # a read-only cache: the backbone is built (or the source left unnamed) next time
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_weights_index(cache: FeatureCache) -> dict:
    return read_json_index(_weights_index_path(cache))


def remember_weights(cache: FeatureCache, source_id: str, checksum: str) -> None:
    update_json_index(_weights_index_path(cache), source_id, checksum)


def remove_entry_file(path: Path) -> None:
    """Delete a corrupt entry so it is rebuilt; in a read-only cache that is impossible, which is one line."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise CorruptEntryError(f"feature cache file {path} is corrupt and the cache is read-only ({exc.strerror})",
                                "rebuild it where the cache is writable, or point ZSLBENCH_CACHE elsewhere") from None


def read_splits(cache: FeatureCache, entry: CacheEntry, splits: tuple[str, ...] | list[str] | None,
                with_patches: bool, dataset: ZSLDataset | None = None) -> dict[str, FeatureSplit]:
    """The requested splits; with ``dataset``, their image ids and labels must be the dataset's (else corrupt)."""
    names = list(entry.split_sizes) if splits is None else list(splits)
    out = {s: cache.read(entry, s, with_patches=with_patches) for s in names}
    for name, split in out.items() if dataset is not None and np.ndim(dataset.labels) == 1 else ():
        expected = np.asarray(dataset.splits.get(name, []), dtype=np.int64)
        if not np.array_equal(split.image_ids, expected) or not np.array_equal(split.labels, dataset.labels[expected]):
            raise CorruptEntryError(f"feature cache file {entry.path}: split {name!r} holds other images or labels "
                                    "than the dataset")
    return out
