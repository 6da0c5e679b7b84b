"""Result tables built from aggregates, rendered as a terminal table, Markdown, CSV, JSON or LaTeX.

Units: single-label accuracies are stored as fractions and shown in percent
with one decimal; a multi-label metric is shown in percent when every stored
value of it lies in [0, 1], else as stored. Published numbers
(``MethodSpec.reference_results``) are percent already.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


from zslbench.data.dataset import SINGLE_LABEL
from zslbench.errors import UsageError
from zslbench.metric_names import METRIC_LABELS
from zslbench.store import RunRecord
from zslbench.published_protocol import LEGEND_PUBLISHED, PUBLISHED_COLUMNS
from zslbench.results.aggregation import (NOT_SETTINGS, MethodResult, config_differences, reference_numbers,
                                          run_scores, score_keys)
from zslbench.results.metric_choice import check_requested_metrics, missing_metric_notes  # noqa: F401 (re-exported)
from zslbench.results.row_notes import seed_mismatch_notes, settings_difference_notes, split_notes
from zslbench.results.selection import run_command
from zslbench.tasks import get_task
from zslbench.tasks.single_label import CALIBRATED_METRICS, ORACLE_METRICS, STANDARD_METRICS  # noqa: F401 (re-exported)


#: Metrics of the ablation table (the layout of the SVIP paper's Table 2).
ABLATION_METRICS = ("t1", "u", "s", "h")

NOISE_MARK = "≈"

LEGEND_NOISE = (f"{NOISE_MARK}: the difference is within one standard deviation (or a method has a single seed), "
                "so it is not a reliable difference")

LEGEND_CALIBRATED = ("CS-U/S/H: calibrated stacking with gamma chosen on validation data only "
                     "(validated gbu protocol)")

LEGEND_ORACLE = "oracle U/S/H: gamma tuned on the test set itself, an upper bound for analysis, not a result"

FORMATS = ("table", "markdown", "csv", "json", "latex")


@dataclass
class Column:
    """One numeric column: a metric key, optionally within a group (a dataset, in ablation tables)."""

    key: str
    label: str
    group: str | None = None

    @property
    def id(self) -> str:
        return self.key if self.group is None else f"{self.group}:{self.key}"

    @property
    def title(self) -> str:
        return self.label if self.group is None else f"{self.group} {self.label}"


@dataclass
class Cell:
    """A shown number (display units) with its spread; ``within_noise`` marks an unreliable difference."""

    value: float
    std: float | None = None
    n: int = 1
    within_noise: bool | None = None

    def text(self, signed: bool = False, pm: str = "±", mark: str = NOISE_MARK, row_n: int | None = None) -> str:
        """``45.1 ± 0.8``; ``+1.2 ≈`` for a difference within noise; ``(n=1)`` when fewer runs than the row has."""
        body = f"{self.value:+.1f}" if signed else f"{self.value:.1f}"
        if self.std is not None and self.n > 1 and not signed:
            body += f" {pm} {self.std:.1f}"
        if self.within_noise:
            body += f" {mark}"
        if row_n is not None and self.std is not None and self.n != row_n:
            body += f" (n={self.n})"
        return body


#: Row kinds: our aggregate, the paper's published numbers, the difference to the first method.
OURS, PAPER, DELTA = "ours", "paper", "delta"


@dataclass
class Row:
    label: str
    kind: str
    method: str
    dataset: str | None
    cells: dict[str, Cell]
    n: int | None = None
    seeds: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    source: str | None = None
    settings: list[str] = field(default_factory=list)  # non-default config values, e.g. "train.epochs=1"


@dataclass
class ResultTable:
    """A rendered-format-independent table: columns, rows and notes printed under it."""

    title: str
    columns: list[Column]
    rows: list[Row]
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)


def _percent_keys(results: Iterable[MethodResult]) -> set[str]:
    """Metrics shown in percent: single-label accuracies, and multi-label metrics stored in [0, 1]."""
    inside: dict[str, bool] = {}
    for result in results:
        for record in result.runs:
            test = run_scores(record)
            for key in score_keys(test):
                ok = result.task == SINGLE_LABEL or 0.0 <= float(test[key]) <= 1.0
                inside[key] = inside.get(key, True) and ok
    return {k for k, ok in inside.items() if ok}


def available_metrics(results: Iterable[MethodResult], oracle: bool = False, published: bool = False) -> list[str]:
    """Metric columns for these results, as their task chooses them (:meth:`Task.table_columns`).

    Single-label: the standard five, CS-* where some run has them, oracle-* on
    request; ``published``: T1, H and CS-H with the as-published numbers
    (chosen on test data) and their gaps instead. Multi-label: mAP and F1@K for
    ZSL and GZSL; precision@K, recall@K and the rest are available with ``--metric``.
    """
    results = list(results)
    present: list[str] = []
    for result in results:
        for key in result.metrics:
            if key not in present:
                present.append(key)
    tasks = [r.task for r in results if r.task != SINGLE_LABEL]
    if not tasks and published:  # the published protocol exists for single-label runs only
        return [k for k in ("t1", "h", "cs_h", *PUBLISHED_COLUMNS) if k in present]
    return get_task(tasks[0] if tasks else SINGLE_LABEL).table_columns(present, oracle)


def _ours_cells(result: MethodResult, columns: list[Column], percent: set[str]) -> dict[str, Cell]:
    cells = {}
    for column in columns:
        summary = result.metrics.get(column.key)
        if summary is not None:
            scale = 100.0 if column.key in percent else 1.0
            cells[column.id] = Cell(summary.mean * scale, summary.std * scale, summary.n)
    return cells


def _delta_cells(result: MethodResult, first: MethodResult, columns: list[Column], percent: set[str]) -> dict[str, Cell]:
    cells = {}
    for column in columns:
        ours, base = result.metrics.get(column.key), first.metrics.get(column.key)
        if ours is None or base is None:
            continue
        scale = 100.0 if column.key in percent else 1.0
        delta = (ours.mean - base.mean) * scale
        noise = max(ours.std, base.std) * scale
        within = ours.n < 2 or base.n < 2 or abs(delta) <= noise
        cells[column.id] = Cell(delta, None, min(ours.n, base.n), within_noise=within)
    return cells


def _paper_row(method: str, dataset: str, columns: list[Column], label: str) -> Row | None:
    numbers, source = reference_numbers(method, dataset)
    cells = {c.id: Cell(numbers[c.key]) for c in columns if c.key in numbers}
    if not cells:
        return None
    return Row(label, PAPER, method, dataset, cells, source=source)


def _ours_row(label: str, result: MethodResult, cells: dict[str, Cell]) -> Row:
    return Row(label, OURS, result.method, result.dataset, cells, n=result.n, seeds=result.seeds,
               run_ids=[r.run_id for r in result.runs], protocols=result.protocols)


def comparison_tables(groups: Sequence[MethodResult], methods: Sequence[str], datasets: Sequence[str],
                      oracle: bool = False, metrics: Sequence[str] = (), root: Path | None = None,
                      published: bool = False) -> list[ResultTable]:
    """One table per dataset: a row per group of comparable runs (mean ± std, n), paper numbers, differences.

    ``groups`` come from :func:`~zslbench.results.aggregation.group_runs`: a
    method with runs of several protocols or settings has one row per group,
    labelled by what differs. Differences are to the first group of
    ``methods[0]`` with the same protocol.
    """
    tables = []
    for dataset in datasets:
        by_method = {m: [g for g in groups if g.method == m and g.dataset == dataset] for m in methods}
        present = [g for m in methods for g in by_method[m]]
        if not present:
            continue
        keys = list(metrics) if metrics else available_metrics(present, oracle, published)
        columns = [Column(k, METRIC_LABELS.get(k, k)) for k in keys]
        percent = _percent_keys(present)
        first_parts = by_method[methods[0]]
        rows: list[Row] = []
        notes: list[str] = []
        for method in methods:
            parts = by_method[method]
            if not parts:
                notes.append(f"{method}: no complete run on {dataset} (`{run_command(method, dataset, root)}`)")
                continue
            notes += split_notes(method, dataset, parts)
            for part in parts:
                rows.append(_ours_row(part.label, part, _ours_cells(part, columns, percent)))
                differing = [k for k in config_differences(part.runs) if k != "protocol" and k not in NOT_SETTINGS]
                if differing:
                    notes.append(f"warning: the {part.n} runs of {part.label} differ in {', '.join(differing[:6])}"
                                 + (" ..." if len(differing) > 6 else "")
                                 + " (averaged because of --group-by; drop it to split them)")
            paper = _paper_row(method, dataset, columns, "  paper")
            if paper is not None:
                rows.append(paper)
            if first_parts and method != methods[0]:
                for part in parts:
                    base = next((f for f in first_parts if f.protocols == part.protocols), first_parts[0])
                    label = f"  Δ vs {base.label}" if len(parts) == 1 else f"  Δ {part.label} vs {base.label}"
                    rows.append(Row(label, DELTA, method, dataset,
                                    _delta_cells(part, base, columns, percent)))
        notes += missing_metric_notes(metrics, present)
        notes += seed_mismatch_notes(present, dataset)
        notes += settings_difference_notes(present)
        if not first_parts and len(methods) > 1:
            notes.append(f"no differences shown: {methods[0]} (the reference method) has no run on {dataset}")
        protocols = sorted({p for r in present for p in r.protocols})
        notes += _source_notes(rows)
        if any(k in CALIBRATED_METRICS for k in keys):
            notes.append(LEGEND_CALIBRATED)
        if any(k in ORACLE_METRICS for k in keys):
            notes.append(LEGEND_ORACLE)
        if any(k in PUBLISHED_COLUMNS for k in keys):
            notes.append(LEGEND_PUBLISHED)
        if any(row.kind == DELTA for row in rows):
            notes.append(LEGEND_NOISE)
        units = "percent" if percent >= set(keys) else "percent where stored in [0, 1]"
        notes.insert(0, f"{units}, mean ± std over seeds; n = runs")
        tables.append(ResultTable(f"{dataset} (protocol: {', '.join(protocols)})", columns, rows, dataset=dataset,
                                  notes=notes))
    return tables


def ablation_table(results: dict[tuple[str, str], MethodResult], roles: Sequence[tuple[str, str]],
                   datasets: Sequence[str]) -> ResultTable:
    """The SVIP paper's Table 2 layout: rows (role label, method), columns T1/U/S/H per dataset, paper rows beside."""
    columns = [Column(k, METRIC_LABELS[k], group=d) for d in datasets for k in ABLATION_METRICS]
    rows: list[Row] = []
    notes: list[str] = []
    for label, method in roles:
        cells: dict[str, Cell] = {}
        runs: list[RunRecord] = []
        for dataset in datasets:
            result = results.get((method, dataset))
            if result is None:
                continue
            runs += result.runs
            cells.update(_ours_cells(result, [c for c in columns if c.group == dataset], {*ABLATION_METRICS}))
        seeds = sorted({r.seed for r in runs})
        per_dataset = [results[(method, d)].n for d in datasets if (method, d) in results]
        rows.append(Row(label, OURS, method, None, cells, n=max(per_dataset, default=0), seeds=seeds,
                        run_ids=[r.run_id for r in runs],
                        protocols=sorted({str(r.config.get("protocol", "?")) for r in runs})))
        paper_cells: dict[str, Cell] = {}
        sources: list[str] = []
        for dataset in datasets:
            paper = _paper_row(method, dataset, [c for c in columns if c.group == dataset], "  paper")
            if paper is not None:
                paper_cells.update(paper.cells)
                sources += [paper.source or "source not given"]
        if paper_cells:
            rows.append(Row("  paper", PAPER, method, None, paper_cells, source="; ".join(dict.fromkeys(sources))))
    notes = ["percent, mean ± std over seeds; n = runs per dataset", *_source_notes(rows)]
    return ResultTable("ablation", columns, rows, notes=notes)


def _source_notes(rows: Sequence[Row]) -> list[str]:
    """One note per publication: which rows' paper numbers come from it."""
    by_source: dict[str, list[str]] = {}
    for row in rows:
        if row.kind == PAPER:
            by_source.setdefault(row.source or "source not given", []).append(row.method)
    return [f"paper numbers ({source}): {', '.join(dict.fromkeys(methods))}" for source, methods in by_source.items()]


def _cell_text(row: Row, column: Column, pm: str = "±", mark: str = NOISE_MARK) -> str:
    cell = row.cells.get(column.id)
    if cell is None:
        return "-"
    return cell.text(signed=row.kind == DELTA, pm=pm, mark=mark, row_n=row.n if row.kind == OURS else None)


def _n_text(row: Row) -> str:
    return str(row.n) if row.n is not None else ""


def render_rich(tables: Sequence[ResultTable], width: int | None = None) -> str:
    """Terminal tables (rich), as text; ``width`` defaults to the terminal's, or 200 columns in a pipe."""
    import shutil
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if width is None:
        width = shutil.get_terminal_size((200, 24)).columns if sys.stdout.isatty() else 200
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    for table in tables:
        out = Table(title=Text(table.title), title_justify="left")
        out.add_column("method")
        out.add_column("n", justify="right")
        for column in table.columns:
            out.add_column(Text(column.title if column.group is None else f"{column.group}\n{column.label}"),
                           justify="right")
        flagged = any(row.settings for row in table.rows)
        if flagged:
            out.add_column("settings", overflow="fold")
        for row in table.rows:
            style = "dim" if row.kind != OURS else None
            out.add_row(Text(row.label), _n_text(row), *[Text(_cell_text(row, c)) for c in table.columns],
                        *([Text(", ".join(row.settings))] if flagged else []), style=style)
        console.print(out)
        for note in table.notes:
            console.print(Text(f"  {note}"))
        console.print()
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(tables: Sequence[ResultTable], heading: str = "###") -> str:
    """GitHub-flavoured Markdown: a heading, a pipe table and the notes as a list, per table."""
    parts = []
    for table in tables:
        flagged = any(row.settings for row in table.rows)
        header = ["method", "n", *[c.title for c in table.columns], *(["non-default settings"] if flagged else [])]
        lines = [f"{heading} {_md_escape(table.title)}", "",
                 "| " + " | ".join(_md_escape(h) for h in header) + " |",
                 "|" + "|".join([":---", "---:"] + ["---:"] * len(table.columns) + ([":---"] if flagged else []))
                 + "|"]
        for row in table.rows:
            label = row.label.strip()
            label = f"**{_md_escape(label)}**" if row.kind == OURS else f"_{_md_escape(label)}_"
            cells = [label, _n_text(row), *[_md_escape(_cell_text(row, c)) for c in table.columns]]
            if flagged:
                cells.append(_md_escape(", ".join(f"`{s}`" for s in row.settings)) if row.settings else "")
            lines.append("| " + " | ".join(cells) + " |")
        if table.notes:
            lines.append("")
            lines += [f"- {_md_escape(note)}" for note in table.notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_csv(tables: Sequence[ResultTable]) -> str:
    """Tidy CSV: one line per (table row, metric); ``label`` tells apart the rows of one method."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "method", "row", "metric", "value", "std", "n", "within_noise", "seeds", "source",
                     "label"])
    for table in tables:
        for row in table.rows:
            for column in table.columns:
                cell = row.cells.get(column.id)
                if cell is None:
                    continue
                dataset = column.group or table.dataset or ""
                writer.writerow([dataset, row.method, row.kind, column.key, f"{cell.value:.4f}",
                                 "" if cell.std is None else f"{cell.std:.4f}", cell.n,
                                 "" if cell.within_noise is None else str(cell.within_noise).lower(),
                                 " ".join(map(str, row.seeds)), row.source or "", row.label.strip()])
    return buffer.getvalue()


def tables_to_dict(tables: Sequence[ResultTable], skipped: Sequence[tuple[Path, str]] = ()) -> dict:
    """A JSON-ready dict of the tables (values in display units) and the skipped run directories."""
    return {
        "tables": [
            {
                "title": t.title, "dataset": t.dataset,
                "columns": [{"id": c.id, "metric": c.key, "label": c.label, "dataset": c.group} for c in t.columns],
                "rows": [
                    {"label": r.label.strip(), "kind": r.kind, "method": r.method, "dataset": r.dataset, "n": r.n,
                     "seeds": r.seeds, "run_ids": r.run_ids, "protocols": r.protocols, "source": r.source,
                     "settings": r.settings,
                     "cells": {cid: {"value": c.value, "std": c.std, "n": c.n, "within_noise": c.within_noise}
                               for cid, c in r.cells.items()}}
                    for r in t.rows
                ],
                "notes": t.notes,
            }
            for t in tables
        ],
        "skipped": [{"path": str(p), "reason": reason} for p, reason in skipped],
    }


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "Δ": r"$\Delta$"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _best_per_column(table: ResultTable) -> dict[str, float]:
    """Per column, the best mean of our rows as shown (one decimal; higher is better), gap columns left out."""
    best: dict[str, float] = {}
    for column in table.columns:
        if "gap" in column.key:  # a difference between two protocols: no better or worse
            continue
        values = [round(row.cells[column.id].value, 1) for row in table.rows
                  if row.kind == OURS and column.id in row.cells]
        if len(values) > 1:
            best[column.id] = max(values)
    return best


def render_latex(tables: Sequence[ResultTable]) -> str:
    """booktabs tabulars (needs ``\\usepackage{booktabs}``): mean $\\pm$ std, the best of our rows per column in bold."""
    parts = []
    for table in tables:
        ncols = len(table.columns)
        lines = [f"% {table.title}", r"\begin{tabular}{l r " + "r" * ncols + "}", r"\toprule"]
        groups = [c.group for c in table.columns]
        if any(g is not None for g in groups):
            header, start = ["", ""], 0
            rules = []
            while start < ncols:
                end = start
                while end + 1 < ncols and groups[end + 1] == groups[start]:
                    end += 1
                header.append(rf"\multicolumn{{{end - start + 1}}}{{c}}{{{_latex_escape(str(groups[start]))}}}")
                rules.append(rf"\cmidrule(lr){{{start + 3}-{end + 3}}}")
                start = end + 1
            lines += [" & ".join(header) + r" \\", " ".join(rules)]
        lines.append(" & ".join(["method", "n", *[_latex_escape(c.label) for c in table.columns]]) + r" \\")
        lines.append(r"\midrule")
        best = _best_per_column(table)
        for row in table.rows:
            cells = [_latex_escape(row.label.strip()), _n_text(row)]
            for c in table.columns:
                text = _latex_escape(_cell_text(row, c, pm="\x00", mark="\x01")).replace("\x00", r"$\pm$") \
                    .replace("\x01", r"$\approx$")
                cell = row.cells.get(c.id)
                bold = row.kind == OURS and cell is not None and round(cell.value, 1) == best.get(c.id)
                cells.append(rf"\textbf{{{text}}}" if bold else text)
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        lines += [f"% {note}" for note in table.notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render(tables: Sequence[ResultTable], fmt: str, skipped: Sequence[tuple[Path, str]] = ()) -> str:
    """Tables in one of :data:`FORMATS`."""
    if fmt == "table":
        return render_rich(tables)
    if fmt == "markdown":
        return render_markdown(tables)
    if fmt == "csv":
        return render_csv(tables)
    if fmt == "json":
        return json.dumps(tables_to_dict(tables, skipped), indent=2) + "\n"
    if fmt == "latex":
        return render_latex(tables)
    raise UsageError(f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
