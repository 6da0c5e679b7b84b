"""The ``zslbench`` command line.

Every user error becomes one line on stderr (``Error: ...``, with a hint) and a
non-zero exit: 2 for usage errors (bad option, unknown name, bad config), 1
for failures (missing data, failed run). Internal bugs keep their traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from zslbench import api
from zslbench.errors import DataError, ZSLBenchError


class CLIError(click.ClickException):
    """A ClickException carrying the exit code of the ZSLBenchError it wraps."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class ZSLBenchGroup(click.Group):
    """Turns :class:`ZSLBenchError` raised by any command into a one-line error.

    Ctrl-C and SIGTERM (raised as :class:`zslbench.signals.Terminated`) end any
    command with one line and exit 130 / 143, at start-up as much as mid-run.
    Commands registered with :meth:`add_lazy_command` are imported only when
    used, so ``zslbench run`` can print its first line before torch loads.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, tuple[str, str]] = {}

    def add_lazy_command(self, name: str, module: str, attr: str) -> None:
        self._lazy[name] = (module, attr)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, name: str):
        if name in self._lazy and name not in self.commands:
            import importlib

            module, attr = self._lazy[name]
            try:
                self.add_command(getattr(importlib.import_module(module), attr), name)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                return None
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        from zslbench import signals

        try:
            with signals.sigterm_as_interrupt():
                return super().invoke(ctx)
        except ZSLBenchError as exc:
            raise CLIError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise CLIError("interrupted", signals.exit_code_for(exc)) from None


class RootGroup(ZSLBenchGroup):
    """``zslbench`` itself: the core's commands, then those plugins register (``register_commands`` hook).

    Plugins are loaded only to list commands (``--help``) or to find a name the
    core does not have, so the core's commands start as fast as before.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_commands()})

    def get_command(self, ctx: click.Context, name: str):
        return super().get_command(ctx, name) or _plugin_commands().get(name)


def _plugin_commands() -> dict[str, click.Command]:
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    return {entry.name: entry.spec for entry in registry.commands}


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings on the command line are one line each (no source excerpt)."""
    return f"Warning: {message}\n"


def _print_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from zslbench.plugins import version_report

        click.echo(version_report())
        ctx.exit()


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_versions,
              help="Show the versions of zslbench and of its installed plugins, and exit.")
def main() -> None:
    """zslbench: a pluggable zero-shot learning benchmark toolkit."""
    import warnings

    warnings.formatwarning = _one_line_warning


# --------------------------------------------------------------------------- run


@main.command()
@click.argument("method", required=False)
@click.option("--dataset", "-d", help="Dataset name (default: synthetic).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="Override any config key, e.g. --set train.lr=1e-4 --set method.m=40.")
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--protocol", type=click.Choice(["standard", "gbu", "published"]),
              help="standard, the validated GBU protocol, or 'published' (also the as-published numbers, "
                   "chosen on test data).")
@click.option("--epochs", type=int, help="Shortcut for --set train.epochs=N.")
@click.option("--device", help="auto, cpu or cuda.")
@click.option("--backbone", help="Backbone name (default: the method's choice for the dataset).")
@click.option("--pretrained", help="none, timm, or a checkpoint path (.safetensors/.pth).")
@click.option("--data-root", help="Dataset root (default $ZSLBENCH_DATA/<dataset>).")
@click.option("--skip-bad-images", is_flag=True, default=None, help="Skip unreadable images and record how many.")
@click.option("--out", help="Run store root (default $ZSLBENCH_RUNS or ./runs).")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable); compare can select by tag.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue an interrupted run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--nproc", type=click.IntRange(min=1), help="Shortcut for `torchrun --standalone --nproc-per-node N`.")
@click.option("--logger", "loggers", multiple=True, type=click.Choice(["tensorboard", "wandb"]),
              help="Also log to an experiment tracker (repeatable; W&B offline unless WANDB_MODE says otherwise).")
def run(method, dataset, config_file, set_items, seed, protocol, epochs, device, backbone, pretrained, data_root,
        skip_bad_images, out, tags, resume_dir, quiet, nproc, loggers) -> None:
    """Train and evaluate METHOD on a dataset; store the run."""
    if nproc and nproc > 1:
        _exec_torchrun(nproc)
    if not quiet and _is_main_process():
        from zslbench.progress import starting_line

        click.echo(starting_line(method, dataset, resume_dir), err=True)  # before torch is imported
    outcome = api.run(method, dataset, config=config_file, set=set_items, resume=resume_dir, progress=not quiet,
                      seed=seed, protocol=protocol, epochs=epochs, device=device, backbone=backbone,
                      pretrained=pretrained, data_root=data_root, skip_bad_images=skip_bad_images, out=out, tags=tags,
                      loggers=loggers)
    from zslbench.training import distributed

    if distributed.is_main():
        _print_summary(outcome)
    distributed.shutdown()


def _exec_torchrun(nproc: int) -> None:
    """Replace this process by torchrun running the same command in ``nproc`` processes."""
    import os
    import shutil

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    if not Path(torchrun).exists():
        raise CLIError("--nproc needs torchrun (part of PyTorch), which was not found", 1)
    args = sys.argv[1:]
    for i, arg in enumerate(args):  # drop --nproc N / --nproc=N; torchrun sets WORLD_SIZE instead
        if arg == "--nproc":
            del args[i:i + 2]
            break
        if arg.startswith("--nproc="):
            del args[i]
            break
    os.execv(torchrun, [torchrun, "--standalone", "--nproc-per-node", str(nproc), "-m", "zslbench", *args])


def _is_main_process() -> bool:
    """Rank 0 (or no torchrun), read from the environment without importing torch."""
    import os

    return os.environ.get("RANK", "0") == "0"


def _print_summary(outcome: api.Run) -> None:
    from rich.console import Console
    from rich.table import Table

    from zslbench.metric_names import metric_label
    from zslbench.tasks import get_task

    test = outcome.test
    table = Table(title=f"{outcome.config.method} on {outcome.config.dataset} (seed {outcome.config.seed}, "
                        f"protocol {outcome.config.protocol})")
    keys = get_task(outcome.metrics.get("task", "single-label")).summary_columns(test)
    for k in keys:
        table.add_column(metric_label(k), justify="right")
    table.add_row(*[f"{100 * test[k]:.1f}" for k in keys])
    console = Console(file=sys.stdout)
    console.print(table)
    if test.get("oracle_h") is not None:
        console.print(f"oracle (gamma swept on test, not a headline number): H {100 * test['oracle_h']:.1f}")
    if "patch_selection" in outcome.metrics:
        ps = outcome.metrics["patch_selection"]
        console.print(f"patch selection vs object masks: precision {ps['precision']:.3f}, recall {ps['recall']:.3f}")
    click.echo(f"run stored in {outcome.dir}")


# --------------------------------------------------------------------------- list

LIST_KINDS = (*api.REGISTRY_KINDS, "plugins")


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(LIST_KINDS))
def list_command(kind: str | None) -> None:
    """Show registered methods, datasets, backbones, text encoders and plugins."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from zslbench.plugins import load_plugins

    infos = load_plugins()
    console = Console(file=sys.stdout, width=160)
    for k in ([kind] if kind else list(LIST_KINDS)):
        table = Table(title=k)
        if k == "plugins":
            for col in ("plugin", "distribution", "version", "status"):
                table.add_column(col)
            for p in infos:
                table.add_row(p.name, p.distribution or "-", p.version or "-", "ok" if p.error is None else f"failed: {p.error}")
        elif k == "methods":
            for col in ("name", "task", "kind", "description", "from"):
                table.add_column(col)
            for entry in api.registered(k):
                table.add_row(entry.name, ", ".join(entry.tasks), entry.method_kind or "image",
                              escape(_described(entry)), entry.origin)
        else:
            for col in ("name", "description", "from"):
                table.add_column(col)
            for entry in api.registered(k):
                table.add_row(entry.name, escape(_described(entry)), entry.origin)
        console.print(table)


def _described(entry: "api.Registered") -> str:
    """The description with what else is known of the entry in brackets (aliases, variant, task, semantics)."""
    extra = []
    if entry.aliases:
        extra.append("aliases: " + ", ".join(entry.aliases))
    if entry.variant_of:
        extra.append(f"variant of {entry.variant_of}")
    if entry.kind == "datasets":
        extra.extend(entry.tasks)
        if not entry.semantic:
            extra.append("no semantics")
    return entry.description + (f" [{'; '.join(extra)}]" if extra else "")


# --------------------------------------------------------------------------- data


@main.group(cls=ZSLBenchGroup)
def data() -> None:
    """Inspect and download datasets."""


@data.command("check")
@click.argument("name")
@click.option("--root", help="Dataset root (default $ZSLBENCH_DATA/<name>).")
@click.option("--fast", is_flag=True,
              help="Look at each image file's first and last bytes instead of decoding it (what a run checks).")
def data_check(name: str, root: str | None, fast: bool) -> None:
    """Validate a dataset copy; exit 1 when no method (feature or image) can use it or a file is damaged."""
    from zslbench import registry
    from zslbench.config import DataConfig
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    spec = registry.datasets.get(name)
    if spec.check is None:
        dataset = spec.load(DataConfig(root=root))
        try:
            dataset.validate()
        except ValueError as exc:
            raise DataError(str(exc), "the dataset's loader produced inconsistent splits") from None
        click.echo(f"{spec.name}: ok (embedded, no download needed)")
        for key, value in dataset.counts().items():
            click.echo(f"  {key}: {value}")
        return
    from zslbench.paths import data_root

    import inspect

    fast_option = {"decode_images": False} if fast and "decode_images" in inspect.signature(spec.check).parameters else {}
    report = spec.check(data_root(spec.name, root), **fast_option)
    click.echo(report.render())
    if not report.ok:
        problems = [*report.missing, *getattr(report, "damaged", [])]
        more = f" (and {len(problems) - 1} more problems listed above)" if len(problems) > 1 else ""
        raise DataError(f"{spec.name} is not usable: {problems[0].splitlines()[0] if problems else 'see above'}{more}",
                        "fix what the report lists, then run `zslbench data check` again")


class _DownloadCommand(click.Command):
    """``data download``, whose help ends with every dataset's archives (read from the registry when shown)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from zslbench import registry
        from zslbench.data.dataset_download import help_lines
        from zslbench.plugins import ensure_loaded

        ensure_loaded()
        formatter.write_paragraph()
        formatter.write_text("What each dataset fetches (<root> is --root, else $ZSLBENCH_DATA/<name>):")
        formatter.write_paragraph()
        for line in help_lines([entry.spec for entry in registry.datasets]):
            formatter.write(f"{'':>{formatter.current_indent + 2}}{line}\n")


@data.command("download", cls=_DownloadCommand)
@click.argument("name")
@click.option("--root", help="Dataset root (default $ZSLBENCH_DATA/<name>).")
@click.option("--what", default="all", show_default=True, type=click.Choice(["splits", "features", "images", "all"]),
              help="Which part to fetch: the split files, the published features, the images, or all.")
@click.option("--mirror", "mirrors", multiple=True, metavar="URL",
              help="Base URL holding the archives under their file names; tried in order before the usual "
                   "addresses (repeatable).")
@click.option("--keep-archives", is_flag=True, help="Keep the downloaded archives after unpacking.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def data_download(name: str, root: str | None, what: str, mirrors: tuple[str, ...], keep_archives: bool,
                  quiet: bool) -> None:
    """Fetch, verify (sha256) and unpack dataset NAME into its root, then run `zslbench data check NAME`.

    Downloads resume where they stopped, retry transient errors and honour
    HTTPS_PROXY / HTTP_PROXY. Archives that must be fetched by hand are named
    with the exact place to put them.
    """
    from zslbench import registry
    from zslbench.data.dataset_download import by_hand_lines, download_dataset
    from zslbench.paths import data_root
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    spec = registry.datasets.get(name)
    root_path = data_root(spec.name, root)
    outcome = download_dataset(spec.name, spec.archives, root_path, what, mirrors, keep_archives=keep_archives,
                               progress=not quiet, echo=lambda line: click.echo(line, err=True))
    for line in by_hand_lines(outcome.by_hand, root_path):
        click.echo(line)
    if spec.check is not None:
        report = spec.check(root_path)
        click.echo(report.render())
        if not report.ok:
            sys.exit(1)


@data.command("show")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--root", help="Dataset root.")
@click.option("--per-class", default=1, show_default=True, help="Examples per class.")
@click.option("--max-classes", default=24, show_default=True)
@click.option("--masks", is_flag=True, help="Outline the object masks (synthetic data).")
def data_show(name: str, out: str, root: str | None, per_class: int, max_classes: int, masks: bool) -> None:
    """Write a grid of example images with their class names."""
    from zslbench import registry
    from zslbench.config import DataConfig
    from zslbench.data.show import save_example_grid
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    dataset = registry.datasets.get(name).load(DataConfig(root=root))
    path = save_example_grid(dataset, out, per_class=per_class, max_classes=max_classes, show_masks=masks)
    click.echo(f"wrote {path}")


def _mount_optional_commands() -> None:
    """Commands that live in their own modules (one job each), imported when used."""
    for name, module, attr in (("cache", "zslbench.features.cli", "cache"),
                               ("compare", "zslbench.cli_results", "compare_command"),
                               ("ablate", "zslbench.cli_results", "ablate_command"),
                               ("report", "zslbench.cli_results", "report_command"),
                               ("runs", "zslbench.cli_results", "runs_group"),
                               ("explain", "zslbench.cli_results", "explain_command"),
                               ("pretrain", "zslbench.training.pretrain_cli", "pretrain_command"),
                               ("sweep", "zslbench.sweep.cli", "sweep_command"),
                               ("score", "zslbench.scoring.cli", "score_command")):
        main.add_lazy_command(name, module, attr)


_mount_optional_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
