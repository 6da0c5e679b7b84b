"""One writer per run directory: a lock file naming its holder (pid, host, start time).

``<run_dir>/.lock`` is held with ``fcntl.flock`` while a process writes the
run; the OS releases it when the holder dies, so a lock left by a killed
process is stale and simply taken over. Where ``flock`` is unavailable (or
unsupported by the file system) the recorded pid is checked instead: a lock of
this host whose process no longer exists is stale. A second writer (e.g.
``--resume`` on a run that is still training) is refused with a message naming
the holder, before it changes anything in the directory.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import socket
from pathlib import Path

from zslbench.errors import ZSLBenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


class RunLockedError(ZSLBenchError):
    """Another live process writes this run directory."""


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} (since {info.get('since', '?')})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager holding the write lock of ``run_dir``; raises :class:`RunLockedError` if held."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if not self._lock_fd(fd):
                raise RunLockedError(f"run {self.run_dir} is being written by {_holder_text(self.path)}",
                                     "wait for it to finish (or stop that process), then retry")
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": _dt.datetime.now().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

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
        return not self._held_by_live_process()

    def _held_by_live_process(self) -> bool:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return False
        if not info.get("pid"):
            return False
        if info.get("host") != socket.gethostname():
            return True  # cannot check a process on another machine: assume it runs
        return int(info["pid"]) != os.getpid() and _pid_alive(int(info["pid"]))

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
