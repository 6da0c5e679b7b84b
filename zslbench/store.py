"""The run store: one directory per run, every file written atomically.

Layout: ``<root>/<dataset>/<method>/<run-id>/`` holding

* ``config.json``   the fully resolved run configuration;
* ``status.json``   ``{"state": "running" | "complete" | "failed", ...}`` and the schema version;
* ``metrics.json``  every evaluation of the run (written when the run completes);
* ``env.json``      versions, device, git commit, plugins;
* ``timings.json``  seconds per phase and training images/s;
* ``checkpoint.pt`` the latest epoch's training state (``--resume`` continues from it).

A file is first written to a temporary name in the same directory and then
renamed over the target, so a crash or Ctrl-C never leaves a half-written
result; readers skip directories whose files are missing or unreadable.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Bumped when the layout or the meaning of a stored field changes.
SCHEMA_VERSION = 1
#: Oldest schema this version can still read.
MIN_READABLE_SCHEMA = 1

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
ENV_FILE = "env.json"
TIMINGS_FILE = "timings.json"
CHECKPOINT_FILE = "checkpoint.pt"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` through a temporary file, so a checkpoint is never half-written."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def new_run_id(seed: int) -> str:
    """Sortable by time, unique across concurrent runs."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-s{seed}-{secrets.token_hex(3)}"


def run_dir_for(root: Path, dataset: str, method: str, run_id: str) -> Path:
    return Path(root) / dataset / method / run_id


def git_commit() -> str | None:
    """The commit of the zslbench checkout (or the working directory's repository), if any."""
    for where in (Path(__file__).resolve().parent.parent, Path.cwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                 text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0:
            commit = out.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                   capture_output=True, text=True, timeout=5, check=False)
            return commit + ("-dirty" if dirty.stdout.strip() else "")
    return None


def environment(device: str) -> dict:
    """Versions and machine facts stored with every run (provenance)."""
    import numpy
    import torch

    from zslbench.version import __version__
    from zslbench import plugins

    try:
        import timm

        timm_version = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        timm_version = None
    env = {
        "zslbench": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "timm": timm_version,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda_device": torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None,
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "error": p.error}
            for p in plugins.load_plugins()
        ],
    }
    return env


def write_status(run_dir: Path, state: str, **extra: Any) -> None:
    status = {"state": state, "schema": SCHEMA_VERSION, "updated": _dt.datetime.now().isoformat(timespec="seconds")}
    status.update(extra)
    atomic_write_json(Path(run_dir) / STATUS_FILE, status)


@dataclass
class RunRecord:
    """A stored run as read back from disk."""

    path: Path
    config: dict
    status: dict
    metrics: dict | None = None
    env: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        return str(self.config.get("method"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset"))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def tags(self) -> list[str]:
        return list(self.config.get("tags", []) or [])

    @property
    def complete(self) -> bool:
        return self.status.get("state") == "complete" and self.metrics is not None


class UnreadableRun(Exception):
    """A run directory that cannot be read (corrupt, incomplete or from an unknown schema)."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UnreadableRun(f"{path.name} is missing") from None
    except (OSError, ValueError) as exc:
        raise UnreadableRun(f"{path.name} is unreadable: {exc}") from None


def read_run(run_dir: Path) -> RunRecord:
    """Read one run directory; raise :class:`UnreadableRun` naming what is wrong."""
    run_dir = Path(run_dir)
    config = _read_json(run_dir / CONFIG_FILE)
    status = _read_json(run_dir / STATUS_FILE)
    schema = status.get("schema")
    if not isinstance(schema, int) or schema < MIN_READABLE_SCHEMA or schema > SCHEMA_VERSION:
        raise UnreadableRun(f"schema {schema!r} is not readable by this zslbench (reads {MIN_READABLE_SCHEMA}..{SCHEMA_VERSION})")
    metrics = _read_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).exists() else None
    env = _read_json(run_dir / ENV_FILE) if (run_dir / ENV_FILE).exists() else {}
    timings = _read_json(run_dir / TIMINGS_FILE) if (run_dir / TIMINGS_FILE).exists() else {}
    return RunRecord(run_dir, config, status, metrics, env, timings)


def store_dirs(parent: Path) -> list[Path]:
    """The sub-directories of a store level, sorted, without hidden ones (``.sweeps`` holds sweep logs and state)."""
    return sorted(p for p in Path(parent).iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_runs(root: Path, dataset: str | None = None, method: str | None = None) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
    """All run directories under ``root`` (optionally one dataset / method).

    Returns the readable runs (sorted by run id, i.e. by start time) and the
    unreadable ones as ``(path, reason)`` so callers can warn about them.
    """
    root = Path(root)
    runs: list[RunRecord] = []
    bad: list[tuple[Path, str]] = []
    if not root.is_dir():
        return runs, bad
    for ds_dir in store_dirs(root):
        if dataset is not None and ds_dir.name != dataset:
            continue
        for m_dir in store_dirs(ds_dir):
            if method is not None and m_dir.name != method:
                continue
            for run_dir in store_dirs(m_dir):
                try:
                    runs.append(read_run(run_dir))
                except UnreadableRun as exc:
                    bad.append((run_dir, str(exc)))
    runs.sort(key=lambda r: r.run_id)
    return runs, bad
