"""``zslbench report``: a self-contained Markdown report of stored runs.

Writes ``README.md`` into the output folder (it renders on GitHub) with, per
dataset, the comparison table and pictures (seen-unseen curves, per-class
accuracy of the unseen classes) as relative PNG links; then every run used,
with its environment and configuration in collapsed ``<details>`` blocks, and
the ``zslbench run`` commands that reproduce them (derived from the stored
configs: every value that differs from what ``zslbench run`` would choose by
itself becomes a ``--set``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zslbench.version import __version__
from zslbench import registry
from zslbench.results import plots, selection_plots
from zslbench import results
from zslbench.data.dataset import SINGLE_LABEL
from zslbench.config import toml_literal  # noqa: F401  (reproduce commands; also imported from here)
from zslbench.errors import DataError
from zslbench.results import MethodResult
from zslbench.results.settings import non_default_settings, non_default_values  # noqa: F401 (also imported from here)
from zslbench.store import RunRecord

README = "README.md"


# --------------------------------------------------------------------------- reproduce commands


def reproduce_command(config: dict) -> str:
    """The ``zslbench run`` command of a stored config (``--set`` for every non-default value); a scored run's own command."""
    if config.get("kind") == "scored":
        return str(config.get("command"))
    method, dataset = str(config.get("method")), str(config.get("dataset"))
    seed = int(config.get("seed", 0))
    parts = ["zslbench", "run", method, "--dataset", dataset, "--seed", str(seed)]
    if config.get("protocol", "standard") != "standard":
        parts += ["--protocol", str(config["protocol"])]
    for tag in config.get("tags", []) or []:
        parts += ["--tag", str(tag)]
    for key, value in non_default_values(config):
        parts += ["--set", f"{key}={toml_literal(value)}"]
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------------- report


@dataclass
class ReportOutcome:
    """Where the report went, the pictures it links and the runs it used."""

    path: Path
    pictures: list[Path] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)  # picture file name -> what the plot function drew


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "dataset"


def class_names_of(dataset: str, record: RunRecord) -> list[str] | None:
    """Class names of a dataset, loaded with the run's data config; None when it cannot be loaded here."""
    from zslbench.config import DataConfig, build_dataclass

    try:
        data_cfg = build_dataclass(DataConfig, record.config.get("data", {}) or {}, prefix="data.")
        return list(registry.datasets.get(dataset).load(data_cfg).class_names)
    except Exception:  # best effort: the data may live on another machine; ids are shown instead
        return None


def _rows_of(dataset: str, methods: Sequence[str], groups: Sequence[MethodResult]) -> list[MethodResult]:
    """The groups of one dataset in table order: the same rows, in the same order, as its comparison table."""
    return [g for m in methods for g in groups if g.method == m and g.dataset == dataset]


def _pictures(dataset: str, methods: Sequence[str], aggregates: Sequence[MethodResult],
              out_dir: Path, outcome: ReportOutcome) -> list[str]:
    """Curve and per-class PNGs of one dataset, a series per table row; Markdown lines linking them."""
    present = _rows_of(dataset, methods, aggregates)
    if any(r.task != SINGLE_LABEL for r in present):
        return _multi_label_pictures(dataset, present, out_dir, outcome)
    if not present:
        return []
    lines: list[str] = []
    series, without = [], []
    for result in present:
        for record in result.runs:
            try:
                series.append(plots.curve_series(record, result.label))
            except DataError:
                without.append(record.run_id)
    if series:
        path = out_dir / f"{_slug(dataset)}-curves.png"
        drawn = plots.plot_seen_unseen_curves(series, path, title=f"seen-unseen curves on {dataset}", formats=("pdf",))
        outcome.pictures.append(path)
        outcome.figures[path.name] = drawn
        lines.append(f"![Seen-unseen accuracy curves on {dataset}]({path.name})")
        lines.append(f"_Mean curve over seeds with a ± 1 std band where a row has several runs "
                     f"([PDF]({path.with_suffix('.pdf').name}))._")
    if without:
        lines.append(f"_No stored seen-unseen curve for runs {', '.join(without)} (older runs); re-run to plot them._")
    per_method = {r.label: plots.per_class_means(r.runs) for r in present}
    if any(per_method.values()):
        path = out_dir / f"{_slug(dataset)}-per-class.png"
        names = class_names_of(dataset, present[0].runs[0])
        spread = {r.label: plots.per_class_stds(r.runs) for r in present}
        drawn = plots.plot_per_class_accuracy(per_method, path, names, title=f"unseen classes on {dataset} (ZSL top-1)",
                                              spread=spread, formats=("pdf",))
        outcome.pictures.append(path)
        outcome.figures[path.name] = drawn
        lines.append(f"![Per-class ZSL accuracy of the unseen classes of {dataset}]({path.name})")
        lines.append(f"_Error bars: ± 1 std over seeds ([PDF]({path.with_suffix('.pdf').name}))._")
    return lines


def _curve_label(record: RunRecord, label: str) -> str:
    """The row label, with the run's selection control when it sets one and the label does not say it already."""
    selection = (record.config.get("method_options") or {}).get("selection")
    return f"{label}, {selection}" if selection and "selection" not in label else label


def _selection_curve_lines(dataset: str, methods: Sequence[str], aggregates: Sequence[MethodResult],
                           out_dir: Path, outcome: ReportOutcome) -> list[str]:
    """The selection learning-curve PNG of one dataset (runs of the table's rows that stored a curve)."""
    curves: dict[str, list] = {}
    for group in _rows_of(dataset, methods, aggregates):
        for record in group.runs:
            if record.metrics.get("selection_curve"):
                curves.setdefault(_curve_label(record, group.label), []).append(record.metrics["selection_curve"])
    if not curves:
        return []
    path = out_dir / f"{_slug(dataset)}-selection-curve.png"
    selection_plots.plot_selection_curves(curves, path, title=f"selection learning curve on {dataset}", formats=("pdf",))
    outcome.pictures.append(path)
    return [f"![Selection learning curve on {dataset}]({path.name})",
            "_Per epoch of the final training: the selection scores' AUROC against the object masks on held-out "
            "images, and the consistency term's gradient over the classification loss's on a training batch "
            f"([PDF]({path.with_suffix('.pdf').name}))._"]


def _units_sentence(groups: Sequence[MethodResult]) -> str:
    """What the numbers are, in the task's own words."""
    tasks = {g.task for g in groups}
    parts = []
    if SINGLE_LABEL in tasks:
        parts.append("single-label accuracies are per-class mean top-1 (T1, U, S, H, AUSUC) in percent")
    if tasks - {SINGLE_LABEL}:
        parts.append("multi-label scores are mAP (mean average precision over labels) and F1 at the top-K "
                     "predicted labels (zsl_*: unseen labels only; gzsl_*: all labels), in percent")
    text = "; ".join(parts) or "scores in percent"
    return text[0].upper() + text[1:]


def _multi_label_pictures(dataset: str, present: Sequence[MethodResult], out_dir: Path,
                          outcome: ReportOutcome) -> list[str]:
    """Per-label AP of the unseen labels (``metrics["per_label_ap"]``), a series per table row."""
    per_row: dict[str, dict[str, list[float]]] = {}
    for group in present:
        for record in group.runs:
            for name, ap in ((record.metrics or {}).get("per_label_ap", {}).get("unseen", {}) or {}).items():
                per_row.setdefault(group.label, {}).setdefault(str(name), []).append(float(ap))
    if not per_row:
        return []
    names = sorted({name for values in per_row.values() for name in values})
    index = {name: i for i, name in enumerate(names)}
    means = {label: {index[n]: float(np.mean(v)) for n, v in values.items()} for label, values in per_row.items()}
    spread = {label: {index[n]: float(np.std(v, ddof=1)) for n, v in values.items() if len(v) > 1}
              for label, values in per_row.items()}
    path = out_dir / f"{_slug(dataset)}-per-label-ap.png"
    drawn = plots.plot_per_class_accuracy(means, path, names, title=f"unseen labels on {dataset} (ZSL AP)",
                                          split="zsl_unseen_ap", spread=spread, formats=("pdf",))
    outcome.pictures.append(path)
    outcome.figures[path.name] = drawn
    return [f"![Per-label average precision of the unseen labels of {dataset}]({path.name})",
            f"_Average precision per unseen label, mean over seeds ([PDF]({path.with_suffix('.pdf').name}))._"]


def _patch_selection_lines(dataset: str, methods: Sequence[str],
                           aggregates: Sequence[MethodResult]) -> list[str]:
    rows = []
    for result in _rows_of(dataset, methods, aggregates):
        stored = [r.metrics["patch_selection"] for r in result.runs if "patch_selection" in r.metrics]
        if stored:
            precision = np.mean([s["precision"] for s in stored])
            recall = np.mean([s["recall"] for s in stored])
            rows.append(f"| {result.label} | {len(stored)} | {precision:.3f} | {recall:.3f} |")
    if not rows:
        return []
    return ["Kept patches against the object masks (micro-averaged over test images):", "",
            "| method | n | precision | recall |", "|:---|---:|---:|---:|", *rows]


def _runs_lines(runs: Sequence[RunRecord]) -> list[str]:
    lines = ["| run | method | dataset | seed | protocol | device | git commit | seconds |",
             "|:---|:---|:---|---:|:---|:---|:---|---:|"]
    for r in runs:
        seconds = r.timings.get("total_seconds")
        lines.append(f"| `{r.run_id}` | {r.method} | {r.dataset} | {r.seed} | {r.config.get('protocol', '?')} | "
                     f"{r.env.get('cuda_device') or r.env.get('device', '?')} | "
                     f"`{(r.env.get('git_commit') or '-')[:12]}` | {'-' if seconds is None else f'{seconds:.1f}'} |")
    lines.append("")
    for r in runs:
        lines += [
            "<details>",
            f"<summary><code>{r.run_id}</code>: {r.method} on {r.dataset}, seed {r.seed}</summary>",
            "",
            f"Stored in `{r.path}`.",
            "",
            "**config.json**", "", "```json", json.dumps(r.config, indent=2), "```", "",
            "**env.json**", "", "```json", json.dumps(r.env, indent=2), "```", "",
            "**timings.json**", "", "```json", json.dumps(r.timings, indent=2), "```", "",
            "</details>", "",
        ]
    return lines


def _published_lines(aggregates: Sequence[MethodResult], methods: Sequence[str],
                     root: Path | None) -> list[str]:
    """The as-published numbers of ``--protocol published`` runs, in their own section labelled as chosen on test data."""
    datasets = sorted({r.dataset for r in aggregates if "published_h" in r.metrics})
    if not datasets:
        return []
    tables = results.comparison_tables(aggregates, methods, datasets, root=root, published=True)
    return ["## Chosen on test data (as-published protocol)", "",
            "Not results: the protocol of the public code reports, per number, the best epoch on the test sets "
            "(and a calibration swept on them). Shown to measure how far such figures sit above the honest ones.", "",
            results.render_markdown(tables, heading="###")]


def write_report(root: Path, out_dir: Path, methods: Sequence[str] = (), datasets: Sequence[str] = (),
                 run_ids: Sequence[str] = (), tags: Sequence[str] = (), oracle: bool = False,
                 explicit_root: Path | None = None, where: Sequence[str] = (), group_by: Sequence[str] = (),
                 latest: bool = True) -> ReportOutcome:
    """Write ``out_dir/README.md`` and its pictures; :class:`~zslbench.results.NoRunsError` when nothing matches.

    Tables and figures show the same groups of runs (``comparison.groups``): a figure's series are its table's rows.
    """
    from zslbench.results.compare import build_comparison

    comparison = build_comparison(root, methods, datasets, run_ids, tags, oracle, (), explicit_root,
                                  where=where, group_by=group_by, latest=latest)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = comparison.selection.runs
    outcome = ReportOutcome(out_dir / README, runs=list(runs), skipped=list(comparison.selection.skipped))
    aggregates = comparison.groups  # the tables' rows; build_comparison flagged their settings
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    lines = [
        "# zslbench report", "",
        f"Generated {stamp} by zslbench {__version__} from the run store `{root}`: "
        f"{len(runs)} runs of {', '.join(comparison.methods)} on {', '.join(comparison.datasets)}. "
        f"{_units_sentence(aggregates)}, mean ± std over seeds (n runs); "
        "see [Runs used](#runs-used) for each run's configuration and environment.", "",
        "## Results", "",
    ]
    for dataset in comparison.empty_datasets:
        commands = "; ".join(f"`{results.run_command(m, dataset, explicit_root)}`" for m in comparison.methods)
        lines += [f"_No complete runs on {dataset}: {commands}._", ""]
    for table in comparison.tables:
        lines.append(results.render_markdown([table], heading="###"))
        picture_lines = _pictures(table.dataset, comparison.methods, aggregates, out_dir, outcome)
        lines += [*(f"{line}\n" for line in picture_lines)]
        lines += [*(f"{line}\n" for line in _selection_curve_lines(table.dataset, comparison.methods, aggregates,
                                                                   out_dir, outcome))]
        selection_lines = _patch_selection_lines(table.dataset, comparison.methods, aggregates)
        if selection_lines:
            lines += [*selection_lines, ""]
    lines += _published_lines(aggregates, comparison.methods, explicit_root)
    lines += ["## Runs used", "", *_runs_lines(runs)]
    lines += ["## Reproduce", "", "Each run again (add `--out DIR` to choose the run store):", "", "```bash",
              *[reproduce_command(r.config) for r in runs], "```", ""]
    if comparison.selection.skipped:
        lines += ["## Skipped run directories", "",
                  *[f"- `{path}`: {reason}" for path, reason in comparison.selection.skipped], ""]
    outcome.path.write_text("\n".join(lines))
    return outcome
