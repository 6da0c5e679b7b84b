"""``zslbench compare``: methods side by side from the run store.

One table per dataset, one row per group of comparable runs (a method's runs
of one protocol and one set of settings; see ``results.group_runs``): T1, U,
S, H and AUSUC (percent, mean ± std over seeds, n runs), CS-* for runs of the validated protocol,
oracle-* only with ``--oracle``; the paper's published numbers beneath a
method where its plugin declares them, and each method's difference to the
first one named (marked ``≈`` when within one standard deviation). With
``--run-missing`` the runs that are missing are trained first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from zslbench import results
from zslbench.config import RunConfig
from zslbench.results import MethodResult, NoRunsError, ResultTable, Selection
from zslbench.results.settings import flag_non_default_settings


@dataclass
class Comparison:
    """What ``compare`` shows: the tables, the runs behind them and the run directories passed over."""

    tables: list[ResultTable]
    selection: Selection
    groups: list[MethodResult]  # the rows of the tables (and the series of report's figures)
    methods: list[str]
    datasets: list[str]
    empty_datasets: list[str]
    warnings: list[str] = field(default_factory=list)  # lines for stderr: run directories passed over, empty datasets

    def rows(self, percent: bool = False) -> list[dict]:
        """The tables' rows as plain dicts (see :func:`group_row`)."""
        return [group_row(group, percent) for group in self.groups]

    def render(self, fmt: str = "table") -> str:
        """The tables as ``compare --format fmt`` prints them (terminal table, markdown, csv, json, latex)."""
        return results.render(self.tables, fmt, self.selection.skipped)


def group_row(group: MethodResult, percent: bool = False) -> dict:
    """One row of comparable runs as a dict: ``label``, ``method``, ``dataset``, ``protocols``, ``settings``,
    ``n``, ``seeds``, ``run_ids`` and ``metrics`` ``{key: {"mean", "std", "n"}}`` in fractions (or percent)."""
    scale = 100.0 if percent else 1.0
    return {"label": group.label, "method": group.method, "dataset": group.dataset, "protocols": group.protocols,
            "settings": dict(group.settings or {}), "n": group.n, "seeds": group.seeds,
            "run_ids": [r.run_id for r in group.runs],
            "metrics": {k: {"mean": v.mean * scale, "std": v.std * scale, "n": v.n} for k, v in group.metrics.items()}}


def run_queue(jobs: Sequence[tuple[str, str, dict]], set_items: Sequence[str] = (),
              description: str = "missing runs", parallel: int = 1) -> list[Path]:
    """Train and evaluate each ``(method, dataset, overrides)`` with ``zslbench run``'s defaults.

    The sweep engine does it (:func:`zslbench.sweep.queue.run_queue`): in this
    process, or ``parallel`` runs at a time; one progress bar (stderr) tracks
    the queue and a failed run stops none of the others. Returns the run
    directories, in order.
    """
    from zslbench.sweep.queue import run_queue as sweep_queue

    return sweep_queue(jobs, set_items, description, jobs=parallel, log_name=description.replace(" ", "-"))


def _no_runs_error(methods: Sequence[str], datasets: Sequence[str], root: Path, explicit_root: Path | None,
                   filtered: bool) -> NoRunsError:
    shown = list(datasets) or [RunConfig.dataset]
    what = ", ".join(methods) if methods else "any method"
    commands = [results.run_command(m, d, explicit_root) for d in shown for m in (methods or ["<method>"])]
    where = f"{', '.join(datasets)} in {root}" if datasets else str(root)
    if filtered:
        return NoRunsError(f"no complete run of {what} matches the given --run-id/--tag/--where on {where}",
                           "drop --run-id/--tag/--where, or run it first: " + "; ".join(f"`{c}`" for c in commands))
    return NoRunsError(f"no complete run of {what} on {where}",
                       "run it first: " + "; ".join(f"`{c}`" for c in commands) + " (or add --run-missing)")


def build_comparison(root: Path, methods: Sequence[str] = (), datasets: Sequence[str] = (),
                     run_ids: Sequence[str] = (), tags: Sequence[str] = (), oracle: bool = False,
                     metrics: Sequence[str] = (), explicit_root: Path | None = None,
                     published: bool = False, where: Sequence[str] = (), group_by: Sequence[str] = (),
                     latest: bool = True) -> Comparison:
    """Select runs and build the comparison tables; :class:`NoRunsError` when nothing matches.

    ``methods``/``datasets`` may be empty (every stored one). Names are
    resolved against the registries (aliases, unknown-name errors listing the
    registered ones); a method whose plugin is gone still shows from its runs.
    ``where``/``group_by``/``latest``: see :func:`~zslbench.results.select_runs`.
    """
    method_names, dataset_names = results.resolve_names(root, methods, datasets)
    selection = results.select_runs(root, method_names or None, dataset_names or None, run_ids, tags, where,
                                    group_by, latest)
    if not selection.runs:
        raise _no_runs_error(method_names, dataset_names, root, explicit_root, bool(run_ids or tags or where))
    shown_methods = method_names or selection.methods()
    shown_datasets = dataset_names or selection.datasets()
    empty = [d for d in shown_datasets if d not in selection.datasets()]
    groups = selection.groups()
    requested = results.check_requested_metrics(metrics, groups) if metrics else []
    tables = results.comparison_tables(groups, shown_methods, [d for d in shown_datasets if d not in empty],
                                       oracle=oracle, metrics=requested, root=explicit_root, published=published)
    flag_non_default_settings(tables, groups)
    return Comparison(tables, selection, groups, shown_methods, shown_datasets, empty)


def missing_pairs(root: Path, methods: Sequence[str], datasets: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    """(method, dataset) pairs without a complete run (carrying ``tags``)."""
    selection = results.select_runs(root, methods, datasets, tags=tags)
    have = {(r.method, r.dataset) for r in selection.runs}
    return [(m, d) for d in datasets for m in methods if (m, d) not in have]


def compare_runs(root: Path, methods: Sequence[str] = (), datasets: Sequence[str] = (),
                 run_ids: Sequence[str] = (), tags: Sequence[str] = (), oracle: bool = False,
                 metrics: Sequence[str] = (), explicit_root: Path | None = None, published: bool = False,
                 where: Sequence[str] = (), group_by: Sequence[str] = (), latest: bool = True,
                 run_missing: bool = False, set_items: Sequence[str] = (), jobs: int = 1) -> Comparison:
    """``zslbench compare`` as data: with ``run_missing`` first train every method x dataset without a complete
    run (``set_items``: their ``--set`` overrides; ``jobs``: runs at a time), then :func:`build_comparison`."""
    from zslbench.errors import UsageError

    if run_missing:
        if run_ids:
            raise UsageError("--run-missing cannot be combined with --run-id", "select by --tag instead")
        if not methods:
            raise UsageError("--run-missing needs the methods to run", "e.g. zslbench compare svip baseline --run-missing")
        method_names, dataset_names = results.resolve_names(root, methods, datasets)
        dataset_names = dataset_names or results.select_runs(root, method_names).datasets() or [RunConfig.dataset]
        todo = missing_pairs(root, method_names, dataset_names, tags)
        overrides = {"out": str(root), **({"tags": list(tags)} if tags else {})}
        if todo:
            run_queue([(m, d, dict(overrides)) for m, d in todo], set_items, parallel=jobs)
        datasets = tuple(dataset_names)
    elif set_items:
        raise UsageError("--set only applies to runs started by --run-missing")
    comparison = build_comparison(root, methods, datasets, run_ids, tags, oracle, metrics, explicit_root, published,
                                  where, group_by, latest)
    results.warn_skipped(comparison.selection.skipped, comparison.warnings.append)
    for dataset in comparison.empty_datasets:
        commands = "; ".join(f"`{results.run_command(m, dataset, explicit_root)}`" for m in comparison.methods)
        comparison.warnings.append(f"warning: no complete runs on {dataset} (run: {commands})")
    return comparison
