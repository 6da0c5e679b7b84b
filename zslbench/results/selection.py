"""Choosing stored runs: the shared first step of ``compare``, ``ablate`` and ``report``.

A *selection* picks complete runs from the run store: by default the latest
complete run per (method, dataset, seed); optionally only runs carrying given
tags, or exactly the runs named by id. Unreadable directories (corrupt files,
an unknown schema) and incomplete runs are never used; they are returned as
``skipped`` so the commands can name them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


from zslbench import registry
from zslbench.data_version import stale_data_reason
from zslbench.errors import UsageError, ZSLBenchError
from zslbench.store import RunRecord, scan_runs, store_dirs

@dataclass
class Selection:
    """Runs chosen for a table, and the run directories that were passed over (with why)."""

    runs: list[RunRecord]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self.runs})

    def methods(self) -> list[str]:
        return sorted({r.method for r in self.runs})


def _stored_names(root: Path) -> tuple[set[str], set[str]]:
    """Dataset and method directory names of the store (cheap: no file is read)."""
    datasets, methods = set(), set()
    if Path(root).is_dir():
        for ds_dir in store_dirs(root):
            datasets.add(ds_dir.name)
            methods.update(m.name for m in store_dirs(ds_dir))
    return datasets, methods


def canonical_names(names: Sequence[str], reg: registry.Registry, stored: set[str]) -> list[str]:
    """Registered names (aliases resolved) or names with stored runs; else the registry's error.

    A method whose plugin is no longer installed can still be compared from its
    stored runs; a name that is neither registered nor stored raises
    :class:`~zslbench.errors.UnknownNameError` listing the registered names.
    """
    out: list[str] = []
    for name in names:
        # reg.canonical raises UnknownNameError (close matches, or the registered names) for unknown names.
        canonical = name if name not in reg and name in stored else reg.canonical(name)
        if canonical not in out:
            out.append(canonical)
    return out


def resolve_names(root: Path, methods: Sequence[str], datasets: Sequence[str]) -> tuple[list[str], list[str]]:
    """Canonical method and dataset names (see :func:`canonical_names`); plugins are loaded first."""
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    stored_datasets, stored_methods = _stored_names(root)
    return (canonical_names(methods, registry.methods, stored_methods),
            canonical_names(datasets, registry.datasets, stored_datasets))


def _match_run_ids(records: list[RunRecord], run_ids: Sequence[str]) -> list[RunRecord]:
    """The runs named by id (a directory name, or a unique prefix of one)."""
    chosen: list[RunRecord] = []
    for wanted in run_ids:
        exact = [r for r in records if r.run_id == wanted]
        hits = exact or [r for r in records if r.run_id.startswith(wanted)]
        if not hits:
            raise UsageError(f"no complete run with id {wanted!r} among the selected methods and datasets",
                             "run ids are the directory names under <runs>/<dataset>/<method>/")
        if len(hits) > 1:
            raise UsageError(f"run id prefix {wanted!r} matches {len(hits)} runs",
                             "give more characters: " + ", ".join(r.run_id for r in hits[:4]))
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def latest_per_seed(records: Iterable[RunRecord]) -> list[RunRecord]:
    """The latest run (by run id, i.e. start time) per (method, dataset, seed)."""
    latest: dict[tuple[str, str, int], RunRecord] = {}
    for record in sorted(records, key=lambda r: r.run_id):
        latest[(record.method, record.dataset, record.seed)] = record
    return sorted(latest.values(), key=lambda r: (r.dataset, r.method, r.seed, r.run_id))


def unusable_reason(record: RunRecord) -> str | None:
    """Why a readable run cannot be used, or None."""
    if record.status.get("state") != "complete":
        return f"incomplete (state {record.status.get('state')!r})"
    if not record.complete or not isinstance(record.metrics.get("test"), dict):
        return "complete but metrics.json holds no test metrics"
    return stale_data_reason(record.dataset, record.metrics)


def usable_runs(root: Path, methods: Sequence[str] | None = None,
                datasets: Sequence[str] | None = None) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
    """Every complete run of ``methods`` on ``datasets`` (None: all), and the directories passed over (with why)."""
    records, bad = scan_runs(Path(root))
    method_set = set(methods) if methods is not None else None
    dataset_set = set(datasets) if datasets is not None else None

    def wanted(method: str, dataset: str) -> bool:
        return (method_set is None or method in method_set) and (dataset_set is None or dataset in dataset_set)

    skipped = [(path, reason) for path, reason in bad if wanted(path.parent.name, path.parent.parent.name)]
    usable: list[RunRecord] = []
    for record in records:
        if not wanted(record.method, record.dataset):
            continue
        reason = unusable_reason(record)
        if reason is None:
            usable.append(record)
        else:
            skipped.append((record.path, reason))
    return usable, sorted(skipped, key=lambda item: str(item[0]))


def select_runs(root: Path, methods: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
                run_ids: Sequence[str] = (), tags: Sequence[str] = ()) -> Selection:
    """Complete runs of ``methods`` on ``datasets`` (None: all) under ``root``.

    Default: the latest complete run per (method, dataset, seed). ``tags``: only
    runs carrying every one of them. ``run_ids``: exactly those runs (a
    directory name or a unique prefix; an unknown id is a usage error).
    Incomplete runs and unreadable directories of the selected methods and
    datasets are returned in ``skipped``, never raised.
    """
    usable, skipped = usable_runs(root, methods, datasets)
    if tags:
        usable = [r for r in usable if set(tags) <= set(r.tags)]
    chosen = _match_run_ids(usable, run_ids) if run_ids else latest_per_seed(usable)
    return Selection(sorted(chosen, key=lambda r: (r.dataset, r.method, r.seed, r.run_id)), skipped)


def warn_skipped(skipped: Sequence[tuple[Path, str]], echo) -> None:
    """One warning line per passed-over run directory, through ``echo`` (e.g. click.echo to stderr)."""
    for path, reason in skipped:
        echo(f"warning: skipped {path}: {reason}")


def run_command(method: str, dataset: str, root: Path | None = None, seed: int | None = None) -> str:
    """The ``zslbench run`` command that produces a missing run."""
    parts = ["zslbench", "run", method, "--dataset", dataset]
    if seed is not None:
        parts += ["--seed", str(seed)]
    if root is not None:
        parts += ["--out", str(root)]
    return " ".join(shlex.quote(p) for p in parts)


class NoRunsError(ZSLBenchError):
    """Nothing to show: no complete run of the requested methods and datasets (exit code 1)."""
