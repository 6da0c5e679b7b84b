"""Executors on this machine.

* :class:`InProcessExecutor` runs the jobs one after the other in this process
  (what ``ablate`` and ``compare --run-missing`` do by default: no start-up
  cost per run).
* :class:`LocalExecutor` keeps ``jobs`` subprocesses busy, each running the
  job's exact ``zslbench run`` command (as ``python -m zslbench``, the same
  interpreter), its output in ``<runs>/.sweeps/<name>/logs/<key>.log``. Each
  job slot owns a device: ``CUDA_VISIBLE_DEVICES`` names one GPU per slot when
  GPUs are visible (slots share GPUs round-robin when there are more slots),
  otherwise each job gets ``threads_per_job`` CPU threads (``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from zslbench.sweep.engine import Job, Outcome, Tracker, finished_run_dir

#: Environment variables that set the CPU threads of torch and its BLAS libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def visible_gpus() -> list[str]:
    """GPU ids this process may use, without importing torch: CUDA_VISIBLE_DEVICES, else ``nvidia-smi -L``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


@dataclass(frozen=True)
class Slot:
    """Where one job runs: the GPUs it sees (empty: CPU only) and its CPU threads."""

    gpus: tuple[str, ...]
    threads: int

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus)
        for name in THREAD_VARIABLES:
            env[name] = str(self.threads)
        return env


def device_slots(jobs: int, gpus: Sequence[str], threads_per_job: int | None = None,
                 cpu_count: int | None = None) -> list[Slot]:
    """``jobs`` slots: one GPU each (round-robin over ``gpus``), or an even share of the CPU cores."""
    jobs = max(1, jobs)
    cores = cpu_count or os.cpu_count() or 1
    threads = threads_per_job or max(1, cores // jobs)
    if gpus:
        return [Slot((gpus[i % len(gpus)],), threads) for i in range(jobs)]
    return [Slot((), threads) for _ in range(jobs)]


def _last_error_line(log: Path) -> str | None:
    """The ``Error: ...`` line a failed ``zslbench run`` printed, or the last line of its log."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or [None])[-1]


class LocalExecutor:
    """``jobs`` concurrent ``zslbench run`` subprocesses on this machine."""

    name = "local"

    def __init__(self, slots: Sequence[Slot], log_dir: Path, poll_seconds: float = 0.2):
        self.slots = list(slots)
        self.log_dir = Path(log_dir)
        self.poll_seconds = poll_seconds

    def _start(self, job: Job, slot: Slot) -> tuple[subprocess.Popen, Path]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{job.key}.log"
        with open(log, "a") as fh:
            fh.write(f"$ {job.command}\n")
            fh.flush()
            # The same interpreter as this process, so the run sees the same installation.
            process = subprocess.Popen([sys.executable, "-m", "zslbench", *job.argv[1:]], stdout=fh,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=slot.environment(dict(os.environ)))
        return process, log

    def run(self, jobs: Sequence[Job], root: Path, tracker: Tracker) -> None:
        queue = list(jobs)
        for job in queue:
            tracker.queued(job)
        free = list(range(len(self.slots)))
        running: dict[int, tuple[Job, subprocess.Popen, Path]] = {}
        try:
            while queue or running:
                while queue and free:
                    slot = free.pop(0)
                    job = queue.pop(0)
                    process, log = self._start(job, self.slots[slot])
                    running[slot] = (job, process, log)
                    tracker.started(job, log=log)
                for slot, (job, process, log) in list(running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    del running[slot]
                    free.append(slot)
                    tracker.finished(self._outcome(job, code, log, root))
                if running:
                    time.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            self._interrupt(running)
            raise

    @staticmethod
    def _outcome(job: Job, code: int, log: Path, root: Path) -> Outcome:
        run_dir = finished_run_dir(job, root) if code == 0 else None
        if code == 0 and run_dir is not None:
            return Outcome(job, True, run_dir, log=log)
        reason = _last_error_line(log) if code != 0 else "exited 0 but stored no complete run"
        return Outcome(job, False, error=f"exit {code}: {reason}" if code != 0 else reason, log=log)

    @staticmethod
    def _interrupt(running: dict[int, tuple[Job, subprocess.Popen, Path]]) -> None:
        """Ctrl-C: every run saves its state (SIGINT -> status "interrupted") so the sweep resumes it later."""
        for _, process, _ in running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for _, process, _ in running.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


class InProcessExecutor:
    """The jobs one after the other in this process (no subprocess, no start-up cost per run)."""

    name = "in-process"

    def __init__(self, log_dir: Path | None = None):
        self.log_dir = log_dir

    def run(self, jobs: Sequence[Job], root: Path, tracker: Tracker) -> None:
        for job in jobs:
            tracker.queued(job)
        for job in jobs:
            tracker.started(job)
            tracker.finished(self._run_one(job, root))

    def _run_one(self, job: Job, root: Path) -> Outcome:
        from zslbench.errors import ZSLBenchError
        from zslbench.runner import RunInterrupted, execute_run, resolve_resume, resolve_run
        from zslbench.sweep.engine import run_overrides

        spec = job.spec
        try:
            if job.resume_dir is not None:
                resolved = resolve_resume(job.resume_dir)
            else:
                resolved = resolve_run(spec.method, spec.dataset, None, list(spec.sets), run_overrides(spec))
            outcome = execute_run(resolved, job.resume_dir, progress=False)
        except RunInterrupted:
            raise
        except ZSLBenchError as exc:
            return Outcome(job, False, error=f"{exc}")
        except Exception as exc:  # one broken run must not stop the others; its traceback goes to a log
            return Outcome(job, False, error=f"{type(exc).__name__}: {exc}", log=self._write_traceback(job))
        return Outcome(job, True, outcome.run_dir)

    def _write_traceback(self, job: Job) -> Path | None:
        if self.log_dir is None:
            traceback.print_exc()
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{job.key}.log"
        log.write_text(f"$ {job.command}\n{traceback.format_exc()}")
        return log
