"""Planning a sweep against the run store and carrying the plan out with an executor.

:func:`plan_runs` decides per run: complete -> skipped, interrupted (or
failed, or left ``running`` by a killed process) -> ``zslbench run --resume
DIR``, nothing stored -> ``zslbench run ...``. :func:`execute_plan` hands the
jobs to an executor, which reports each start and end to a
:class:`Tracker` (progress + the sweep record); a failed run is collected,
never raised, and :func:`raise_for_failures` turns the failures into one
error (exit 1) naming them once every run has ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, Sequence

from zslbench.errors import ZSLBenchError
from zslbench.sweep.progress import SweepProgress
from zslbench.sweep.spec import RunSpec, command_line, resume_argv
from zslbench.sweep.state import COMPLETE, INCOMPLETE, JobRecord, SweepRecord, find_run


class SweepFailed(ZSLBenchError):
    """Some runs of a sweep failed (the others completed)."""

    exit_code = 1


class SweepInterrupted(ZSLBenchError):
    """Ctrl-C during a sweep: the running runs saved their state and resume on the next attempt."""

    exit_code = 130


@dataclass(frozen=True)
class Job:
    """One run to carry out: its spec and the exact command (a new run, or ``--resume DIR``)."""

    spec: RunSpec
    argv: tuple[str, ...]
    resume_dir: Path | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def command(self) -> str:
        return command_line(list(self.argv))


def job_for(spec: RunSpec, root: Path) -> Job | None:
    """The job ``spec`` still needs under ``root``; None when a complete run exists."""
    stored = find_run(spec, root)
    if stored.state == COMPLETE:
        return None
    if stored.state == INCOMPLETE:
        return Job(spec, tuple(resume_argv(stored.run_dir)), stored.run_dir)
    return Job(spec, tuple(spec.argv()))


@dataclass
class Plan:
    """What a sweep still has to do."""

    root: Path
    jobs: list[Job] = field(default_factory=list)
    complete: list[RunSpec] = field(default_factory=list)
    held: list[RunSpec] = field(default_factory=list)  # queued or running elsewhere (a live Slurm job)

    def summary(self) -> str:
        resumed = sum(1 for j in self.jobs if j.resume_dir is not None)
        return plan_summary(len(self.complete), len(self.held), resumed, len(self.jobs) - resumed)


def plan_summary(complete: int, held: int, resumed: int, to_start: int) -> str:
    """``N runs: C complete (skipped), R to resume, S to start`` (and the runs still held by Slurm)."""
    held_text = f", {held} still queued or running in Slurm" if held else ""
    return (f"{complete + held + resumed + to_start} runs: {complete} complete (skipped){held_text}, "
            f"{resumed} to resume, {to_start} to start")


def canonical(specs: Iterable[RunSpec]) -> Iterator[RunSpec]:
    """Specs with registered method and dataset names (aliases resolved; unknown names are usage errors), lazily."""
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    for s in specs:
        yield replace(s, method=registry.methods.canonical(s.method), dataset=registry.datasets.canonical(s.dataset))


def canonical_specs(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """:func:`canonical` as a list."""
    return list(canonical(specs))


def run_overrides(spec: RunSpec) -> dict:
    """The explicit-option layer ``zslbench run`` builds from the spec's command line."""
    overrides: dict = {"seed": spec.seed, "tags": [*spec.tags, spec.key_tag]}
    if spec.out is not None:
        overrides["out"] = spec.out
    if spec.protocol:
        overrides["protocol"] = spec.protocol
    return overrides


def check_specs(specs: Sequence[RunSpec]) -> None:
    """Resolve every run's config now, so a bad name, key or value stops the sweep before anything runs (exit 2)."""
    from zslbench.runner import resolve_run

    for spec in specs:
        resolve_run(spec.method, spec.dataset, None, list(spec.sets), run_overrides(spec))


def iter_plan(specs: Iterable[RunSpec], root: Path,
              held_keys: set[str] = frozenset()) -> Iterator[tuple[RunSpec, Job | None, bool]]:
    """``(spec, job, held)`` for each distinct run of ``specs``, one at a time: ``held`` when a live job
    carries it (``held_keys``), else ``job`` (None: a complete run exists)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.key in seen:  # the same run named twice (e.g. an alias and its method)
            continue
        seen.add(spec.key)
        held = spec.key in held_keys
        yield spec, None if held else job_for(spec, root), held


def plan_runs(specs: Sequence[RunSpec], root: Path, held_keys: set[str] = frozenset()) -> Plan:
    """Split ``specs`` into complete runs, runs held by live jobs (``held_keys``) and jobs to submit."""
    plan = Plan(Path(root))
    for spec, job, held in iter_plan(specs, root, held_keys):
        if held:
            plan.held.append(spec)
        elif job is None:
            plan.complete.append(spec)
        else:
            plan.jobs.append(job)
    return plan


def dry_run(specs: Iterable[RunSpec], root: Path, held_keys: set[str], echo: Callable[[str], None]) -> str:
    """``echo`` the command of each run still to do as it is planned (the grid is never held in memory);
    returns the plan's summary."""
    complete = held_count = resumed = to_start = 0
    for _, job, held in iter_plan(specs, root, held_keys):
        if held:
            held_count += 1
        elif job is None:
            complete += 1
        else:
            echo(job.command)
            resumed += job.resume_dir is not None
            to_start += job.resume_dir is None
    return plan_summary(complete, held_count, resumed, to_start)


@dataclass
class Outcome:
    """How one job ended."""

    job: Job
    ok: bool
    run_dir: Path | None = None
    error: str | None = None
    log: Path | None = None


class Tracker:
    """What executors report to: the progress display and the sweep record."""

    def __init__(self, progress: SweepProgress, record: SweepRecord | None, executor: str):
        self.progress = progress
        self.record = record
        self.executor = executor
        self.outcomes: list[Outcome] = []

    def queued(self, job: Job, job_id: str | None = None, log: Path | None = None) -> None:
        self._write(job, "queued", job_id=job_id, log=log)

    def started(self, job: Job, log: Path | None = None, job_id: str | None = None) -> None:
        self.progress.started(job.key)
        self._write(job, "running", job_id=job_id, log=log)

    def finished(self, outcome: Outcome, job_id: str | None = None) -> None:
        self.outcomes.append(outcome)
        self.progress.finished(outcome.job.key, outcome.job.spec.label(), outcome.ok, outcome.run_dir,
                               outcome.error, outcome.log)
        self._write(outcome.job, "done" if outcome.ok else "failed", job_id=job_id, log=outcome.log,
                    run_dir=outcome.run_dir, error=outcome.error)

    def _write(self, job: Job, state: str, job_id: str | None = None, log: Path | None = None,
               run_dir: Path | None = None, error: str | None = None) -> None:
        if self.record is None:
            return
        previous = self.record.jobs.get(job.key)
        self.record.update(job.key, JobRecord(
            label=job.spec.label(), command=job.command, executor=self.executor, state=state,
            job_id=job_id or (previous.job_id if previous else None),
            log=str(log) if log else (previous.log if previous else None),
            run_dir=str(run_dir) if run_dir else (str(job.resume_dir) if job.resume_dir else None), error=error))


class Executor(Protocol):
    """Carries out jobs, reporting each start and end to the tracker."""

    name: str

    def run(self, jobs: Sequence[Job], root: Path, tracker: Tracker) -> None: ...


def execute_plan(plan: Plan, executor: Executor, title: str, record: SweepRecord | None = None,
                 progress: SweepProgress | None = None) -> list[Outcome]:
    """Run every job of ``plan``; returns their outcomes (failures included, in the order they ended)."""
    progress = progress or SweepProgress(title, len(plan.jobs))
    tracker = Tracker(progress, record, executor.name)
    try:
        with progress:
            executor.run(plan.jobs, plan.root, tracker)
    except KeyboardInterrupt:
        raise SweepInterrupted(f"{title} interrupted after {len(tracker.outcomes)} of {len(plan.jobs)} runs; "
                               "the running ones saved their state",
                               "run the same command again: complete runs are skipped, interrupted ones resumed"
                               ) from None
    return tracker.outcomes


def raise_for_failures(outcomes: Sequence[Outcome], rerun_hint: str) -> None:
    """One :class:`SweepFailed` naming every failed run, if any failed."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return
    names = "; ".join(f"{o.job.spec.label()} ({o.error})" for o in failed[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    logs = f"logs in {failed[0].log.parent}; " if failed[0].log else ""
    raise SweepFailed(f"{len(failed)} of {len(outcomes)} runs failed: {names}{more}",
                      f"{logs}fix them and {rerun_hint} (complete runs are skipped)")


def finished_run_dir(job: Job, root: Path) -> Path | None:
    """The complete run a finished job stored (found by its run key), if any."""
    stored = find_run(job.spec, root)
    return stored.run_dir if stored.state == COMPLETE else None

