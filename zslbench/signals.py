"""SIGTERM (and SIGHUP, SIGQUIT) handled like Ctrl-C, and critical writes that a second signal cannot cut short.

A batch scheduler or ``kill`` stops a job with SIGTERM, a closed terminal or
ssh session sends SIGHUP, Ctrl-\\ sends SIGQUIT; :func:`sigterm_as_interrupt`
turns each into :class:`Terminated` (a ``KeyboardInterrupt``), so the clean-up
written for Ctrl-C runs (status ``interrupted``, resumable, one line with the
``--resume`` command) and the process exits 128 + the signal number (143 for
SIGTERM) instead of dying with ``running`` recorded forever.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Exit codes of a process stopped by SIGINT / SIGTERM (128 + signal number).
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM
#: The signals that stop a command like SIGTERM (those this platform has).
TERMINATING_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (or another of :data:`TERMINATING_SIGNALS`, named by ``signum``)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.signum = int(signum)


def exit_code_for(exc: BaseException) -> int:
    return 128 + exc.signum if isinstance(exc, Terminated) else EXIT_SIGINT


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM, SIGHUP and SIGQUIT raise :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and the terminating signals wait until the block is done (e.g. while the final status is written).

    The Python handlers are swapped for one that only remembers the signal (a
    thread mask would not do: the kernel hands a process signal to any thread
    that does not block it, e.g. one of torch's); after the block the
    remembered signal is raised as KeyboardInterrupt / :class:`Terminated`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
                for sig in (signal.SIGINT, *TERMINATING_SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            raise KeyboardInterrupt() if pending[0] == signal.SIGINT else Terminated(pending[0])
