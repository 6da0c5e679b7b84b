"""Small cache files of arrays (``.npz``) that carry a CRC-32 per array and are verified on every load.

Used for derived data that is cheap to rebuild from its source (the res101
image index of xlsa17, the attribute word vectors): a file that is unreadable,
truncated, fails the zip's member CRCs, or whose arrays fail their own
checksums is reported in one warning and rebuilt by the caller;
a file that cannot be written (read-only cache) only costs the next load a
rebuild. Never pickled (``allow_pickle=False``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from zslbench import cache_integrity as integrity

#: Name prefix of the stored checksum of each array (``crc32.labels`` for ``labels``).
CRC_PREFIX = "crc32."

#: What reading a damaged .npz can raise (zip structure, npy header, short reads).
_LOAD_ERRORS = (OSError, ValueError, KeyError, EOFError, SyntaxError, zipfile.BadZipFile)


def save_checked(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` and their CRC-32s to ``path`` atomically; an unwritable cache is skipped silently."""
    crcs = {CRC_PREFIX + name: np.uint32(integrity.checksum(np.asarray(values))) for name, values in arrays.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays, **crcs)
        os.replace(tmp, path)  # readers never see a partial file
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_checked(path: Path, names: tuple[str, ...], log: logging.Logger,
                 valid: Callable[[dict[str, np.ndarray]], str | None] = lambda arrays: None,
                 ) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` of ``path`` after their checksums, or None (missing, or corrupt: one warning).

    ``valid(arrays)`` may name a further fault (wrong shapes or dtypes) or return None.
    """
    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:  # the zip's own CRC of every member, headers and padding included
            bad_member = archive.testzip()
        if bad_member is not None:
            raise zipfile.BadZipFile(f"{bad_member} fails the zip checksum")
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in names}
            crcs = {name: int(stored[CRC_PREFIX + name]) for name in names}
    except _LOAD_ERRORS as exc:
        problem = f"unreadable: {exc}".rstrip()
    else:
        bad = [name for name in names if integrity.checksum(arrays[name]) != crcs[name]]
        problem = f"{', '.join(bad)} fail their checksum" if bad else valid(arrays)
        if problem is None:
            return arrays
    log.warning("cache file %s is corrupt (%s); rebuilding it", path, problem.splitlines()[0] if problem else problem)
    return None
