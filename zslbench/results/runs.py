"""``zslbench runs ls`` and ``zslbench runs rm``: list the run store and remove runs from it.

Runs are chosen by id (a directory name or a unique prefix), ``--tag``,
``--state`` (complete, running, failed, interrupted, ``unreadable`` for a
directory whose files cannot be read) or ``--failed`` (every state but
complete: failed, interrupted, running-but-dead, unreadable). ``rm`` deletes
only directories found by scanning the store (never a path given on the
command line, never outside the store), never a run another live process
writes, and with ``--dry-run`` only says what it would delete.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import click

from zslbench.errors import UsageError
from zslbench.results.selection import match_run_ids
from zslbench.store import RunRecord, scan_runs

#: The ``--state`` value of a directory whose files cannot be read.
UNREADABLE = "unreadable"


@dataclass
class StoredRun:
    """One run directory of the store: its record (None when unreadable), state and why it is unreadable."""

    path: Path
    state: str
    record: RunRecord | None = None
    reason: str = ""

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def tags(self) -> list[str]:
        return self.record.tags if self.record is not None else []


def stored_runs(root: Path, methods: Sequence[str] = (), datasets: Sequence[str] = ()) -> list[StoredRun]:
    """Every run directory under ``root`` (of ``methods`` on ``datasets`` when given), oldest first."""
    records, bad = scan_runs(Path(root))
    out = [StoredRun(r.path, str(r.status.get("state", "?")), r) for r in records]
    out += [StoredRun(path, UNREADABLE, reason=reason) for path, reason in bad]
    return sorted((s for s in out if (not methods or s.path.parent.name in methods)
                   and (not datasets or s.path.parent.parent.name in datasets)), key=lambda s: s.run_id)


def choose_runs(runs: Sequence[StoredRun], run_ids: Sequence[str] = (), tags: Sequence[str] = (),
                states: Sequence[str] = (), failed: bool = False) -> list[StoredRun]:
    """The runs matching every given filter; an id matches a directory name or a unique prefix of one."""
    chosen = list(runs)
    if run_ids:
        chosen = match_run_ids(chosen, run_ids, "no run with id {id!r} in the store",
                               "list them with `zslbench runs ls`")
    if tags:
        chosen = [s for s in chosen if set(tags) <= set(s.tags)]
    if states:
        chosen = [s for s in chosen if s.state in states]
    if failed:
        chosen = [s for s in chosen if s.state != "complete"]
    return chosen


def remove_runs(root: Path, runs: Sequence[StoredRun]) -> tuple[list[StoredRun], list[tuple[StoredRun, str]]]:
    """Delete ``runs`` (directories found in ``root``); returns the removed ones and the ones left, with why."""
    from zslbench.run_lock import RunLock, RunLockedError

    store_root = Path(root).resolve()
    removed, kept = [], []
    for run in runs:
        path = run.path
        if path.is_symlink() or not path.resolve().is_relative_to(store_root):
            kept.append((run, "not a directory inside the run store"))
            continue
        try:
            with RunLock(path):  # a live writer holds it: that run is still going
                shutil.rmtree(path)
        except RunLockedError:
            kept.append((run, "another live process writes it"))
            continue
        except OSError as exc:
            kept.append((run, exc.strerror or str(exc)))
            continue
        removed.append(run)
    return removed, kept


def _metric_text(run: StoredRun) -> str:
    test = (run.record.metrics or {}).get("test") if run.record is not None else None
    if not isinstance(test, dict):
        return ""
    for key in ("h", "zsl_map", "t1"):
        if isinstance(test.get(key), (int, float)):
            return f"{key.upper() if len(key) < 3 else key} {100 * float(test[key]):.1f}"
    return ""


def _line(run: StoredRun) -> str:
    if run.record is None:
        return f"{run.run_id}  {run.path.parent.parent.name}/{run.path.parent.name}  {UNREADABLE}: {run.reason}"
    config = run.record.config
    tags = ",".join(run.tags)
    return "  ".join(part for part in (
        run.run_id, f"{run.record.dataset}/{run.record.method}", f"seed {run.record.seed}",
        str(config.get("protocol", "?")), run.state, _metric_text(run), f"tags {tags}" if tags else "") if part)


def _selector_options(command):
    for option in reversed((
        click.option("--runs", "runs_root", type=click.Path(file_okay=False),
                     help="Run store root (default $ZSLBENCH_RUNS or ./runs)."),
        click.option("--method", "-m", "methods", multiple=True, help="Only runs of this method (repeatable)."),
        click.option("--dataset", "-d", "datasets", multiple=True, help="Only runs on this dataset (repeatable)."),
        click.option("--tag", "tags", multiple=True, help="Only runs carrying this tag (repeat: all of them)."),
        click.option("--state", "states", multiple=True,
                     type=click.Choice(["complete", "running", "failed", "interrupted", UNREADABLE]),
                     help="Only runs in this state (repeatable)."),
        click.option("--failed", is_flag=True, help="Only runs that did not complete (any state but complete)."),
    )):
        command = option(command)
    return command


@click.group("runs")
def runs_group() -> None:
    """List or remove stored runs."""


@runs_group.command("ls")
@click.argument("run_ids", nargs=-1)
@_selector_options
def runs_ls(run_ids: tuple[str, ...], runs_root: str | None, methods: tuple[str, ...], datasets: tuple[str, ...],
            tags: tuple[str, ...], states: tuple[str, ...], failed: bool) -> None:
    """List stored runs (RUN_IDS: only these), oldest first: id, dataset/method, seed, protocol, state, H."""
    from zslbench.paths import runs_dir

    root = runs_dir(runs_root)
    chosen = choose_runs(stored_runs(root, methods, datasets), run_ids, tags, states, failed)
    for run in chosen:
        click.echo(_line(run))
    click.echo(f"{len(chosen)} runs in {root}", err=True)


@runs_group.command("rm")
@click.argument("run_ids", nargs=-1)
@_selector_options
@click.option("--dry-run", "-n", is_flag=True, help="Only list what would be removed.")
def runs_rm(run_ids: tuple[str, ...], runs_root: str | None, methods: tuple[str, ...], datasets: tuple[str, ...],
            tags: tuple[str, ...], states: tuple[str, ...], failed: bool, dry_run: bool) -> None:
    """Remove stored runs chosen by RUN_IDS, --tag, --state or --failed (at least one of them)."""
    from zslbench.paths import runs_dir

    if not (run_ids or tags or states or failed):
        raise UsageError("runs rm needs RUN_IDS, --tag, --state or --failed",
                         "e.g. `zslbench runs rm --failed --dry-run`; `zslbench runs ls` lists the runs")
    root = runs_dir(runs_root)
    chosen = choose_runs(stored_runs(root, methods, datasets), run_ids, tags, states, failed)
    if dry_run:
        for run in chosen:
            click.echo(f"would remove {run.path}  ({_line(run)})")
        click.echo(f"{len(chosen)} runs would be removed (dry run: nothing removed)", err=True)
        return
    removed, kept = remove_runs(root, chosen)
    for run in removed:
        click.echo(f"removed {run.path}")
    for run, why in kept:
        click.echo(f"warning: kept {run.path}: {why}", err=True)
    click.echo(f"{len(removed)} runs removed", err=True)
