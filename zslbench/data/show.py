"""A PNG grid of example images per class, for a quick look at a dataset (``zslbench data show``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, UsageError

_CELL_INCHES = 1.6
_CLASSES_PER_ROW = 6


def _pick_classes(dataset: ZSLDataset, max_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``max_classes`` class ids, seen and unseen in proportion (at least one unseen if any)."""
    seen, unseen = np.asarray(dataset.seen_classes), np.asarray(dataset.unseen_classes)
    if len(seen) + len(unseen) <= max_classes:
        return np.concatenate([np.sort(seen), np.sort(unseen)])
    n_unseen = int(round(max_classes * len(unseen) / (len(seen) + len(unseen))))
    n_unseen = min(len(unseen), max(n_unseen, 1 if len(unseen) else 0), max_classes)
    n_seen = min(len(seen), max_classes - n_unseen)
    return np.concatenate([np.sort(rng.choice(seen, n_seen, replace=False)),
                           np.sort(rng.choice(unseen, n_unseen, replace=False))])


def _class_members(labels: np.ndarray, class_id: int) -> np.ndarray:
    """Image indices of a class; multi-label datasets store (N, C) label indicators."""
    return np.flatnonzero(labels[:, class_id] > 0) if labels.ndim == 2 else np.flatnonzero(labels == class_id)


def save_example_grid(dataset: ZSLDataset, out_path: str | Path, per_class: int = 1, max_classes: int = 24,
                      seed: int = 0, show_masks: bool = False) -> Path:
    """Write a PNG grid of ``per_class`` random images for up to ``max_classes`` classes.

    Each image is titled with its class name and marked seen or unseen
    (unseen titles in red). With ``show_masks`` the object mask is outlined
    (datasets with masks only, i.e. the synthetic ones). Returns the path.
    """
    if per_class < 1 or max_classes < 1:
        raise UsageError(f"per_class and max_classes must be >= 1, got {per_class} and {max_classes}")
    if show_masks and dataset.masks is None:
        raise UsageError(f"dataset {dataset.name} has no object masks", "drop --masks")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    rng = np.random.default_rng(seed)
    classes = _pick_classes(dataset, max_classes, rng)
    unseen = set(np.asarray(dataset.unseen_classes).tolist())
    labels = np.asarray(dataset.labels)
    cells: list[tuple[int, int]] = []  # (class id, image index or -1 when the class has too few images)
    for class_id in classes:
        members = _class_members(labels, int(class_id))
        chosen = rng.choice(members, min(per_class, len(members)), replace=False) if len(members) else []
        cells += [(int(class_id), int(i)) for i in chosen] + [(int(class_id), -1)] * (per_class - len(chosen))

    classes_per_row = max(1, _CLASSES_PER_ROW // per_class)
    cols = classes_per_row * per_class
    rows = -(-len(classes) // classes_per_row)
    fig = Figure(figsize=(cols * _CELL_INCHES, rows * (_CELL_INCHES + 0.25)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (class_id, index) in zip(axes.flat, cells):
        title = dataset.class_names[class_id].replace("_", " ")
        is_unseen = class_id in unseen
        ax.set_title(f"{title}\n({'unseen' if is_unseen else 'seen'})", fontsize=7,
                     color="tab:red" if is_unseen else "black")
        if index < 0:
            continue
        try:
            image = dataset.images.load(index).permute(1, 2, 0).numpy()
        except Exception as exc:  # an unreadable file should name itself, not crash the grid silently
            raise DataError(f"cannot read image {dataset.images.describe(index)}: {exc}") from exc
        ax.imshow(image, interpolation="nearest")
        if show_masks:
            ax.contour(np.asarray(dataset.masks[index], dtype=float), levels=[0.5], colors="white",
                       linewidths=0.8)
    fig.tight_layout()
    out = Path(out_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=100)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out path") from exc
    return out
