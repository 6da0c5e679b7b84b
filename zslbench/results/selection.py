"""Choosing stored runs: the shared first step of ``compare``, ``ablate`` and ``report``.

A *selection* picks complete runs from the run store: by default the latest
complete run per seed within each group of comparable runs (same method,
dataset, protocol and settings; see :func:`~zslbench.results.aggregation.group_key`),
so runs of another protocol or setting never displace each other; optionally
every run (``latest=False``), only runs carrying given tags or matching
``--where KEY=VALUE``, or exactly the runs named by id. Unreadable directories
(corrupt files, an unknown schema) and incomplete runs are never used; they are
returned as ``skipped`` so the commands can name them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


from zslbench import registry
from zslbench.data_version import stale_data_reason
from zslbench.errors import UsageError, ZSLBenchError
from zslbench.results.aggregation import MethodResult, flatten_config, group_key, group_runs
from zslbench.store import RunRecord, scan_runs, store_dirs

@dataclass
class Selection:
    """Runs chosen for a table, and the run directories that were passed over (with why)."""

    runs: list[RunRecord]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    group_by: list[str] | None = None  # settings keys the rows are split by (None: every setting)

    def groups(self) -> list[MethodResult]:
        """The runs as groups of comparable runs: the rows of every table and the series of every figure."""
        return group_runs(self.runs, self.group_by)

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


def match_run_ids(records: Sequence, run_ids: Sequence[str],
                  among: str = "no complete run with id {id!r} among the selected methods and datasets",
                  hint: str = "run ids are the directory names under <runs>/<dataset>/<method>/") -> list:
    """The items (anything with a ``run_id``) named by id: a directory name, or a unique prefix of one."""
    chosen: list = []
    for wanted in run_ids:
        exact = [r for r in records if r.run_id == wanted]
        hits = exact or [r for r in records if r.run_id.startswith(wanted)]
        if not hits:
            raise UsageError(among.format(id=wanted), hint)
        if len(hits) > 1:
            raise UsageError(f"run id prefix {wanted!r} matches {len(hits)} runs",
                             "give more characters: " + ", ".join(r.run_id for r in hits[:4]))
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def latest_per_seed(records: Iterable[RunRecord], group_by: Sequence[str] | None = None) -> list[RunRecord]:
    """The latest run (by run id, i.e. start time) per seed of each group of comparable runs."""
    latest: dict[tuple, RunRecord] = {}
    for record in sorted(records, key=lambda r: r.run_id):
        latest[(group_key(record, group_by), record.seed)] = record
    return sorted(latest.values(), key=lambda r: (r.dataset, r.method, r.seed, r.run_id))


#: Run attributes ``--where`` and ``--group-by`` accept besides the config keys.
_RECORD_KEYS = ("method", "dataset", "protocol", "seed", "tags")


def resolve_setting_key(name: str, records: Sequence[RunRecord]) -> str:
    """A ``--where``/``--group-by`` key as stored (``lr`` -> ``train.lr`` when that is the only match)."""
    known = sorted(set().union(*[flatten_config(r.config) for r in records]) | set(_RECORD_KEYS)) if records else []
    if name in known or not records:
        return name
    matches = [k for k in known if k.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    hint = ("it matches " + ", ".join(matches)) if matches else "settings of these runs: " + ", ".join(known[:40])
    raise UsageError(f"no run setting {name!r}", hint)


def _where_items(items: Sequence[str], records: Sequence[RunRecord]) -> list[tuple[str, object]]:
    from zslbench.config import parse_set

    out = []
    for item in items:
        if "=" not in item:
            raise UsageError(f"--where expects KEY=VALUE, got {item!r}", "e.g. --where train.lr=1e-4")
        name, raw = item.split("=", 1)
        key = resolve_setting_key(name.strip(), records)
        ((_, value),) = flatten_config(parse_set([f"v={raw.strip()}"])).items()
        out.append((key, value))
    return out


def _matches(record: RunRecord, key: str, wanted: object) -> bool:
    value = record.tags if key == "tags" else flatten_config(record.config).get(key)
    if key == "tags":
        return str(wanted) in value
    if isinstance(value, (int, float)) and isinstance(wanted, (int, float)) and not isinstance(value, bool):
        return float(value) == float(wanted)
    return value == wanted or (value is None and wanted == "none")


def filter_where(records: Sequence[RunRecord], items: Sequence[str]) -> list[RunRecord]:
    """The runs whose settings match every ``KEY=VALUE`` (TOML values, as ``--set``; ``tags=X``: carries tag X)."""
    conditions = _where_items(items, records)
    return [r for r in records if all(_matches(r, key, value) for key, value in conditions)]


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
                run_ids: Sequence[str] = (), tags: Sequence[str] = (), where: Sequence[str] = (),
                group_by: Sequence[str] = (), latest: bool = True) -> Selection:
    """Complete runs of ``methods`` on ``datasets`` (None: all) under ``root``.

    Default: the latest complete run per seed of each group of comparable runs
    (``latest=False``: every run). ``tags``: only runs carrying every one of
    them. ``where``: only runs whose settings match every ``KEY=VALUE``.
    ``group_by``: split rows by these settings only (default: by every
    setting). ``run_ids``: exactly those runs (a directory name or a unique
    prefix; an unknown id is a usage error). Incomplete runs and unreadable
    directories of the selected methods and datasets are returned in
    ``skipped``, never raised.
    """
    usable, skipped = usable_runs(root, methods, datasets)
    if tags:
        usable = [r for r in usable if set(tags) <= set(r.tags)]
    if where:
        usable = filter_where(usable, where)
    keys = [resolve_setting_key(k, usable) for k in group_by] or None
    if run_ids:
        chosen = match_run_ids(usable, run_ids)
    else:
        chosen = latest_per_seed(usable, keys) if latest else usable
    return Selection(sorted(chosen, key=lambda r: (r.dataset, r.method, r.seed, r.run_id)), skipped, keys)


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
