"""What ``zslbench runs ls`` and ``zslbench runs rm`` do: list the run store and remove runs from it.

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


def run_line(run: StoredRun) -> str:
    if run.record is None:
        return f"{run.run_id}  {run.path.parent.parent.name}/{run.path.parent.name}  {UNREADABLE}: {run.reason}"
    config = run.record.config
    tags = ",".join(run.tags)
    return "  ".join(part for part in (
        run.run_id, f"{run.record.dataset}/{run.record.method}", f"seed {run.record.seed}",
        str(config.get("protocol", "?")), run.state, _metric_text(run), f"tags {tags}" if tags else "") if part)
