"""What is known about each run of a sweep: the run store first, the sweep's own record second.

The run store is the truth about results: a run is found again by its
``run-key:<hash>`` tag. The sweep record (``<runs>/.sweeps/<name>/state.json``,
written atomically) adds what the store cannot know: which Slurm job carries a
run, where its log is, how the last attempt ended.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zslbench import store
from zslbench.data_version import stale_data_reason
from zslbench.sweep.spec import RunSpec, check_sweep_name

SWEEPS_DIR = ".sweeps"

#: States a run of a sweep can be in (``zslbench sweep status``).
COMPLETE, INCOMPLETE, MISSING = "complete", "incomplete", "missing"


@dataclass
class StoredRun:
    """The latest stored run of a spec, if any."""

    state: str  # COMPLETE, INCOMPLETE (interrupted, failed or still running) or MISSING
    run_dir: Path | None = None
    run_state: str | None = None  # status.json's state ("running", "interrupted", "failed", "complete")


def find_run(spec: RunSpec, root: Path) -> StoredRun:
    """The run of ``spec`` under ``root``: its newest complete run, else its newest incomplete one."""
    records, _ = store.scan_runs(root, spec.dataset, spec.method)
    # runs of an earlier version of the dataset's data are neither reused nor resumed
    mine = [r for r in records if spec.key_tag in r.tags and not (r.complete and stale_data_reason(r.dataset, r.metrics))]
    complete = [r for r in mine if r.complete]
    if complete:
        return StoredRun(COMPLETE, complete[-1].path, "complete")
    if mine:
        return StoredRun(INCOMPLETE, mine[-1].path, str(mine[-1].status.get("state")))
    return StoredRun(MISSING)


def sweep_dir(root: Path, name: str) -> Path:
    """Where a sweep keeps its record and logs: hidden inside the run store, beside the runs.

    ``name`` must be a plain name (:func:`check_sweep_name`), so the folder is never outside ``<root>/.sweeps``.
    """
    return Path(root) / SWEEPS_DIR / check_sweep_name(name)


@dataclass
class JobRecord:
    """The last attempt at one run, as the sweep saw it."""

    label: str
    command: str
    executor: str
    state: str = "queued"  # queued | running | done | failed
    job_id: str | None = None  # Slurm job id (``<array>_<task>``)
    log: str | None = None
    run_dir: str | None = None
    error: str | None = None
    updated: str = ""


@dataclass
class SweepRecord:
    """``state.json`` of a sweep: one :class:`JobRecord` per run key."""

    path: Path
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    slurm_folder: str | None = None

    @classmethod
    def load(cls, root: Path, name: str) -> "SweepRecord":
        path = sweep_dir(root, name) / "state.json"
        record = cls(path)
        if path.exists():
            try:
                raw = json.loads(path.read_text())
                record.jobs = {key: JobRecord(**job) for key, job in raw.get("jobs", {}).items()}
                record.slurm_folder = raw.get("slurm_folder")
            except (OSError, ValueError, TypeError):
                pass  # a damaged record only loses the job ids and logs; the run store still says what is done
        return record

    def update(self, key: str, job: JobRecord) -> None:
        job.updated = _dt.datetime.now().isoformat(timespec="seconds")
        self.jobs[key] = job
        self.save()

    def save(self) -> None:
        store.atomic_write_json(self.path, {"jobs": {k: asdict(v) for k, v in self.jobs.items()},
                                            "slurm_folder": self.slurm_folder})
