"""Is an image file readable? A cheap look at its bytes, and a full decode (Pillow, no torch).

Before a run every listed image gets the cheap look (:func:`suspect_image_files`:
size, format signature, the JPEG end marker), and only the suspects are
decoded to confirm (:func:`undecodable`), so a zero-byte, truncated or foreign
file stops the run before its directory exists at the cost of reading a few
bytes per file. ``zslbench data check`` decodes every image
(:func:`decode_failures`); ``--fast`` gives it the cheap look instead. Both
decode exactly as :class:`~zslbench.data.dataset.FileImages` does when it
trains (``convert("RGB")``), so "decodable" means "loadable".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

#: Leading bytes of the formats Pillow reads in the datasets (JPEG, PNG, GIF, BMP, TIFF).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"
#: Some writers pad a JPEG after its end marker; look for the marker this far from the end.
JPEG_TAIL_BYTES = 64


def _looks_broken(path: Path) -> bool:
    """True when ``path`` is empty, unreadable, of an unknown format, or a JPEG without its end marker."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            if not head.startswith(SIGNATURES):
                return True
            if not head.startswith(JPEG_START):
                return False
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - JPEG_TAIL_BYTES))
            return JPEG_END not in handle.read()
    except OSError:
        return True


def suspect_image_files(paths: Sequence[Path], num_threads: int = 4) -> np.ndarray:
    """A bool mask of the files that :func:`_looks_broken` (reads at most 80 bytes of each)."""
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        return np.fromiter(pool.map(_looks_broken, paths, chunksize=256), dtype=bool, count=len(paths))


def undecodable(path: Path) -> str | None:
    """Why ``path`` cannot be decoded to RGB pixels, or None when it can."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # Pillow's errors for bad files
        return f"{type(exc).__name__}: {exc}"
    return None


def decode_failures(paths: Sequence[Path], num_threads: int = 2) -> dict[int, str]:
    """``{position: reason}`` of the files of ``paths`` that do not decode; decoding releases the GIL."""
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        reasons = list(pool.map(undecodable, paths, chunksize=64))
    return {i: reason for i, reason in enumerate(reasons) if reason is not None}


def unreadable_images(paths: Sequence[Path], decode_all: bool = False) -> dict[int, str]:
    """``{position: reason}`` of unreadable files: every file decoded, or (default) only the cheap look's suspects."""
    if decode_all:
        return decode_failures(paths)
    suspects = np.flatnonzero(suspect_image_files(paths))
    found = decode_failures([paths[int(i)] for i in suspects])
    return {int(suspects[i]): reason for i, reason in found.items()}
