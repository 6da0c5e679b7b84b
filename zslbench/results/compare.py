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

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import click

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


def selection_options(command):
    """``--where``, ``--group-by`` and ``--latest/--all-runs``: how compare and report choose and split runs."""
    command = click.option("--latest/--all-runs", default=True, show_default=True,
                           help="Latest run per seed within each row, or every run.")(command)
    command = click.option("--group-by", "group_by", multiple=True, metavar="KEY",
                           help="Split rows by these settings only (default: by every setting), e.g. train.lr.")(command)
    return click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
                        help="Only runs with this setting (repeat: all), e.g. --where train.lr=1e-4.")(command)


def missing_pairs(root: Path, methods: Sequence[str], datasets: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    """(method, dataset) pairs without a complete run (carrying ``tags``)."""
    selection = results.select_runs(root, methods, datasets, tags=tags)
    have = {(r.method, r.dataset) for r in selection.runs}
    return [(m, d) for d in datasets for m in methods if (m, d) not in have]


@click.command("compare")
@click.argument("methods", nargs=-1)
@click.option("--dataset", "-d", "datasets", multiple=True, help="Dataset(s) to compare on (default: all with runs).")
@click.option("--runs", "runs_root", type=click.Path(file_okay=False), help="Run store root (default $ZSLBENCH_RUNS or ./runs).")
@click.option("--format", "fmt", type=click.Choice(results.FORMATS), default="table", show_default=True)
@click.option("--metric", "metrics", multiple=True, help="Only these metrics (e.g. --metric h --metric cs_h).")
@click.option("--oracle", is_flag=True, help="Also show oracle U/S/H (gamma tuned on test: analysis only).")
@click.option("--published", is_flag=True,
              help="T1 / H beside the as-published numbers of --protocol published runs (chosen on test data).")
@click.option("--run-missing", is_flag=True, help="First run every method x dataset that has no complete run.")
@click.option("--run-id", "run_ids", multiple=True, help="Use exactly these runs (directory names or unique prefixes).")
@click.option("--tag", "tags", multiple=True, help="Only runs carrying this tag (repeat: all of them).")
@selection_options
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE", help="Config overrides for --run-missing runs.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="--run-missing: runs at a time (more than 1: one `zslbench run` subprocess each).")
def compare_command(methods: tuple[str, ...], datasets: tuple[str, ...], runs_root: str | None, fmt: str,
                    metrics: tuple[str, ...], oracle: bool, published: bool, run_missing: bool, run_ids: tuple[str, ...],
                    tags: tuple[str, ...], where: tuple[str, ...], group_by: tuple[str, ...], latest: bool,
                    set_items: tuple[str, ...], jobs: int) -> None:
    """Compare METHODS (default: all stored) from their stored runs."""
    from zslbench.errors import UsageError
    from zslbench.paths import runs_dir

    root = runs_dir(runs_root)
    explicit_root = Path(runs_root) if runs_root else None
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
    results.warn_skipped(comparison.selection.skipped, lambda line: click.echo(line, err=True))
    for dataset in comparison.empty_datasets:
        commands = "; ".join(f"`{results.run_command(m, dataset, explicit_root)}`" for m in comparison.methods)
        click.echo(f"warning: no complete runs on {dataset} (run: {commands})", err=True)
    click.echo(results.render(comparison.tables, fmt, comparison.selection.skipped), nl=False)
