"""HDF5 cache files of generated arrays: atomic writes, verified reads, load-or-generate.

Shared by the single-label (:mod:`zslbench.data.synthetic`) and multi-label
(:mod:`zslbench.data.synthetic_multilabel`) synthetic benchmarks. A cache file holds
named datasets (``"splits/<name>"`` creates a group), the CRC-32 of each
(:mod:`zslbench.cache_integrity`, attribute ``crc32:<name>``) and attributes
that must match exactly on reading. Every read verifies every array against its
checksum; anything unreadable, corrupt, stale or without checksums (an older
zslbench) is reported in one warning and regenerated (generation is
deterministic, so the data are the same), and a cache that cannot be written
only costs the next load a regeneration.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping, TypeVar

import numpy as np

from zslbench import cache_integrity as integrity
from zslbench.errors import DataError
from zslbench.paths import cache_dir

T = TypeVar("T")

#: What reading a damaged, truncated or foreign HDF5 file can raise (h5py raises all of these).
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)

#: Attribute-name prefix of each dataset's CRC-32 (``crc32:pixels``, ``crc32:splits/trainval``).
CRC_ATTR_PREFIX = "crc32:"


def write_atomic(path: Path, datasets: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                 compress_lzf: Collection[str] = ()) -> None:
    """Write ``datasets`` and ``attrs`` to ``path`` atomically: a unique temp file in the same folder, then ``os.replace``.

    Concurrent writers never clash and readers never see a partial file;
    datasets named in ``compress_lzf`` are stored LZF-compressed.
    """
    import h5py

    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            for name, data in datasets.items():
                f.create_dataset(name, data=data, compression="lzf" if name in compress_lzf else None)
                f.attrs[CRC_ATTR_PREFIX + name] = integrity.checksum(np.asarray(data))
            f.attrs.update(attrs)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_verified(path: Path, names: Iterable[str], expected_attrs: Mapping[str, Any],
                  log: logging.Logger) -> dict[str, np.ndarray] | None:
    """The datasets ``names`` of ``path``, each verified against its CRC-32, or None (one warning on ``log``)
    when it is unreadable, corrupt or stale.

    Stale means an attribute of ``expected_attrs`` is missing or differs, or the
    file carries no checksums (written before they existed).
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            wrong = [k for k, v in expected_attrs.items() if k not in f.attrs or f.attrs[k] != v]
            if wrong:
                raise ValueError(f"attributes {wrong} do not match")
            return {name: _verified(f, name) for name in names}
    except integrity.ChecksumMismatch as exc:
        log.warning("synthetic cache %s is corrupt (%s); regenerating", path, exc.where)
    except READ_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("synthetic cache %s is unreadable or stale (%s); regenerating", path, reason)
    return None


def _verified(f: Any, name: str) -> np.ndarray:
    """Dataset ``name`` of the open file ``f`` after its stored CRC-32 (ValueError when it has none)."""
    crc = f.attrs.get(CRC_ATTR_PREFIX + name)
    if crc is None:
        raise ValueError(f"{name} has no checksum (written by an older zslbench)")
    return integrity.verify_array(f[name][()], crc, f"{name} fails its checksum")


@dataclass(frozen=True)
class CacheLayout:
    """Which fields of an arrays record (a dataclass) a cache file stores, and how.

    ``arrays`` name fields holding one array each; the record's ``splits``
    field (split name -> image indices) is stored as ``splits/<name>`` for
    each of ``split_names``.
    """

    arrays: tuple[str, ...]
    split_names: tuple[str, ...]
    compress_lzf: frozenset[str] = frozenset()  # arrays worth compressing (masks: ~20x)

    def dataset_names(self) -> list[str]:
        """The names of the HDF5 datasets of one record."""
        return [*self.arrays, *(f"splits/{name}" for name in self.split_names)]

    def to_datasets(self, record: Any) -> dict[str, np.ndarray]:
        """Dataset name -> array of ``record``."""
        splits = {f"splits/{name}": record.splits[name] for name in self.split_names}
        return {**{name: getattr(record, name) for name in self.arrays}, **splits}

    def to_fields(self, stored: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The record's constructor arguments from :meth:`to_datasets`' output (as read back)."""
        splits = {name: stored[f"splits/{name}"] for name in self.split_names}
        return {**{name: stored[name] for name in self.arrays}, "splits": splits}


def write_record(path: Path, layout: CacheLayout, record: Any, attrs: Mapping[str, Any]) -> None:
    """Write the arrays of ``record`` (as ``layout`` says) and ``attrs`` atomically to ``path``."""
    write_atomic(path, layout.to_datasets(record), attrs, layout.compress_lzf)


def read_record(path: Path, layout: CacheLayout, record_type: Callable[..., T], expected_attrs: Mapping[str, Any],
                log: logging.Logger, shapes_ok: Callable[[T], bool]) -> T | None:
    """The record stored by :func:`write_record`, or None (logged) when unreadable, stale or of the wrong shapes."""
    stored = read_verified(path, layout.dataset_names(), expected_attrs, log)
    if stored is None:
        return None
    record = record_type(**layout.to_fields(stored))
    if not shapes_ok(record):
        log.warning("synthetic cache %s has unexpected array shapes; regenerating", path)
        return None
    return record


def load_or_generate(path: Path, read: Callable[[Path], T | None], generate: Callable[[], T],
                     write: Callable[[Path, T], None], log: logging.Logger) -> T:
    """``read(path)`` when the file exists and is valid, else ``generate()`` and ``write`` it.

    A failed write (read-only folder, full disk) is logged and the generated
    value is returned all the same.
    """
    value = read(path) if path.exists() else None
    if value is None:
        value = generate()
        try:
            write(path, value)
        except OSError as exc:
            log.warning("could not write synthetic cache %s (%s); continuing without it", path, exc)
    return value


def preset_cache_path(preset: Any, seed: int, generator_version: int) -> Path:
    """The HDF5 cache file of a synthetic (preset, seed) made by ``generator_version`` of its generator."""
    return cache_dir("synthetic") / f"{preset.name}-seed{seed}-v{generator_version}.h5"


def preset_cache_attrs(preset: Any, seed: int, generator_version: int, **extra: object) -> dict[str, object]:
    """The attributes a synthetic cache file carries and must match on reading (plus ``extra``)."""
    return dict(preset=preset.name, seed=seed, generator_version=generator_version, image_size=preset.image_size,
                num_images=preset.num_images, **extra)


def validated(dataset: T, name: str, cache_file: Path) -> T:
    """``dataset`` after its own ``validate()``; a DataError naming the cache file to delete if it fails
    (for generated data only a generator bug, or a damaged cache, gets there)."""
    try:
        dataset.validate()  # type: ignore[attr-defined]
    except ValueError as exc:
        raise DataError(f"synthetic dataset {name} is inconsistent: {exc}",
                        f"delete {cache_file} and report a bug") from exc
    return dataset
