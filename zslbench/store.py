"""The run store: one directory per run, every file written atomically.

Layout: ``<root>/<dataset>/<method>/<run-id>/`` holding

* ``config.json``   the fully resolved run configuration;
* ``status.json``   ``{"state": "running" | "complete" | "failed", ...}`` and the schema version;
* ``metrics.json``  every evaluation of the run (written when the run completes);
* ``env.json``      versions, device, git commit and ``git_dirty``, plugins, installed packages;
* ``timings.json``  seconds per phase and training images/s;
* ``checkpoint.safetensors`` the latest epoch's training state (``--resume`` continues from it;
  see :mod:`zslbench.checkpoints`, no pickle).

A file is first written to a temporary name in the same directory and then
renamed over the target, so a crash or Ctrl-C never leaves a half-written
result; readers skip directories whose files are missing or unreadable. A run
directory appears complete with its ``config.json`` and ``status.json`` (it is
assembled under a hidden temporary name and renamed into place), so a run is
resumable from the moment its directory exists. Files get the permissions the
umask allows (like any file the user creates), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslbench.errors import UsageError, ZSLBenchError
from zslbench import stored_files
from zslbench.stored_files import UnreadableRun, UnsafeRunDir  # noqa: F401  (re-exported: the store's errors)

if TYPE_CHECKING:  # pragma: no cover
    from zslbench.run_lock import RunLock

#: Bumped when the layout or the meaning of a stored field changes.
SCHEMA_VERSION = 1
#: Oldest schema this version can still read.
MIN_READABLE_SCHEMA = 1

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
ENV_FILE = "env.json"
TIMINGS_FILE = "timings.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
VALIDATION_CHECKPOINT_FILE = "checkpoint-validation.safetensors"
VALIDATION_FILE = "validation.json"
#: Prefix and suffix of the temporary files of :func:`atomic_write_bytes` (and of run directories being assembled).
TEMP_PATTERN = ".*.tmp"
#: A hidden ``.<run-id>.*.tmp`` folder without a lock file is a leftover once it is this old (assembly takes milliseconds).
STALE_STAGING_SECONDS = 600.0


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode())


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: errno values that mean "the run store cannot be written" rather than a bug.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR})


class RunStoreError(ZSLBenchError):
    """The run store cannot be written (not a directory, read-only, disk full)."""


def create_run_dir(run_dir: Path, config: dict, status: dict, files: dict[str, Any] | None = None) -> RunLock:
    """Create ``run_dir`` holding ``config.json`` and ``status.json`` (and ``files``: name -> JSON) in one step;
    returns its held write lock.

    The files are written into a hidden sibling directory that is then renamed
    to ``run_dir``: a run directory never exists without both files, so a kill
    at any moment leaves either nothing or a resumable run (or, with ``files``,
    nothing or the whole finished run: ``zslbench score`` stores its runs so).
    The hidden directory is locked from its first moment (the lock moves with
    the rename), so :func:`remove_stale_staging` never takes one that a live
    process is still assembling.
    """
    from zslbench.run_lock import RunLock

    run_dir = Path(run_dir)
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", suffix=".tmp", dir=run_dir.parent))
        lock = RunLock(staging)
        try:
            lock.acquire()
            os.chmod(staging, 0o777 & ~_umask())
            atomic_write_json(staging / CONFIG_FILE, config)
            atomic_write_json(staging / STATUS_FILE, status)
            for name, content in (files or {}).items():
                atomic_write_json(staging / name, content)
            os.rename(staging, run_dir)
            lock.moved_to(run_dir)
        except BaseException:
            lock.release()
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as exc:
        raise RunStoreError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}",
                            "choose a writable directory with --out or ZSLBENCH_RUNS") from None
    return lock


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove the hidden ``.<run-id>.*.tmp`` folders that a process killed while assembling a run left in ``parent``.

    Only stale ones: a folder whose lock nobody holds, or, without a lock file,
    one older than :data:`STALE_STAGING_SECONDS`. Links are left alone (nothing
    is followed out of the store).
    """
    import time

    from zslbench.run_lock import RunLock, RunLockedError

    removed: list[Path] = []
    try:
        candidates = sorted(Path(parent).glob(TEMP_PATTERN))
    except OSError:
        return removed
    for folder in candidates:
        try:
            info = os.lstat(folder)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            continue
        probe = RunLock(folder, create=False)
        try:
            probe.acquire()
        except FileNotFoundError:  # no lock file: a leftover of an older zslbench, or one created this instant
            if time.time() - info.st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        except (RunLockedError, UnsafeRunDir, OSError):
            continue  # being assembled right now, or not ours to touch
        try:
            shutil.rmtree(folder, ignore_errors=True)  # removed while holding its lock: nobody else takes it
            removed.append(folder)
        finally:
            probe.release()
    return removed


def open_run_dir(run_dir: Path, config: dict, resume: bool, device: str, world_size: int = 1) -> RunLock:
    """Create (or, on resume, lock, re-check and tidy) a run directory and write ``env.json``; returns the held write lock.

    The lock is taken before any write, so a second writer changes nothing; on
    resume the checks made before it (complete? links?) are repeated under it,
    as the run may have finished in between.
    """
    from zslbench.run_lock import RunLock

    run_dir = Path(run_dir)
    if resume:
        lock = RunLock(run_dir)
        lock.acquire()
    else:
        lock = create_run_dir(run_dir, config, status_record("running", world_size=world_size))
    try:
        if resume:
            check_resumable(run_dir)
            remove_temp_files(run_dir)
            write_status(run_dir, "running", world_size=world_size)
        remove_stale_staging(run_dir.parent)
        atomic_write_json(run_dir / ENV_FILE, environment(device))
    except OSError as exc:
        lock.release()
        raise RunStoreError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}",
                            "choose a writable directory with --out or ZSLBENCH_RUNS") from None
    except BaseException:
        lock.release()
        raise
    return lock


def check_resumable(run_dir: Path) -> RunRecord:
    """The record of ``run_dir`` if ``--resume`` may write it: readable, not complete, no link in it; else one line."""
    run_dir = Path(run_dir)
    stored_files.refuse_links(run_dir, "resume")
    try:
        record = read_run(run_dir, require_status=False)
    except UnreadableRun as exc:
        raise UsageError(f"cannot resume {run_dir}: {exc}") from None
    if record.status.get("state") == "complete":
        raise UsageError(f"run {run_dir} is already complete", "start a new run instead of --resume")
    return record


def final_status(run_dir: Path, state: str, **extra: Any) -> None:
    """Record how a run ended; a second Ctrl-C waits for it, a full disk only loses the record."""
    from zslbench.signals import signals_deferred

    with signals_deferred():
        try:
            write_status(run_dir, state, **extra)
        except OSError:
            pass


def remove_temp_files(run_dir: Path) -> list[Path]:
    """Delete the leftovers of interrupted atomic writes (e.g. a half-written checkpoint) in ``run_dir``."""
    removed = []
    for tmp in Path(run_dir).glob(TEMP_PATTERN):
        if stat.S_ISREG(os.lstat(tmp).st_mode):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


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


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the zslbench checkout (or the working directory's repository); (None, None) outside git.

    ``dirty`` is True when tracked files differ from the commit (untracked files are ignored).
    """
    for where in (Path(__file__).resolve().parent.parent, Path.cwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                 text=True, timeout=5, check=False)
            if out.returncode != 0:
                continue
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                    capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None, None
        return out.stdout.strip(), bool(status.stdout.strip())
    return None, None


def installed_packages() -> dict[str, str]:
    """``{distribution name: version}`` of every installed Python distribution, sorted by name."""
    from importlib import metadata

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages.setdefault(str(name).lower(), str(dist.version))
    return dict(sorted(packages.items()))


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
    commit, dirty = git_state()
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
        "git_commit": None if commit is None else commit + ("-dirty" if dirty else ""),
        "git_dirty": dirty,
        "command": " ".join(sys.argv),
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "error": p.error}
            for p in plugins.load_plugins()
        ],
        "packages": installed_packages(),
    }
    return env


def status_record(state: str, **extra: Any) -> dict:
    """The content of ``status.json`` for ``state``."""
    status = {"state": state, "schema": SCHEMA_VERSION, "updated": _dt.datetime.now().isoformat(timespec="seconds")}
    status.update(extra)
    return status


def write_status(run_dir: Path, state: str, **extra: Any) -> None:
    atomic_write_json(Path(run_dir) / STATUS_FILE, status_record(state, **extra))


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


def read_run(run_dir: Path, require_status: bool = True) -> RunRecord:
    """Read one run directory through :mod:`zslbench.stored_files`; raise :class:`UnreadableRun` naming what is wrong.

    ``require_status=False`` accepts a directory without ``status.json`` (one
    written by an older zslbench that was killed right after ``config.json``).
    A run directory that is a symbolic link is refused; no file is followed out of it.
    """
    run_dir = Path(run_dir)
    kind = stored_files.entry_kind(run_dir)
    if kind is not None:
        raise UnreadableRun(f"the run directory is {kind}")
    config = stored_files.read_run_file(run_dir / CONFIG_FILE, stored_files.check_config)
    if not require_status and not os.path.lexists(run_dir / STATUS_FILE):
        status = status_record("interrupted")
    else:
        status = stored_files.read_run_file(run_dir / STATUS_FILE, stored_files.check_status)
    schema = status.get("schema")
    if schema < MIN_READABLE_SCHEMA or schema > SCHEMA_VERSION:
        raise UnreadableRun(f"schema {schema!r} is not readable by this zslbench (reads {MIN_READABLE_SCHEMA}..{SCHEMA_VERSION})")
    metrics = _optional(run_dir / METRICS_FILE, stored_files.check_metrics, None)
    if isinstance(metrics, dict) and isinstance(metrics.get("test"), dict):
        from zslbench.metric_names import canonical_metrics

        metrics["test"] = canonical_metrics(metrics["test"])  # older spellings (zsl_f1@3) read as stored today
    env = _optional(run_dir / ENV_FILE, stored_files.check_env, {})
    timings = _optional(run_dir / TIMINGS_FILE, stored_files.check_timings, {})
    return RunRecord(run_dir, config, status, metrics, env, timings)


def _optional(path: Path, check, absent: Any) -> Any:
    """A run file that may be missing (``absent`` then); read and checked like every other."""
    if not os.path.lexists(path):
        return absent
    return stored_files.read_run_file(path, check)


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
