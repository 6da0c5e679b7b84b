"""Progress over a whole sweep: counts of queued / running / done / failed runs.

On a terminal: one rich progress bar (stderr) whose text carries the counts,
failures printed above it as they happen. Elsewhere (logs, CI, Slurm): one
plain line per finished run, so the output stays readable in a file.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Counts:
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    def text(self) -> str:
        return f"{self.done} done, {self.running} running, {self.queued} queued, {self.failed} failed"


@dataclass
class SweepProgress:
    """Reports runs starting and finishing; use as a context manager around the executor."""

    title: str
    total: int
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    interactive: bool | None = None  # None: whether ``stream`` is a terminal
    counts: Counts = field(default_factory=Counts)

    def __post_init__(self) -> None:
        self.counts.queued = self.total
        if self.interactive is None:
            self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._task = None
        self._started: dict[str, float] = {}

    def __enter__(self) -> "SweepProgress":
        if self.interactive and self.total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(file=self.stream))
            self._bar.__enter__()
            self._task = self._bar.add_task(self._description(), total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=self._description())
            self._bar.__exit__(*exc)
            self._bar = None

    def _description(self) -> str:
        return f"{self.title}: {self.counts.text()}"

    def _refresh(self, advance: int = 0) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=self._description(), advance=advance)

    def _say(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def started(self, key: str) -> None:
        """A run left the queue (its process or job started)."""
        self.counts.queued -= 1
        self.counts.running += 1
        self._started[key] = time.perf_counter()
        self._refresh()

    def finished(self, key: str, label: str, ok: bool, run_dir: Path | None = None, error: str | None = None,
                 log: Path | None = None) -> None:
        """A run ended: ``ok`` (stored complete) or failed (``error``, ``log``)."""
        if key in self._started:
            self.counts.running -= 1
            seconds = time.perf_counter() - self._started.pop(key)
        else:  # finished without being seen to start (e.g. a Slurm task that never ran)
            self.counts.queued -= 1
            seconds = 0.0
        if ok:
            self.counts.done += 1
        else:
            self.counts.failed += 1
        position = f"[{self.counts.done + self.counts.failed}/{self.total}]"
        if ok:
            if self._bar is None:
                self._say(f"{position} done {label} ({seconds:.1f} s): {run_dir}")
        else:
            where = f" (log: {log})" if log else ""
            self._say(f"{position} FAILED {label}: {error}{where}")
        self._refresh(advance=1)
