"""One writer per run directory: a lock file naming its holder (pid, host, start time).

``<run_dir>/.lock`` is held with ``fcntl.flock`` while a process writes the
run; the OS releases it when the holder dies, so a lock left by a killed
process is stale and simply taken over. Where ``flock`` is unavailable (or
unsupported by the file system) the recorded pid is checked instead: a lock of
this host whose process no longer exists is stale. A second writer (e.g.
``--resume`` on a run that is still training) is refused with a message naming
the holder, before it changes anything in the directory.

Nothing is followed out of the run directory: the directory and the lock file
are opened with ``O_NOFOLLOW`` and the lock must be a plain file with no other
hard link, so a ``.lock`` linked to a file elsewhere is refused in one line
instead of being emptied.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import socket
import stat
from pathlib import Path

from zslbench.errors import ZSLBenchError
from zslbench.stored_files import UnsafeRunDir, entry_kind, open_no_follow

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


class RunLockedError(ZSLBenchError):
    """Another live process writes this run directory."""


def _record_of(fd: int) -> dict:
    """The holder record in an open lock file ({} when empty or unreadable)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder_text(fd: int) -> str:
    info = _record_of(fd)
    if not info:
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} (since {info.get('since', '?')})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or no pid at all
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager holding the write lock of ``run_dir``; raises :class:`RunLockedError` if held.

    ``create=False`` only takes an existing lock file (FileNotFoundError otherwise).
    """

    def __init__(self, run_dir: Path, create: bool = True):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.create = create
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        fd = self._open()
        try:
            if not self._lock_fd(fd):
                raise RunLockedError(f"run {self.run_dir} is being written by {_holder_text(fd)}",
                                     "wait for it to finish (or stop that process), then retry")
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": _dt.datetime.now().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _open(self) -> int:
        """The lock file, opened without following a link at the run directory or at ``.lock``."""
        try:
            dir_fd = open_no_follow(self.run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            self._refuse_link(self.run_dir, "the run directory", exc)
            raise
        try:
            flags = os.O_RDWR | (os.O_CREAT if self.create else 0) | getattr(os, "O_NONBLOCK", 0)
            try:
                fd = open_no_follow(Path(LOCK_FILE), flags, 0o666, dir_fd=dir_fd)
            except OSError as exc:
                self._refuse_link(self.path, LOCK_FILE, exc)
                raise
        finally:
            os.close(dir_fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            what = "not a plain file" if not stat.S_ISREG(info.st_mode) else f"hard-linked ({info.st_nlink} names)"
            raise UnsafeRunDir(f"{self.path} is {what}; zslbench writes no lock that is shared with another file",
                               "remove it (a lock file holds only its holder's pid) and retry")
        return fd

    def _refuse_link(self, path: Path, label: str, exc: OSError) -> None:
        kind = entry_kind(path)
        if kind is not None and exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EMLINK):
            raise UnsafeRunDir(f"{label} {path} is {kind}; zslbench follows no link in a run directory",
                               "remove the link (nothing outside the run directory was touched)") from None

    def moved_to(self, run_dir: Path) -> None:
        """The locked directory was renamed to ``run_dir`` (the held lock file moved with it)."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE

    def _lock_fd(self, fd: int) -> bool:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError as exc:  # e.g. a network file system without flock: fall back to the pid
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
        return not self._held_by_live_process(fd)

    def _held_by_live_process(self, fd: int) -> bool:
        info = _record_of(fd)
        if not info.get("pid"):
            return False
        if info.get("host") != socket.gethostname():
            return True  # cannot check a process on another machine: assume it runs
        try:
            pid = int(info["pid"])
        except (TypeError, ValueError):
            return False
        return pid != os.getpid() and _pid_alive(pid)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty lock file names no holder
        except OSError:
            pass
        if fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
        os.close(self._fd)
        self._fd = None
