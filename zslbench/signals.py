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
    """SIGINT and SIGTERM wait until the block is done (e.g. while the final status is written)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
