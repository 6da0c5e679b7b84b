"""SIGTERM handled like Ctrl-C, and critical writes that a second signal cannot cut short.

A batch scheduler or ``kill`` stops a job with SIGTERM; :func:`sigterm_as_interrupt`
turns it into :class:`Terminated` (a ``KeyboardInterrupt``), so the clean-up
written for Ctrl-C runs (status ``interrupted``, resumable) and the process
exits 143 instead of dying with ``running`` recorded forever.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Exit codes of a process stopped by SIGINT / SIGTERM (128 + signal number).
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def exit_code_for(exc: BaseException) -> int:
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (e.g. while the final status is written).

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
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            raise Terminated() if pending[0] == signal.SIGTERM else KeyboardInterrupt()
