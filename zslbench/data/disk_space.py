"""Free disk space, checked before a download or an unpack writes anything."""

from __future__ import annotations

import shutil
from pathlib import Path

from zslbench.errors import DataError


def free_bytes(folder: Path) -> int:
    """Bytes free on the file system holding ``folder`` (tests replace this function to simulate a full disk)."""
    return shutil.disk_usage(folder).free


def format_bytes(count: int) -> str:
    """``count`` in the largest binary unit that keeps it above 1 (``1.5 GiB``)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def require_free_space(folder: Path, needed_bytes: int, purpose: str) -> None:
    """Refuse (one line) when ``folder``'s file system has less than ``needed_bytes`` free for ``purpose``."""
    available = free_bytes(folder)
    if available < needed_bytes:
        raise DataError(f"not enough disk space in {folder}: {purpose} needs {format_bytes(needed_bytes)}, "
                        f"{format_bytes(available)} free",
                        "free some space, or pass --root on a larger disk")
