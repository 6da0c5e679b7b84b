"""``zslbench sweep SWEEP.toml`` and ``zslbench sweep status SWEEP.toml``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from zslbench.sweep.engine import (
    canonical, canonical_specs, check_specs, dry_run as print_dry_run, execute_plan, plan_runs, raise_for_failures,
)
from zslbench.sweep.spec import RunSpec, SweepSpec, load_sweep
from zslbench.sweep.state import COMPLETE, INCOMPLETE, SweepRecord, find_run, sweep_dir


class SweepGroup(click.Group):
    """``zslbench sweep FILE`` runs the sweep (the ``run`` subcommand); ``zslbench sweep status FILE`` reads it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("sweep", cls=SweepGroup)
def sweep_command() -> None:
    """Run a grid of runs from a sweep file (see docs/scaling.md), here or on Slurm."""


def _loaded_sweep(sweep_file: str, out: str | None) -> tuple[SweepSpec, Path]:
    """The sweep and its run store root (absolute, so every job writes where the sweep looks)."""
    from zslbench.paths import runs_dir

    spec = load_sweep(sweep_file)
    root = runs_dir(out or spec.out).resolve()
    spec.out = str(root)
    if f"sweep:{spec.name}" not in spec.tags:
        spec.tags.append(f"sweep:{spec.name}")
    return spec, root


def _resolved_sweep(sweep_file: str, out: str | None) -> tuple[SweepSpec, Path, list[RunSpec]]:
    """The sweep, its run store root and its runs (expanded: at most ``MAX_SWEEP_RUNS``)."""
    spec, root = _loaded_sweep(sweep_file, out)
    return spec, root, canonical_specs(spec.iter_runs())


def _apply(settings, **values):
    """``settings`` with the command-line values that were given."""
    return dataclasses.replace(settings, **{k: v for k, v in values.items() if v not in (None, ())})


def _held_by_slurm(record: SweepRecord, specs: list[RunSpec] | None, root: Path) -> set[str]:
    """Runs whose recorded Slurm job is still pending or running (never submitted twice).

    ``specs``: only those of these runs that are not complete (None: every recorded job, as a dry run asks).
    """
    from zslbench.sweep import slurm

    ids = {key: job.job_id for key, job in record.jobs.items()
           if job.executor == "slurm" and job.job_id and job.state in ("queued", "running")}
    if specs is not None:
        wanted = {s.key for s in specs if find_run(s, root).state != COMPLETE}
        ids = {k: v for k, v in ids.items() if k in wanted}
    if not ids or slurm.submitit is None or record.slurm_folder is None:
        return set()
    states = slurm.job_states(Path(record.slurm_folder), list(ids.values()))
    return {key for key, job_id in ids.items() if _first_word(states.get(job_id, "")) in slurm.ACTIVE_STATES}


def _first_word(state: str) -> str:
    """sacct's state without its detail ("CANCELLED by 1000" -> "CANCELLED")."""
    return state.split(" ")[0]


@sweep_command.command("run")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="local: runs at a time (default [local] jobs or 1).")
@click.option("--gpus", help="local: GPU ids to share out, e.g. 0,1,2,3 (default: every visible GPU).")
@click.option("--threads-per-job", type=click.IntRange(min=1), help="local: CPU threads per run (default cores/jobs).")
@click.option("--partition", help="slurm: partition.")
@click.option("--gpus-per-job", type=click.IntRange(min=0), help="slurm: GPUs per run (more than 1: torchrun).")
@click.option("--cpus-per-task", type=click.IntRange(min=1), help="slurm: CPUs per run.")
@click.option("--time", "time_limit", help="slurm: time limit per run (minutes or HH:MM:SS).")
@click.option("--mem", help="slurm: memory per run, e.g. 32G.")
@click.option("--account", help="slurm: account to charge.")
@click.option("--sbatch", "sbatch_options", multiple=True, metavar="--NAME=VALUE",
              help="slurm: extra sbatch option (repeatable), e.g. --sbatch=--qos=high.")
@click.option("--max-parallel", type=click.IntRange(min=1), help="slurm: array tasks running at once.")
@click.option("--wait", is_flag=True, help="slurm: follow the jobs until they end (progress, exit 1 on failures).")
@click.option("--out", help="Run store root (default: the sweep file's `out`, $ZSLBENCH_RUNS or ./runs).")
@click.option("--dry-run", is_flag=True, help="Print what would run; run nothing.")
def sweep_run(sweep_file: str, executor: str, jobs: int | None, gpus: str | None, threads_per_job: int | None,
              partition: str | None, gpus_per_job: int | None, cpus_per_task: int | None, time_limit: str | None,
              mem: str | None, account: str | None, sbatch_options: tuple[str, ...], max_parallel: int | None,
              wait: bool, out: str | None, dry_run: bool) -> None:
    """Run every run of SWEEP_FILE that is not complete yet (interrupted ones are resumed)."""
    if dry_run:  # streamed: the commands are printed as the grid is walked, never held in memory
        spec, root = _loaded_sweep(sweep_file, out)
        record = SweepRecord.load(root, spec.name)
        held = _held_by_slurm(record, None, root) if executor == "slurm" else set()
        summary = print_dry_run(canonical(spec.iter_runs()), root, held, click.echo)
        click.echo(f"sweep {spec.name}: {summary}; runs in {root}", err=True)
        return
    spec, root, specs = _resolved_sweep(sweep_file, out)
    record = SweepRecord.load(root, spec.name)
    held = _held_by_slurm(record, specs, root) if executor == "slurm" else set()
    plan = plan_runs(specs, root, held)
    click.echo(f"sweep {spec.name}: {plan.summary()}; runs in {root}", err=True)
    if not plan.jobs:
        return
    check_specs([job.spec for job in plan.jobs if job.resume_dir is None])
    if executor == "local":
        run_executor = _local_executor(spec, root, jobs, gpus, threads_per_job)
    else:
        settings = _apply(spec.slurm, partition=partition, gpus_per_job=gpus_per_job, cpus_per_task=cpus_per_task,
                          time=time_limit, mem=mem, account=account, max_parallel=max_parallel)
        if sbatch_options:
            settings = dataclasses.replace(settings, sbatch=[*settings.sbatch, *sbatch_options])
        run_executor = _slurm_executor(settings, spec, root, record, wait)
    outcomes = execute_plan(plan, run_executor, f"sweep {spec.name}", record)
    if executor == "slurm" and not wait:
        ids = sorted({job.job_id.split("_")[0] for job in record.jobs.values() if job.job_id})
        click.echo(f"submitted {len(plan.jobs)} runs to Slurm (job {', '.join(ids[-1:])}); "
                   f"follow them with `zslbench sweep status {sweep_file}`", err=True)
        return
    raise_for_failures(outcomes, f"re-run `zslbench sweep {sweep_file}`")
    click.echo(f"sweep {spec.name}: {len(plan.complete) + len(outcomes)} runs complete in {root} "
               f"(`zslbench compare --runs {root} --tag sweep:{spec.name}`)", err=True)


def _local_executor(spec: SweepSpec, root: Path, jobs: int | None, gpus: str | None, threads_per_job: int | None):
    from zslbench.sweep.local import LocalExecutor, device_slots, visible_gpus

    local = _apply(spec.local, jobs=jobs, threads_per_job=threads_per_job)
    gpu_ids = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else (
        [str(g) for g in local.gpus] if local.gpus is not None else visible_gpus())
    slots = device_slots(local.jobs, gpu_ids, local.threads_per_job)
    return LocalExecutor(slots, sweep_dir(root, spec.name) / "logs")


def _slurm_executor(settings, spec: SweepSpec, root: Path, record: SweepRecord, wait: bool):
    from zslbench.sweep.slurm import SlurmExecutor

    folder = sweep_dir(root, spec.name) / "slurm"
    record.slurm_folder = str(folder)
    return SlurmExecutor(settings, folder, spec.name, wait=wait)


@sweep_command.command("status")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", help="Run store root (default: the sweep file's `out`, $ZSLBENCH_RUNS or ./runs).")
def sweep_status(sweep_file: str, out: str | None) -> None:
    """Show each run of SWEEP_FILE: done, running, queued, interrupted, failed or not started."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    spec, root, specs = _resolved_sweep(sweep_file, out)
    record = SweepRecord.load(root, spec.name)
    states = _slurm_states(record)
    table = Table(title=f"sweep {spec.name} ({root})")
    for column in ("run", "state", "where"):
        table.add_column(column)
    counts: dict[str, int] = {}
    for run in {s.key: s for s in specs}.values():
        state, where = run_state(run, root, record, states)
        counts[state] = counts.get(state, 0) + 1
        table.add_row(escape(run.label()), state, escape(where))
    Console(file=sys.stdout, width=200).print(table)
    order = ("done", "running", "queued", "interrupted", "failed", "not started")
    click.echo(", ".join(f"{counts.get(s, 0)} {s}" for s in order))


def _slurm_states(record: SweepRecord) -> dict[str, str]:
    from zslbench.sweep import slurm

    ids = [job.job_id for job in record.jobs.values() if job.executor == "slurm" and job.job_id]
    if not ids or slurm.submitit is None or record.slurm_folder is None:
        return {}
    return slurm.job_states(Path(record.slurm_folder), ids)


def run_state(run: RunSpec, root: Path, record: SweepRecord, slurm_states: dict[str, str]) -> tuple[str, str]:
    """(state, run directory or log) of one run, from the run store, the sweep record and Slurm."""
    stored = find_run(run, root)
    job = record.jobs.get(run.key)
    if stored.state == COMPLETE:
        return "done", str(stored.run_dir)
    slurm_state = _first_word(slurm_states.get(job.job_id, "")) if job and job.job_id else ""
    slurm_state = "" if slurm_state == "UNKNOWN" else slurm_state  # sacct no longer knows the job
    if slurm_state in ("PENDING", "REQUEUED", "CONFIGURING"):
        return "queued", f"Slurm job {job.job_id}"
    if slurm_state in ("RUNNING", "COMPLETING"):
        return "running", f"Slurm job {job.job_id}: {stored.run_dir or job.log}"
    if slurm_state:  # ended (FAILED, TIMEOUT, CANCELLED, ... or COMPLETED without a complete run)
        return "failed", f"Slurm job {job.job_id} {slurm_state} (log: {job.log})"
    if job is not None and job.state == "failed":
        return "failed", f"{job.error} (log: {job.log})" if job.log else str(job.error)
    if stored.state == INCOMPLETE:
        running = stored.run_state == "running" and job is not None and job.state == "running"
        return ("running" if running else "interrupted"), str(stored.run_dir)
    if job is not None and job.state == "queued":
        return "queued", f"Slurm job {job.job_id}" if job.job_id else "queued"
    return "not started", ""
