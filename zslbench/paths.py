"""Where zslbench reads and writes: cache, run store and dataset roots.

Environment variables override the defaults: ``ZSLBENCH_CACHE`` (generated
data, feature cache, word vectors), ``ZSLBENCH_RUNS`` (run store) and
``ZSLBENCH_DATA`` (parent folder of the dataset roots).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The user cache directory (``$ZSLBENCH_CACHE`` or ``~/.cache/zslbench``), created on demand."""
    base = os.environ.get("ZSLBENCH_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zslbench"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
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
