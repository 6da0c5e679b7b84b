"""Pictures of stored results, as PNG files (matplotlib, Agg canvas, no pyplot state).

Every plot function writes one PNG and returns the data it drew (in the units
shown: percent for accuracies), so callers and tests can check what a figure
says without reading pixels.

* :func:`plot_seen_unseen_curves`: the GZSL seen-unseen accuracy curve of each
  run (its area is AUSUC), with the raw (gamma = 0) and calibrated (validated
  gamma) operating points marked. Drawn from ``metrics["curve"]``, which every
  single-label run stores (at most 512 points).
* :func:`plot_per_class_accuracy`: a sorted dot plot of the per-class accuracy of
  the unseen classes (from ``metrics["test"]["per_class"]``), one marker per
  method, one paper column wide (a sorted profile when classes are many).

PDFs embed TrueType (Type 42) fonts (:data:`PAPER_FONT_PARAMS`); legends sit
below the axes, off the data.
* :func:`plot_explanation`: an image with the patches a method keeps (clear) and
  the ones it contextualizes (hatched), as in Fig. 6a of the SVIP paper, and/or
  the maps of its top predicted attributes (Fig. 5), with the object mask
  outlined when the dataset has masks.

The selection learning curve of SVIP runs is drawn by
:mod:`zslbench.results.selection_plots`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from zslbench.errors import DataError, UsageError
from zslbench.store import RunRecord

_DPI = 150
#: Formats a figure can be written in (by the file's suffix).
FIGURE_FORMATS = ("png", "pdf", "svg")


def new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    # Constrained layout keeps titles, labels and colour bars from overlapping.
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_paths(out: str | Path, formats: Sequence[str] = ()) -> list[Path]:
    """``out`` (its suffix picks the format, PNG when it has none of :data:`FIGURE_FORMATS`) plus a sibling per extra format."""
    path = Path(out)
    paths = [path]
    for fmt in formats:
        extra = path.with_suffix(f".{fmt}")
        if extra not in paths:
            paths.append(extra)
    return paths


#: Fonts embedded as TrueType (Type 42) in PDF/PS and kept as text in SVG: paper checkers (IEEE, ACM) refuse Type 3.
PAPER_FONT_PARAMS = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}


def save_figure(fig, out: str | Path, formats: Sequence[str] = ()) -> list[Path]:
    """Write ``fig`` to ``out`` and to the extra ``formats`` beside it (e.g. ``("pdf",)`` for a paper).

    PDFs embed TrueType (Type 42) fonts, set for this call only (no global matplotlib state changes).
    """
    from matplotlib import rc_context

    written = []
    for path in figure_paths(out, formats):
        fmt = path.suffix.lstrip(".").lower()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with rc_context(PAPER_FONT_PARAMS):
                fig.savefig(path, format=fmt if fmt in FIGURE_FORMATS else "png", dpi=_DPI)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}", "choose another output path") from exc
        written.append(path)
    return written


def padded_limit(values: Sequence[float] | np.ndarray, floor: float = 1.0, ceiling: float = 100.0) -> float:
    """An upper axis limit just above the largest value (5 % headroom), at least ``floor``, at most ``ceiling``."""
    finite = np.asarray([v for v in np.ravel(values) if v is not None and np.isfinite(v)], dtype=np.float64)
    top = float(finite.max()) if finite.size else floor
    return float(min(ceiling, max(floor, top * 1.05)))


# --------------------------------------------------------------------------- seen-unseen curves


@dataclass
class CurveSeries:
    """One run's seen-unseen curve and operating points; accuracies are fractions in [0, 1]."""

    label: str
    run_id: str
    seen: np.ndarray
    unseen: np.ndarray
    raw_point: tuple[float, float]  # (S, U) at gamma = 0
    calibrated_point: tuple[float, float] | None  # (S, U) at the validated gamma, when the run has one
    calibrated_gamma: float | None
    ausuc: float


def curve_series(record: RunRecord, label: str | None = None) -> CurveSeries:
    """The stored curve of a complete single-label run; DataError naming the run when it has none."""
    metrics = record.metrics or {}
    curve = metrics.get("curve")
    if not isinstance(curve, dict) or not curve.get("seen"):
        raise DataError(f"run {record.path} stores no seen-unseen curve (metrics.json has no 'curve')",
                        "runs from older zslbench versions lack it; re-run the method to plot its curve")
    test = metrics.get("test", {})
    calibrated = None
    if test.get("cs_s") is not None and test.get("cs_u") is not None:
        calibrated = (float(test["cs_s"]), float(test["cs_u"]))
    return CurveSeries(label or record.method, record.run_id, np.asarray(curve["seen"], dtype=np.float64),
                       np.asarray(curve["unseen"], dtype=np.float64), (float(test["s"]), float(test["u"])),
                       calibrated, test.get("cs_gamma"), float(test.get("ausuc", float("nan"))))


def curve_envelope(seen: np.ndarray, unseen: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The best unseen accuracy reachable with seen accuracy >= S, for each S of ``grid``.

    This reads a seen-unseen curve (a monotone staircase over gamma) as a
    function U(S); beyond the curve's largest S it is 0, where the curve
    meets the S axis, so the area under it is unchanged.
    """
    order = np.argsort(-seen, kind="stable")
    best = np.maximum.accumulate(unseen[order])  # best U among points with seen >= seen[order[i]]
    thresholds = seen[order]
    # For each grid S: the last point (in descending seen) whose seen is still >= S.
    position = np.searchsorted(-thresholds, -grid, side="right") - 1
    return np.where(position >= 0, best[np.clip(position, 0, None)], 0.0)


def mean_curve(series: Sequence[CurveSeries], points: int = 401) -> dict:
    """Mean unseen accuracy over runs as a function of seen accuracy, and its spread (fractions).

    Each run's curve is read as U(S) (:func:`curve_envelope`) on a common grid
    of S from 0 to the largest S of any run; ``std`` is the sample standard
    deviation over the runs at each S.
    """
    top = max(float(np.max(item.seen)) for item in series)
    grid = np.linspace(0.0, top, points)
    stacked = np.vstack([curve_envelope(item.seen, item.unseen, grid) for item in series])
    std = stacked.std(axis=0, ddof=1) if len(series) > 1 else np.zeros(points)
    return {"seen": grid, "unseen": stacked.mean(axis=0), "std": std}


def plot_seen_unseen_curves(series: Sequence[CurveSeries], out: str | Path, title: str = "",
                            formats: Sequence[str] = ()) -> dict:
    """Seen accuracy (x) against unseen accuracy (y), one colour per label.

    A label with one run draws that run's curve; with several runs (seeds) it
    draws their mean curve and a band of ± one standard deviation, and the
    operating points as means with error bars. Both axes start at 0 and end
    just above the largest accuracy drawn, so low scores are not crushed
    into a corner.

    Returns ``{"path", "paths", "xlim", "ylim", "series": [per run: "label",
    "run_id", "seen", "unseen", "raw", "calibrated", "ausuc"], "groups": [per
    label: "label", "runs", "seen", "unseen", "band" (None or [low, high]),
    "raw", "calibrated", "ausuc"]}`` in percent.
    """
    if not series:
        raise UsageError("no seen-unseen curves to plot")
    labels = list(dict.fromkeys(item.label for item in series))
    fig = new_figure(5.4, 4.6 + 0.25 * ((len(labels) + 3) // 2))  # room for the legend below
    ax = fig.add_subplot(1, 1, 1)
    drawn, groups = [], []
    xs, ys = [], []
    for i, label in enumerate(labels):
        colour = f"C{i % 10}"
        members = [item for item in series if item.label == label]
        for item in members:
            drawn.append({"label": item.label, "run_id": item.run_id, "seen": (100 * item.seen).tolist(),
                          "unseen": (100 * item.unseen).tolist(), "raw": [100 * v for v in item.raw_point],
                          "calibrated": None if item.calibrated_point is None else
                          [100 * v for v in item.calibrated_point], "ausuc": 100 * item.ausuc})
        aus = np.array([100 * m.ausuc for m in members])
        if len(members) == 1:
            seen, unseen, band = 100 * members[0].seen, 100 * members[0].unseen, None
            legend = f"{label} (AUSUC {aus[0]:.1f})"
        else:
            curve = mean_curve(members)
            # Close the staircase on the S axis, where every run's curve ends.
            seen = 100 * np.append(curve["seen"], curve["seen"][-1])
            unseen = 100 * np.append(curve["unseen"], 0.0)
            spread = 100 * np.append(curve["std"], 0.0)
            band = (unseen - spread, unseen + spread)
            legend = f"{label} (AUSUC {aus.mean():.1f} ± {aus.std(ddof=1):.1f}, mean of {len(members)} runs)"
            ax.fill_between(seen, np.clip(band[0], 0, None), band[1], color=colour, alpha=0.2, linewidth=0,
                            label="band: ± 1 std over seeds")
            ys.append(band[1])
        ax.plot(seen, unseen, color=colour, linewidth=1.6, label=legend)
        xs.append(seen)
        ys.append(unseen)
        raw = _mean_point([m.raw_point for m in members])
        _draw_point(ax, raw, colour, "o", 6, "raw (γ = 0)" if i == 0 else None)
        calibrated_points = [m.calibrated_point for m in members if m.calibrated_point is not None]
        calibrated = _mean_point(calibrated_points) if calibrated_points else None
        if calibrated is not None:
            _draw_point(ax, calibrated, colour, "*", 11,
                        "calibrated (validated γ)" if not any(g["calibrated"] for g in groups) else None)
        for point in (raw, calibrated):
            if point is not None:
                xs.append([point[0] + point[2]])
                ys.append([point[1] + point[3]])
        groups.append({"label": label, "runs": len(members), "seen": seen.tolist(), "unseen": unseen.tolist(),
                       "band": None if band is None else [band[0].tolist(), band[1].tolist()],
                       "raw": list(raw[:2]), "calibrated": None if calibrated is None else list(calibrated[:2]),
                       "ausuc": float(aus.mean())})
    xlim = (0.0, padded_limit(np.concatenate([np.ravel(x) for x in xs])))
    ylim = (0.0, padded_limit(np.concatenate([np.ravel(y) for y in ys])))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("seen accuracy S (%)")
    ax.set_ylabel("unseen accuracy U (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title or "seen-unseen accuracy curve (γ swept)", fontsize=10)
    _dedupe_legend(fig, ax, fontsize=7)
    paths = save_figure(fig, out, formats)
    return {"path": str(paths[0]), "paths": [str(p) for p in paths], "xlim": list(xlim), "ylim": list(ylim),
            "series": drawn, "groups": groups}


def _mean_point(points: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
    """(S, U, std S, std U) in percent of fraction points; std 0 for one point."""
    array = 100 * np.asarray(points, dtype=np.float64)
    spread = array.std(axis=0, ddof=1) if len(array) > 1 else np.zeros(2)
    return float(array[:, 0].mean()), float(array[:, 1].mean()), float(spread[0]), float(spread[1])


def _draw_point(ax, point, colour: str, marker: str, size: float, legend: str | None) -> None:
    s, u, ds, du = point
    if ds or du:
        ax.errorbar(s, u, xerr=ds, yerr=du, color=colour, linewidth=0.9, capsize=2.5, zorder=3)
    ax.plot(s, u, marker=marker, markersize=size, color=colour, markeredgecolor="black", linestyle="none",
            label=legend, zorder=4)


def _dedupe_legend(fig, ax, ncols: int | None = None, **kwargs) -> None:
    """One legend entry per label (the band of every label is one entry), below the axes so it hides no data.

    ``ncols`` None: two columns, or one when a label is too long to share a line.
    """
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for handle, label in zip(handles, labels):
        seen.setdefault(label, handle)
    if ncols is None:
        ncols = 1 if max((len(label) for label in seen), default=0) > 36 else 2
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center", ncols=ncols, frameon=False, **kwargs)


# --------------------------------------------------------------------------- per-class accuracy


PER_CLASS_SPLITS = {"zsl_unseen": "ZSL top-1 (unseen classes only)", "gzsl_unseen": "GZSL U (all classes)",
                    "cs_unseen": "GZSL U, calibrated", "zsl_unseen_ap": "ZSL average precision (unseen labels)"}


def per_class_values(records: Sequence[RunRecord], split: str = "zsl_unseen") -> dict[int, list[float]]:
    """Per-class accuracies (fractions) of ``split``, one value per run that stores the class."""
    values: dict[int, list[float]] = {}
    for record in records:
        table = (record.metrics or {}).get("test", {}).get("per_class", {}).get(split)
        for class_id, accuracy in (table or {}).items():
            values.setdefault(int(class_id), []).append(float(accuracy))
    return {k: values[k] for k in sorted(values)}


def per_class_means(records: Sequence[RunRecord], split: str = "zsl_unseen") -> dict[int, float]:
    """Per-class accuracy (fraction) of ``split`` averaged over runs; classes absent from a run are averaged over the others."""
    return {k: float(np.mean(v)) for k, v in per_class_values(records, split).items()}


def per_class_stds(records: Sequence[RunRecord], split: str = "zsl_unseen") -> dict[int, float]:
    """Sample standard deviation over runs of each class's accuracy (fraction); only classes with >= 2 runs."""
    return {k: float(np.std(v, ddof=1)) for k, v in per_class_values(records, split).items() if len(v) > 1}


#: Above this many classes the per-class figure is a sorted profile without class names (it still fits a column).
NAMED_CLASSES_MAX = 40
#: Width of one paper column, in inches.
COLUMN_WIDTH_IN = 3.5


def plot_per_class_accuracy(per_method: Mapping[str, Mapping[int, float]], out: str | Path,
                            class_names: Sequence[str] | None = None, title: str = "",
                            split: str = "zsl_unseen", spread: Mapping[str, Mapping[int, float]] | None = None,
                            formats: Sequence[str] = ()) -> dict:
    """A sorted dot plot of per-class accuracy (fractions in, percent drawn), one marker per method per class.

    Classes are sorted by the first method's accuracy (best first). Up to
    :data:`NAMED_CLASSES_MAX` classes: one named row per class. More: a sorted
    profile (x: class rank, y: accuracy) one column wide, the best and worst
    classes named in the return value. ``spread`` (fractions, e.g.
    :func:`per_class_stds`) draws ± one standard deviation over seeds. The
    legend sits below the axes, off the data. Returns ``{"path", "paths",
    "xlim" (the accuracy axis), "classes": [ids], "names": [...], "methods":
    {label: [percent or None per class]}, "errors": {...}, "layout": "rows" or "profile"}``.
    """
    methods = [m for m, values in per_method.items() if values]
    if not methods:
        raise DataError("no per-class accuracies stored for these runs", "per-class tables come with every evaluation")
    spread = spread or {}
    classes = sorted({c for m in methods for c in per_method[m]})
    first = per_method[methods[0]]
    classes.sort(key=lambda c: -first.get(c, -1.0))
    names = [class_names[c] if class_names is not None and 0 <= c < len(class_names) else f"class {c}"
             for c in classes]
    values = {m: [100 * per_method[m][c] if c in per_method[m] else None for c in classes] for m in methods}
    errors = {m: [100 * spread[m][c] if c in spread.get(m, {}) and c in per_method[m] else None for c in classes]
              for m in methods}
    markers = "osD^v<>"
    named = len(classes) <= NAMED_CLASSES_MAX
    legend_columns = 1 if max(len(m) for m in methods) > 18 else 2  # a column is narrow: long labels one per line
    legend_rows = -(-len(methods) // legend_columns)
    if named:
        fig = new_figure(COLUMN_WIDTH_IN, 1.3 + 0.16 * len(classes) + 0.2 * legend_rows)
    else:
        fig = new_figure(COLUMN_WIDTH_IN, 2.6 + 0.2 * legend_rows)
    ax = fig.add_subplot(1, 1, 1)
    positions = np.arange(len(classes))
    tops = []
    for i, method in enumerate(methods):
        drawn = np.array([np.nan if v is None else v for v in values[method]])
        err = np.array([np.nan if e is None else e for e in errors[method]])
        has_err = np.isfinite(err).any()
        style = {"color": f"C{i % 10}", "marker": markers[i % len(markers)], "linestyle": "none",
                 "markersize": 4 if named else 2.5, "label": f"{method} (mean {np.nanmean(drawn):.1f})"}
        err_kw = {"elinewidth": 0.7, "capsize": 1.2, "ecolor": f"C{i % 10}", "alpha": 0.8} if has_err else {}
        if named:
            ax.errorbar(drawn, positions, xerr=np.nan_to_num(err) if has_err else None, **style, **err_kw)
        else:
            ax.errorbar(positions, drawn, yerr=np.nan_to_num(err) if has_err else None, **style, **err_kw)
        tops.append(np.nan_to_num(drawn) + np.nan_to_num(err))
    limit = (0.0, padded_limit(np.concatenate(tops)))
    has_any_error = any(e is not None for errs in errors.values() for e in errs)
    accuracy_label = f"{PER_CLASS_SPLITS.get(split, split)} (%)"
    if named:
        ax.set_yticks(positions)
        ax.set_yticklabels([n.replace("_", " ") for n in names], fontsize=6 if len(classes) > 25 else 7)
        ax.invert_yaxis()
        ax.set_xlim(*limit)
        ax.set_xlabel(accuracy_label, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.grid(axis="y", alpha=0.15)
    else:
        ax.set_ylim(*limit)
        ax.set_xlim(-1, len(classes))
        ax.set_ylabel(accuracy_label, fontsize=8)
        ax.set_xlabel(f"{len(classes)} classes, sorted by {methods[0]}'s accuracy", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelsize=7)
    ax.set_title((title or "per-class accuracy of the unseen classes")
                 + ("\n(bars: ± 1 std over seeds)" if has_any_error else ""), fontsize=8)
    _dedupe_legend(fig, ax, ncols=legend_columns, fontsize=6)
    paths = save_figure(fig, out, formats)
    return {"path": str(paths[0]), "paths": [str(p) for p in paths], "xlim": list(limit), "classes": classes,
            "names": names, "methods": values, "errors": errors, "split": split,
            "layout": "rows" if named else "profile"}


# --------------------------------------------------------------------------- explanations


def patch_edges(length_px: int, count: int) -> np.ndarray:
    """Pixel boundaries of ``count`` (nearly) equal patches along one axis: count + 1 values from 0 to length."""
    return (np.arange(count + 1) * length_px) // count


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) mask to (size, size) (for resize-only transforms)."""
    mask = np.asarray(mask, dtype=bool)
    rows = (np.arange(size) * mask.shape[0]) // size
    cols = (np.arange(size) * mask.shape[1]) // size
    return mask[rows[:, None], cols[None, :]]


def _outline_mask(ax, mask: np.ndarray | None) -> None:
    if mask is not None and mask.any():
        ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors="white", linewidths=1.2)
        ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors="black", linewidths=0.5, linestyles="dashed")


def plot_explanation(image: np.ndarray, out: str | Path, kept: np.ndarray | None = None,
                     maps: np.ndarray | None = None, attribute_names: Sequence[str] | None = None,
                     attribute_scores: np.ndarray | None = None, mask: np.ndarray | None = None,
                     title: str = "", formats: Sequence[str] = ()) -> dict:
    """An image, its patch selection and/or attribute maps (with one shared colour bar).

    The first panel is the image itself; the selection panel leaves kept
    patches clear and hatches the contextualized ones; each map is drawn
    semi-transparently over the image on one colour scale, so panels are
    comparable and the image stays visible.

    Args:
        image: (S, S, 3) floats in [0, 1], as the model saw it (after the eval transform).
        kept: (rows, cols) bool, True for the patches the method keeps; the others are hatched.
        maps: (k, rows, cols) maps of the attributes to show (e.g. the top predicted ones).
        attribute_names / attribute_scores: a name and score per map.
        mask: (S, S) bool object mask, outlined on every panel.

    Returns ``{"path", "paths", "kept": rows x cols list or None, "hatched_patches": int,
    "attributes": [names], "scores": [...], "map_shape": [rows, cols] or None,
    "colorbar": [low, high] or None, "panels": [panel titles]}``.
    """
    if kept is None and maps is None:
        raise UsageError("nothing to explain: no patch selection and no attribute maps")
    image = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    size_y, size_x = image.shape[:2]
    extent = (0, size_x, size_y, 0)
    panels = 1 + (1 if kept is not None else 0) + (0 if maps is None else len(maps))
    cols = min(panels, 4)
    rows = -(-panels // cols)
    fig = new_figure(2.6 * cols + (0.6 if maps is not None else 0.0), 2.8 * rows + (0.5 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    titles: list[str] = []

    def next_axis(panel_title: str):
        ax = axes[len(titles)]
        titles.append(panel_title)
        ax.imshow(image, interpolation="nearest", extent=extent)
        ax.set_title(panel_title, fontsize=8)
        return ax

    _outline_mask(next_axis("image" + (" (dashed: object mask)" if mask is not None and mask.any() else "")), mask)
    hatched = 0
    if kept is not None:
        from matplotlib.patches import Rectangle

        kept = np.asarray(kept, dtype=bool)
        hatched = int(np.count_nonzero(~kept))
        ax = next_axis(f"kept {int(kept.sum())}/{kept.size} patches\n(hatched: contextualized)")
        ys, xs = patch_edges(size_y, kept.shape[0]), patch_edges(size_x, kept.shape[1])
        # Contextualized patches: a light veil and hatching; kept patches stay clear.
        for r, c in zip(*np.nonzero(~kept)):
            ax.add_patch(Rectangle((xs[c], ys[r]), xs[c + 1] - xs[c], ys[r + 1] - ys[r], facecolor=(0, 0, 0, 0.3),
                                   edgecolor=(1, 1, 1, 0.55), hatch="///", linewidth=0))
        _outline_mask(ax, mask)
        ax.set_xlim(0, size_x)
        ax.set_ylim(size_y, 0)
    names = list(attribute_names or [])
    scores = [] if attribute_scores is None else [float(s) for s in attribute_scores]
    colour_range = None
    if maps is not None:
        maps = np.asarray(maps, dtype=np.float64)
        low, high = float(maps.min()), float(maps.max())  # one colour scale: panels are comparable
        high = high if high > low else low + 1e-9
        colour_range = [low, high]
        map_axes, mappable = [], None
        for i, attribute_map in enumerate(maps):
            name = names[i] if i < len(names) else f"attribute {i}"
            score = f" ({scores[i]:.2f})" if i < len(scores) else ""
            ax = next_axis(f"{name}{score}".replace("_", " "))
            mappable = ax.imshow(attribute_map, cmap="inferno", alpha=0.55, interpolation="bilinear", extent=extent,
                                 vmin=low, vmax=high)
            _outline_mask(ax, mask)
            map_axes.append(ax)
        colourbar = fig.colorbar(mappable, ax=map_axes, shrink=0.85, pad=0.02)
        colourbar.solids.set_alpha(1.0)
        colourbar.set_label("attribute map (shared scale)", fontsize=7)
        colourbar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    paths = save_figure(fig, out, formats)
    return {"path": str(paths[0]), "paths": [str(p) for p in paths], "kept": None if kept is None else kept.tolist(),
            "hatched_patches": hatched, "attributes": names, "scores": scores,
            "map_shape": None if maps is None else list(maps.shape[1:]), "colorbar": colour_range, "panels": titles}
