"""A PNG grid of example images per class, for a quick look at a dataset (``zslbench data show``)."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _column(labels, class_id: int) -> np.ndarray:
    column = labels[:, class_id]
    return np.asarray(column.toarray() if hasattr(column, "toarray") else column).ravel()


def _row(labels, index: int) -> np.ndarray:
    row = labels[index]
    return np.asarray(row.toarray() if hasattr(row, "toarray") else row).ravel()


def _class_members(labels, class_id: int) -> np.ndarray:
    """Image indices of a class; multi-label datasets store (N, C) label indicators (+1 present)."""
    if getattr(labels, "ndim", 1) == 2:
        return np.flatnonzero(_column(labels, class_id) > 0)
    return np.flatnonzero(np.asarray(labels) == class_id)


@dataclass
class Tile:
    """One cell of the grid: the class it stands for, the image shown (-1: none left) and its title."""

    class_id: int
    index: int
    title: str
    unseen: bool
    labels: list[str] = field(default_factory=list)  # every label of a multi-label image


@dataclass
class ExampleGrid:
    """What :func:`save_example_grid` draws: a figure title and the tiles, row by row."""

    title: str
    tiles: list[Tile]
    classes: list[int]


def _tile_title(names: list[str], unseen_names: set[str], width: int = 22) -> str:
    """Every label of an image, unseen ones starred, wrapped to the tile's width."""
    import textwrap

    text = ", ".join(f"{n}*" if n in unseen_names else n for n in names) or "(no labels)"
    return "\n".join(textwrap.wrap(text, width)[:4])


def plan_example_grid(dataset: ZSLDataset, per_class: int = 1, max_classes: int = 24, seed: int = 0) -> ExampleGrid:
    """Choose the classes and images of the grid (no image twice) and write every tile's title."""
    rng = np.random.default_rng(seed)
    classes = _pick_classes(dataset, max_classes, rng)
    unseen = set(np.asarray(dataset.unseen_classes).tolist())
    labels = dataset.labels
    multi = getattr(labels, "ndim", 1) == 2
    unseen_names = {dataset.class_names[c].replace("_", " ") for c in unseen}
    used: set[int] = set()
    tiles: list[Tile] = []
    for class_id in classes:
        class_id = int(class_id)
        members = np.asarray([i for i in _class_members(labels, class_id) if int(i) not in used], dtype=np.int64)
        chosen = rng.choice(members, min(per_class, len(members)), replace=False) if len(members) else []
        is_unseen = class_id in unseen
        name = dataset.class_names[class_id].replace("_", " ")
        for index in [int(i) for i in chosen] + [-1] * (per_class - len(chosen)):
            if index < 0:
                tiles.append(Tile(class_id, -1, f"{name}\n(no image left)", is_unseen))
                continue
            used.add(index)
            if multi:
                ids = sorted(np.flatnonzero(_row(labels, index) > 0).tolist(), key=lambda c: c != class_id)
                present = [dataset.class_names[c].replace("_", " ") for c in ids]  # the tile's own label first
                tiles.append(Tile(class_id, index, _tile_title(present, unseen_names), is_unseen, present))
            else:
                tiles.append(Tile(class_id, index, f"{name}\n({'unseen' if is_unseen else 'seen'})", is_unseen, [name]))
    n_unseen = sum(int(c) in unseen for c in classes)
    what, one = ("labels", "label") if multi else ("classes", "class")
    title = (f"{dataset.name}: {len(classes)} of {dataset.num_classes} {what} ({len(classes) - n_unseen} seen, "
             f"{n_unseen} unseen in red), {per_class} image{'s' if per_class > 1 else ''} per {one}")
    if multi:
        title += "; each tile lists all labels of its image, its own label first (* unseen)"
    return ExampleGrid(title, tiles, [int(c) for c in classes])


def save_example_grid(dataset: ZSLDataset, out_path: str | Path, per_class: int = 1, max_classes: int = 24,
                      seed: int = 0, show_masks: bool = False) -> Path:
    """Write a grid of ``per_class`` random images for up to ``max_classes`` classes (PNG, or PDF/SVG by suffix).

    The figure title says how many of the dataset's classes are shown. Each
    image is titled with its class and marked seen or unseen (unseen in red);
    on multi-label data a tile lists every label of its image. No image is
    shown twice. With ``show_masks`` the object mask is outlined (datasets
    with masks only, i.e. the synthetic ones). Returns the path.
    """
    if per_class < 1 or max_classes < 1:
        raise UsageError(f"per_class and max_classes must be >= 1, got {per_class} and {max_classes}")
    if show_masks and dataset.masks is None:
        raise UsageError(f"dataset {dataset.name} has no object masks", "drop --masks")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    grid = plan_example_grid(dataset, per_class, max_classes, seed)
    multi = any(len(t.labels) > 1 for t in grid.tiles) or getattr(dataset.labels, "ndim", 1) == 2
    classes_per_row = max(1, _CLASSES_PER_ROW // per_class)
    cols = classes_per_row * per_class
    rows = -(-len(grid.classes) // classes_per_row)
    title_inches = 0.55 if multi else 0.3
    fig = Figure(figsize=(cols * _CELL_INCHES, rows * (_CELL_INCHES + title_inches) + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, tile in zip(axes.flat, grid.tiles):
        ax.set_title(tile.title, fontsize=6.5 if multi else 7, color="tab:red" if tile.unseen else "black")
        if tile.index < 0:
            continue
        try:
            image = dataset.images.load(tile.index).permute(1, 2, 0).numpy()
        except Exception as exc:  # an unreadable file should name itself, not crash the grid silently
            raise DataError(f"cannot read image {dataset.images.describe(tile.index)}: {exc}") from exc
        ax.imshow(image, interpolation="nearest")
        if show_masks:
            ax.contour(np.asarray(dataset.masks[tile.index], dtype=float), levels=[0.5], colors="white",
                       linewidths=0.8)
    fig.suptitle(grid.title, fontsize=8)
    out = Path(out_path)
    fmt = out.suffix.lstrip(".").lower()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format=fmt if fmt in ("pdf", "svg") else "png", dpi=100)  # the suffix picks the format
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out path") from exc
    return out
