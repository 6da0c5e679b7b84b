"""Pictures of stored results, as PNG files (matplotlib, Agg canvas, no pyplot state).

Every plot function writes one PNG and returns the data it drew (in the units
shown: percent for accuracies), so callers and tests can check what a figure
says without reading pixels.

* :func:`plot_seen_unseen_curves`: the GZSL seen-unseen accuracy curve of each
  run (its area is AUSUC), with the raw (gamma = 0) and calibrated (validated
  gamma) operating points marked. Drawn from ``metrics["curve"]``, which every
  single-label run stores (at most 512 points).
* :func:`plot_per_class_accuracy`: per-class accuracy bars of the unseen classes
  (from ``metrics["test"]["per_class"]``), one bar per method.
* :func:`plot_explanation`: an image with the patches a method keeps (clear) and
  the ones it contextualizes (hatched), as in Fig. 6a of the SVIP paper, and/or
  the maps of its top predicted attributes (Fig. 5), with the object mask
  outlined when the dataset has masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from zslbench.errors import DataError, UsageError
from zslbench.store import RunRecord

_DPI = 110


def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: str | Path) -> Path:
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=_DPI)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", "choose another output path") from exc
    return path


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


def plot_seen_unseen_curves(series: Sequence[CurveSeries], out: str | Path, title: str = "") -> dict:
    """Seen accuracy (x) against unseen accuracy (y), one line per run, one colour per label.

    Returns ``{"path", "series": [{"label", "run_id", "seen", "unseen", "raw",
    "calibrated", "ausuc"}]}`` in percent.
    """
    if not series:
        raise UsageError("no seen-unseen curves to plot")
    fig = _new_figure(5.2, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    colours = {}
    drawn = []
    for item in series:
        first = item.label not in colours
        colour = colours.setdefault(item.label, f"C{len(colours) % 10}")
        runs_of_label = sum(s.label == item.label for s in series)
        seen, unseen = 100 * item.seen, 100 * item.unseen
        legend = None
        if first:
            aus = [100 * s.ausuc for s in series if s.label == item.label]
            legend = f"{item.label} (AUSUC {np.mean(aus):.1f}" + (f", {runs_of_label} runs)" if runs_of_label > 1 else ")")
        ax.plot(seen, unseen, color=colour, linewidth=1.4, alpha=1.0 if runs_of_label == 1 else 0.6, label=legend)
        raw = (100 * item.raw_point[0], 100 * item.raw_point[1])
        ax.plot(*raw, marker="o", markersize=6, color=colour, markeredgecolor="black", linestyle="none",
                label="raw (γ = 0)" if len(drawn) == 0 else None)
        calibrated = None
        if item.calibrated_point is not None:
            calibrated = (100 * item.calibrated_point[0], 100 * item.calibrated_point[1])
            ax.plot(*calibrated, marker="*", markersize=11, color=colour, markeredgecolor="black", linestyle="none",
                    label="calibrated (validated γ)" if not any(d["calibrated"] for d in drawn) else None)
        drawn.append({"label": item.label, "run_id": item.run_id, "seen": seen.tolist(), "unseen": unseen.tolist(),
                      "raw": list(raw), "calibrated": list(calibrated) if calibrated else None,
                      "ausuc": 100 * item.ausuc})
    ax.set_xlabel("seen accuracy S (%)")
    ax.set_ylabel("unseen accuracy U (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title or "seen-unseen accuracy curve (gamma swept)", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return {"path": str(_save(fig, out)), "series": drawn}


# --------------------------------------------------------------------------- per-class accuracy


PER_CLASS_SPLITS = {"zsl_unseen": "ZSL top-1 (unseen classes only)", "gzsl_unseen": "GZSL U (all classes)",
                    "cs_unseen": "GZSL U, calibrated"}


def per_class_means(records: Sequence[RunRecord], split: str = "zsl_unseen") -> dict[int, float]:
    """Per-class accuracy (fraction) of ``split`` averaged over runs; classes absent from a run are averaged over the others."""
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for record in records:
        table = (record.metrics or {}).get("test", {}).get("per_class", {}).get(split)
        if not table:
            continue
        for class_id, accuracy in table.items():
            key = int(class_id)
            sums[key] = sums.get(key, 0.0) + float(accuracy)
            counts[key] = counts.get(key, 0) + 1
    return {k: sums[k] / counts[k] for k in sorted(sums)}


def plot_per_class_accuracy(per_method: Mapping[str, Mapping[int, float]], out: str | Path,
                            class_names: Sequence[str] | None = None, title: str = "",
                            split: str = "zsl_unseen") -> dict:
    """Horizontal bars of per-class accuracy (fractions in, percent drawn), one bar per method per class.

    Classes are sorted by the first method's accuracy (best first). Returns
    ``{"path", "classes": [ids], "names": [...], "methods": {method: [percent or None per class]}}``.
    """
    methods = [m for m, values in per_method.items() if values]
    if not methods:
        raise DataError("no per-class accuracies stored for these runs", "per-class tables come with every evaluation")
    classes = sorted({c for m in methods for c in per_method[m]})
    first = per_method[methods[0]]
    classes.sort(key=lambda c: -first.get(c, -1.0))
    names = [class_names[c] if class_names is not None and 0 <= c < len(class_names) else f"class {c}"
             for c in classes]
    values = {m: [100 * per_method[m][c] if c in per_method[m] else None for c in classes] for m in methods}

    bar = 0.8 / len(methods)
    height = max(2.5, 0.6 + 0.16 * len(classes) * max(1.0, 0.6 * len(methods)))
    fig = _new_figure(7.0, height)
    ax = fig.add_subplot(1, 1, 1)
    positions = np.arange(len(classes))
    for i, method in enumerate(methods):
        drawn = np.array([np.nan if v is None else v for v in values[method]])
        ax.barh(positions + (i - (len(methods) - 1) / 2) * bar, np.nan_to_num(drawn), height=bar,
                color=f"C{i % 10}", label=f"{method} (mean {np.nanmean(drawn):.1f})")
    ax.set_yticks(positions)
    ax.set_yticklabels([n.replace("_", " ") for n in names], fontsize=7 if len(classes) > 30 else 8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{PER_CLASS_SPLITS.get(split, split)} accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "per-class accuracy of the unseen classes", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return {"path": str(_save(fig, out)), "classes": classes, "names": names, "methods": values, "split": split}


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
                     title: str = "") -> dict:
    """An image with its patch selection and/or attribute maps.

    Args:
        image: (S, S, 3) floats in [0, 1], as the model saw it (after the eval transform).
        kept: (rows, cols) bool, True for the patches the method keeps; the others are hatched.
        maps: (k, rows, cols) maps of the attributes to show (e.g. the top predicted ones).
        attribute_names / attribute_scores: a name and score per map.
        mask: (S, S) bool object mask, outlined on every panel.

    Returns ``{"path", "kept": rows x cols list or None, "hatched_patches": int,
    "attributes": [names], "scores": [...], "map_shape": [rows, cols] or None}``.
    """
    if kept is None and maps is None:
        raise UsageError("nothing to explain: no patch selection and no attribute maps")
    image = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    size_y, size_x = image.shape[:2]
    panels = (1 if kept is not None else 0) + (0 if maps is None else len(maps))
    cols = min(panels, 4)
    rows = -(-panels // cols)
    fig = _new_figure(2.9 * cols, 3.1 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    panel = 0
    hatched = 0
    if kept is not None:
        from matplotlib.patches import Rectangle

        kept = np.asarray(kept, dtype=bool)
        ax = axes[panel]
        panel += 1
        ax.imshow(image, interpolation="nearest", extent=(0, size_x, size_y, 0))
        ys, xs = patch_edges(size_y, kept.shape[0]), patch_edges(size_x, kept.shape[1])
        # Contextualized patches: a grey veil and hatching; kept patches stay clear.
        for r, c in zip(*np.nonzero(~kept)):
            ax.add_patch(Rectangle((xs[c], ys[r]), xs[c + 1] - xs[c], ys[r + 1] - ys[r], facecolor=(0, 0, 0, 0.35),
                                   edgecolor=(1, 1, 1, 0.7), hatch="///", linewidth=0))
        hatched = int(np.count_nonzero(~kept))
        _outline_mask(ax, mask)
        ax.set_xlim(0, size_x)
        ax.set_ylim(size_y, 0)
        ax.set_title(f"kept {int(kept.sum())}/{kept.size} patches\n(hatched: contextualized)", fontsize=8)
    names = list(attribute_names or [])
    scores = [] if attribute_scores is None else [float(s) for s in attribute_scores]
    if maps is not None:
        maps = np.asarray(maps, dtype=np.float64)
        low, high = float(maps.min()), float(maps.max())  # one colour scale: panels are comparable
        for i, attribute_map in enumerate(maps):
            ax = axes[panel]
            panel += 1
            ax.imshow(image, interpolation="nearest", extent=(0, size_x, size_y, 0))
            ax.imshow(attribute_map, cmap="jet", alpha=0.5, interpolation="bilinear", extent=(0, size_x, size_y, 0),
                      vmin=low, vmax=high if high > low else low + 1e-9)
            _outline_mask(ax, mask)
            name = names[i] if i < len(names) else f"attribute {i}"
            score = f" ({scores[i]:.2f})" if i < len(scores) else ""
            ax.set_title(f"{name}{score}".replace("_", " "), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return {"path": str(_save(fig, out)), "kept": None if kept is None else kept.tolist(),
            "hatched_patches": hatched, "attributes": names, "scores": scores,
            "map_shape": None if maps is None else list(maps.shape[1:])}
