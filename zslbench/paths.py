"""Where zslbench reads and writes: cache, run store and dataset roots.

Environment variables override the defaults: ``ZSLBENCH_CACHE`` (generated
data, feature cache, word vectors), ``ZSLBENCH_RUNS`` (run store) and
``ZSLBENCH_DATA`` (parent folder of the dataset roots).
"""

from __future__ import annotations

import os
from pathlib import Path

from zslbench.errors import DataError


def cache_dir(*parts: str) -> Path:
    """The user cache directory (``$ZSLBENCH_CACHE`` or ``~/.cache/zslbench``), created on demand.

    A folder that cannot be created (a read-only or full file system, no permission) is a one-line DataError.
    """
    base = os.environ.get("ZSLBENCH_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zslbench"
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {path}: {exc.strerror or exc}",
                        "set ZSLBENCH_CACHE to a writable directory") from None
    return path


def runs_dir(override: str | None = None) -> Path:
    """The run store root: ``override``, else ``$ZSLBENCH_RUNS``, else ``./runs``."""
    return Path(override or os.environ.get("ZSLBENCH_RUNS") or "runs")


def data_root(dataset: str, override: str | None = None) -> Path:
    """Root folder of a real dataset: ``override``, else ``$ZSLBENCH_DATA/<dataset>``, else ``./data/<dataset>``."""
    if override:
        return Path(override).expanduser()
    base = os.environ.get("ZSLBENCH_DATA")
    return (Path(base).expanduser() if base else Path("data")) / dataset
