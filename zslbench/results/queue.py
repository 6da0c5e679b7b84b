"""Progress over a queue of runs (``ablate``, ``compare --run-missing``, sweeps).

On a terminal a rich bar counts the finished runs; elsewhere (CI, a log file)
:class:`QueueProgress` prints one :func:`finished_run_line` per finished run,
so a piped ``ablate`` says what it did as it goes. Any code that runs a list of
resolved runs can use :func:`run_jobs_with_progress`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence, TextIO

from zslbench.metric_names import metric_label
from zslbench.progress import format_duration, is_terminal


def finished_run_line(index: int, total: int, method: str, dataset: str, seed: int, metrics: dict,
                      seconds: float | None, run_dir: Any) -> str:
    """``[2/6] svip on synthetic, seed 1: T1 41.2 U 30.5 S 60.1 H 40.5 (12.3s) -> runs/...``."""
    from zslbench.tasks import get_task  # a run just finished: torch is loaded anyway

    test = (metrics or {}).get("test", {}) or {}
    keys = get_task(str((metrics or {}).get("task", "single-label"))).summary_columns(test)[:6]
    scores = " ".join(f"{metric_label(k)} {100 * float(test[k]):.1f}" for k in keys) or "no test metrics"
    took = f" ({format_duration(seconds)})" if seconds is not None else ""
    return f"[{index}/{total}] {method} on {dataset}, seed {seed}: {scores}{took} -> {run_dir}"


class QueueProgress:
    """Progress over a queue of runs: a rich bar on a terminal, else one line per finished run.

    Usage::

        with QueueProgress(len(jobs), "ablation runs") as queue:
            for job in jobs:
                queue.started(f"{method} on {dataset} (seed {seed})")
                outcome = execute_run(job, progress=False)
                queue.finished(outcome.config, outcome.metrics, outcome.run_dir, seconds)
    """

    def __init__(self, total: int, description: str = "runs", stream: TextIO | None = None):
        self.total = total
        self.description = description
        self.stream = stream or sys.stderr
        self.rich = is_terminal(self.stream)
        self.finished_count = 0
        self._progress = None
        self._task = None

    def __enter__(self) -> "QueueProgress":
        if self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=Console(file=self.stream))
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self.description}: done")
            self._progress.__exit__(*exc)
            self._progress = None

    def started(self, what: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self.description}: {what}")

    def finished(self, config: Any, metrics: dict, run_dir: Any, seconds: float | None = None) -> str:
        """Record a finished run; returns its line (printed when not on a terminal, above the bar otherwise)."""
        self.finished_count += 1
        line = finished_run_line(self.finished_count, self.total, config.method, config.dataset, config.seed,
                                 metrics, seconds, run_dir)
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
            self._progress.advance(self._task)
        else:
            print(line, file=self.stream, flush=True)
        return line


def run_jobs_with_progress(jobs: Sequence[Any], run_one, description: str, stream: TextIO | None = None) -> list:
    """Run ``run_one(job)`` (returning a RunOutcome) for each resolved job under a :class:`QueueProgress`."""
    outcomes = []
    with QueueProgress(len(jobs), description, stream) as queue:
        for job in jobs:
            cfg = job.config
            queue.started(f"{cfg.method} on {cfg.dataset} (seed {cfg.seed})")
            t0 = time.perf_counter()
            outcome = run_one(job)
            queue.finished(outcome.config, outcome.metrics, outcome.run_dir, time.perf_counter() - t0)
            outcomes.append(outcome)
    return outcomes
