"""The Slurm executor, through submitit (``pip install 'zslbench[slurm]'``).

All jobs of a sweep go out as one job array (``--array=0-N%max_parallel``),
each task asking for the same resources (:class:`~zslbench.sweep.spec.SlurmSettings`);
submitit's pickles and the logs (``<job>_<task>_log.out/.err``) live in
``<runs>/.sweeps/<name>/slurm/``, beside the run directories.

Each task is a :class:`SweepTask`: it looks the run up in the store when it
starts (complete: nothing to do; interrupted: ``zslbench run --resume DIR``;
nothing: the spec's ``zslbench run ...``) and runs that exact command in a
subprocess. On a time-out or a preemption Slurm signals the job, submitit
calls :meth:`SweepTask.checkpoint`, which interrupts the run (it saves its
state, the last finished epoch is in ``checkpoint.safetensors``) and requeues a fresh
task that resumes it: time-outs up to ``max_requeues`` times, preemptions always.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from zslbench.errors import UsageError
from zslbench.sweep.engine import Job, Outcome, Tracker, finished_run_dir, job_for
from zslbench.sweep.local import THREAD_VARIABLES
from zslbench.sweep.spec import RunSpec, SlurmSettings, command_line

try:
    import submitit
    from submitit.helpers import Checkpointable, DelayedSubmission
except ImportError:  # optional: only this executor needs it
    submitit = None
    Checkpointable = object
    DelayedSubmission = None

#: Slurm states in which a job still holds its run (re-running the sweep must not submit it again).
ACTIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED")


def require_submitit() -> None:
    if submitit is None:
        raise UsageError("--executor slurm needs submitit, which is not installed",
                         "pip install 'zslbench[slurm]' (or pip install submitit)")


def sbatch_options(settings: SlurmSettings) -> dict[str, Any]:
    """Extra ``--key=value`` sbatch options of ``settings.sbatch`` (and ``mem``) as submitit's additional_parameters."""
    extra: dict[str, Any] = {}
    if settings.mem:
        extra["mem"] = settings.mem
    for option in settings.sbatch:
        name, has_value, value = option.lstrip("-").partition("=")
        if not name:
            raise UsageError(f"cannot read the sbatch option {option!r}", "write it as --name=value, e.g. --qos=high")
        extra[name.replace("-", "_")] = value if has_value else True
    return extra


def executor_parameters(settings: SlurmSettings, sweep_name: str) -> dict[str, Any]:
    """The submitit ``update_parameters`` of every task of the array."""
    params: dict[str, Any] = {"job_name": settings.job_name or f"zslbench-{sweep_name}",
                              "time": settings.time_minutes(), "nodes": 1, "ntasks_per_node": 1,
                              "array_parallelism": settings.max_parallel}
    if settings.partition:
        params["partition"] = settings.partition
    if settings.gpus_per_job:
        params["gpus_per_node"] = settings.gpus_per_job
    if settings.cpus_per_task:
        params["cpus_per_task"] = settings.cpus_per_task
    if settings.account:
        params["account"] = settings.account
    if settings.setup:
        params["setup"] = list(settings.setup)
    extra = sbatch_options(settings)
    if extra:
        params["additional_parameters"] = extra
    return params


def task_argv(job_argv: Sequence[str], gpus_per_job: int) -> list[str]:
    """The command a task runs: the job's, with ``--nproc N`` (torchrun) when the job holds several GPUs."""
    argv = list(job_argv)
    if gpus_per_job > 1:
        argv += ["--nproc", str(gpus_per_job)]
    return argv


class SweepTask(Checkpointable):
    """One array task: run (or resume) one spec's ``zslbench run`` command; requeued on time-out/preemption."""

    def __init__(self, spec: RunSpec, root: str, gpus_per_job: int = 0, threads: int | None = None):
        self.spec = spec
        self.root = root
        self.gpus_per_job = gpus_per_job
        self.threads = threads
        self._process: subprocess.Popen | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_process"] = None  # a live process is not part of what is requeued
        return state

    def __call__(self) -> str:
        """Run the job's command; returns the complete run directory, raises when the run failed."""
        job = job_for(self.spec, Path(self.root))
        if job is None:
            return str(finished_run_dir(Job(self.spec, ()), Path(self.root)))
        argv = task_argv(job.argv, self.gpus_per_job)
        print(f"zslbench sweep task: {command_line(argv)}", flush=True)
        env = dict(os.environ)
        if self.threads:
            env.update({name: str(self.threads) for name in THREAD_VARIABLES})
        self._process = subprocess.Popen([sys.executable, "-m", "zslbench", *argv[1:]], env=env)
        code = self._process.wait()
        self._process = None
        if code != 0:
            raise RuntimeError(f"`{command_line(argv)}` exited with {code}")
        run_dir = finished_run_dir(job, Path(self.root))
        if run_dir is None:
            raise RuntimeError(f"`{command_line(argv)}` exited 0 but stored no complete run")
        return str(run_dir)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Time-out or preemption: let the run save its state, then requeue a task that resumes it."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # the run writes status "interrupted" and stops
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return DelayedSubmission(SweepTask(self.spec, self.root, self.gpus_per_job, self.threads))


class SlurmExecutor:
    """Submits the jobs as one Slurm array through submitit; optionally waits for them."""

    name = "slurm"
    #: Seconds between looks at the jobs while waiting (sacct itself is rate-limited by submitit's watcher).
    POLL_SECONDS = 2.0

    def __init__(self, settings: SlurmSettings, folder: Path, sweep_name: str, wait: bool = False):
        require_submitit()
        self.settings = settings
        self.folder = Path(folder)
        self.sweep_name = sweep_name
        self.wait = wait
        self.submitted: list[tuple[Job, Any]] = []

    def _executor(self) -> Any:
        try:
            executor = submitit.SlurmExecutor(folder=self.folder / "%j", max_num_timeout=self.settings.max_requeues)
        except RuntimeError as exc:  # no srun on PATH
            raise UsageError(f"cannot submit to Slurm: {exc}", "run the sweep on a Slurm login node") from None
        try:
            executor.update_parameters(**executor_parameters(self.settings, self.sweep_name))
        except ValueError as exc:
            raise UsageError(f"bad Slurm settings: {str(exc).splitlines()[0]}") from None
        return executor

    def run(self, jobs: Sequence[Job], root: Path, tracker: Tracker) -> None:
        if not jobs:
            return
        executor = self._executor()
        threads = self.settings.cpus_per_task
        with executor.batch():
            pending = [(job, executor.submit(SweepTask(job.spec, str(root), self.settings.gpus_per_job, threads)))
                       for job in jobs]
        self.submitted = pending
        for job, handle in pending:
            tracker.queued(job, job_id=handle.job_id, log=Path(handle.paths.stdout))
        if self.wait:
            self._wait(pending, root, tracker)

    def _wait(self, pending: list[tuple[Job, Any]], root: Path, tracker: Tracker) -> None:
        """Follow the array until every task has ended (states from sacct, results from submitit)."""
        started: set[str] = set()
        left = list(pending)
        while left:
            for job, handle in list(left):
                if job.key not in started and (handle.done() or handle.state in ("RUNNING", "COMPLETING")):
                    started.add(job.key)
                    tracker.started(job, job_id=handle.job_id)
                if not handle.done():
                    continue
                left.remove((job, handle))
                tracker.finished(self._outcome(job, handle, root), job_id=handle.job_id)
            if left:
                time.sleep(self.POLL_SECONDS)

    @staticmethod
    def _outcome(job: Job, handle: Any, root: Path) -> Outcome:
        log = Path(handle.paths.stdout)
        error = handle.exception()
        run_dir = finished_run_dir(job, root)
        if error is None and run_dir is not None:
            return Outcome(job, True, run_dir, log=log)
        reason = str(error).strip().splitlines()[-1] if error is not None else "no complete run stored"
        return Outcome(job, False, error=f"Slurm job {handle.job_id}: {reason}", log=log)


def job_states(folder: Path, job_ids: Sequence[str]) -> dict[str, str]:
    """Slurm's state of each job id (one sacct call), e.g. ``{"1234_0": "RUNNING"}``."""
    require_submitit()
    if not job_ids:
        return {}
    watcher = submitit.SlurmJob.watcher
    for job_id in job_ids:
        watcher.register_job(job_id)
    watcher.update()
    return {job_id: watcher.get_state(job_id, mode="cache") for job_id in job_ids}
