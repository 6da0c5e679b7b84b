"""The result commands (``compare``, ``ablate``, ``report``, ``runs``, ``explain``): options in, printed data out.

Thin click wrappers over the functions of :mod:`zslbench.results` that return
data (the Python front door, :func:`zslbench.compare` and friends, calls the
same functions): ``results/`` itself never imports click. :mod:`zslbench.cli`
mounts these commands lazily, so ``zslbench --help`` imports none of this.
"""

from __future__ import annotations

from pathlib import Path

import click

from zslbench.errors import UsageError
from zslbench.results.rendering import FORMATS

_RUNS_HELP = "Run store root (default $ZSLBENCH_RUNS or ./runs)."


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def _roots(runs_root: str | None) -> tuple[Path, Path | None]:
    """(the run store root, the root as the user named it: run commands shown in hints repeat it)."""
    from zslbench.paths import runs_dir

    return runs_dir(runs_root), Path(runs_root) if runs_root else None


def selection_options(command):
    """``--where``, ``--group-by`` and ``--latest/--all-runs``: how compare and report choose and split runs."""
    command = click.option("--latest/--all-runs", default=True, show_default=True,
                           help="Latest run per seed within each row, or every run.")(command)
    command = click.option("--group-by", "group_by", multiple=True, metavar="KEY",
                           help="Split rows by these settings only (default: by every setting), e.g. train.lr.")(command)
    return click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
                        help="Only runs with this setting (repeat: all), e.g. --where train.lr=1e-4.")(command)


@click.command("compare")
@click.argument("methods", nargs=-1)
@click.option("--dataset", "-d", "datasets", multiple=True, help="Dataset(s) to compare on (default: all with runs).")
@click.option("--runs", "runs_root", type=click.Path(file_okay=False), help=_RUNS_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
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
    from zslbench.results.compare import compare_runs

    root, explicit_root = _roots(runs_root)
    comparison = compare_runs(root, methods, datasets, run_ids, tags, oracle, metrics, explicit_root, published,
                              where, group_by, latest, run_missing, set_items, jobs)
    for line in comparison.warnings:
        _stderr(line)
    click.echo(comparison.render(fmt), nl=False)


@click.command("ablate")
@click.argument("method")
@click.option("--dataset", "-d", "datasets", multiple=True, required=True, help="Dataset(s): one column group each.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option("--runs", "runs_root", type=click.Path(file_okay=False), help=_RUNS_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--no-run", is_flag=True, help="Only read stored runs; never train.")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="Config overrides for every run, e.g. --set train.epochs=1.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at a time (more than 1: one `zslbench run` subprocess each, one GPU or CPU share each).")
def ablate_command(method: str, datasets: tuple[str, ...], seeds: str, runs_root: str | None, fmt: str,
                   no_run: bool, set_items: tuple[str, ...], jobs: int) -> None:
    """Run (or reuse) METHOD, its registered variants and its baseline; print the ablation table."""
    from zslbench.results.ablate import parse_seeds, run_ablation

    root, explicit_root = _roots(runs_root)
    ablation = run_ablation(method, datasets, parse_seeds(seeds), root, set_items, run=not no_run, jobs=jobs,
                            explicit_root=explicit_root, echo=_stderr)
    for line in ablation.warnings:
        _stderr(line)
    click.echo(ablation.render(fmt), nl=False)


@click.command("report")
@click.argument("methods", nargs=-1)
@click.option("--dataset", "-d", "datasets", multiple=True, help="Dataset(s) (default: all with runs).")
@click.option("--runs", "runs_root", type=click.Path(file_okay=False), help=_RUNS_HELP)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for README.md and pictures.")
@click.option("--run-id", "run_ids", multiple=True, help="Use exactly these runs.")
@click.option("--tag", "tags", multiple=True, help="Only runs carrying this tag (repeat: all of them).")
@click.option("--oracle", is_flag=True, help="Also show oracle U/S/H (gamma tuned on test: analysis only).")
@selection_options
def report_command(methods: tuple[str, ...], datasets: tuple[str, ...], runs_root: str | None, out_dir: str,
                   run_ids: tuple[str, ...], tags: tuple[str, ...], oracle: bool, where: tuple[str, ...],
                   group_by: tuple[str, ...], latest: bool) -> None:
    """Write a Markdown report (tables, pictures, environments, reproduce commands) of METHODS' runs."""
    from zslbench import results
    from zslbench.results.report import write_report

    root, explicit_root = _roots(runs_root)
    outcome = write_report(root, Path(out_dir), methods, datasets, run_ids, tags, oracle, explicit_root, where,
                           group_by, latest)
    results.warn_skipped(outcome.skipped, _stderr)
    click.echo(f"wrote {outcome.path} ({len(outcome.runs)} runs, {len(outcome.pictures)} pictures)")


@click.command("explain")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--index", type=int, help="Image index of the run's dataset (default: its first unseen test image).")
@click.option("--image", "image_path", type=click.Path(dir_okay=False), help="An image file instead.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Figure to write (.png, .pdf or .svg).")
@click.option("--top", "top_k", default=6, show_default=True, help="Attribute maps to show (highest first).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto.")
def explain_command(run_dir: str, index: int | None, image_path: str | None, out: str, top_k: int, device: str) -> None:
    """Draw the kept patches and/or attribute maps of RUN_DIR's model on one (test) image."""
    from zslbench.results.explain import explain, load_trained_model, prepare_image

    if index is not None and image_path is not None:
        raise UsageError("pass at most one of --index N and --image PATH")
    if top_k < 1:
        raise UsageError(f"--top must be at least 1, got {top_k}")
    loaded = load_trained_model(run_dir, device)
    image = prepare_image(loaded, index=index, image_path=image_path)
    data = explain(loaded, image, out, top_k=top_k)
    click.echo(f"wrote {data['path']}")


def _selector_options(command):
    from zslbench.results.runs import UNREADABLE

    for option in reversed((
        click.option("--runs", "runs_root", type=click.Path(file_okay=False), help=_RUNS_HELP),
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
    from zslbench.results.runs import choose_runs, run_line, stored_runs

    root, _ = _roots(runs_root)
    chosen = choose_runs(stored_runs(root, methods, datasets), run_ids, tags, states, failed)
    for run in chosen:
        click.echo(run_line(run))
    _stderr(f"{len(chosen)} runs in {root}")


@runs_group.command("rm")
@click.argument("run_ids", nargs=-1)
@_selector_options
@click.option("--dry-run", "-n", is_flag=True, help="Only list what would be removed.")
def runs_rm(run_ids: tuple[str, ...], runs_root: str | None, methods: tuple[str, ...], datasets: tuple[str, ...],
            tags: tuple[str, ...], states: tuple[str, ...], failed: bool, dry_run: bool) -> None:
    """Remove stored runs chosen by RUN_IDS, --tag, --state or --failed (at least one of them)."""
    from zslbench.results.runs import choose_runs, remove_runs, run_line, stored_runs

    if not (run_ids or tags or states or failed):
        raise UsageError("runs rm needs RUN_IDS, --tag, --state or --failed",
                         "e.g. `zslbench runs rm --failed --dry-run`; `zslbench runs ls` lists the runs")
    root, _ = _roots(runs_root)
    chosen = choose_runs(stored_runs(root, methods, datasets), run_ids, tags, states, failed)
    if dry_run:
        for run in chosen:
            click.echo(f"would remove {run.path}  ({run_line(run)})")
        _stderr(f"{len(chosen)} runs would be removed (dry run: nothing removed)")
        return
    removed, kept = remove_runs(root, chosen)
    for run in removed:
        click.echo(f"removed {run.path}")
    for run, why in kept:
        _stderr(f"warning: kept {run.path}: {why}")
    _stderr(f"{len(removed)} runs removed")
