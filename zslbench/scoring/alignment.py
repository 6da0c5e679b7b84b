"""Which image and which class each row and column of a stored prediction matrix is, and the checks on it.

Row conventions (see docs/scoring.md):

* ``seen-first`` (the default): the test_seen images, then the test_unseen
  images, each block in the order of the split file (``test_seen_loc`` /
  ``test_unseen_loc`` of ``att_splits.mat``; for generated datasets, the order
  of their split arrays);
* ``unseen-first``: the same two blocks, test_unseen first;
* ``--row-ids FILE``: one image per line, named by its path (the part after the
  image folder, as in ``res101.mat``, or any path ending with it) or by its
  0-based row in the dataset's image list (the rows of ``res101.mat``).

Columns are all classes in the split file's class order (``allclasses_names``),
or the order of the class names given with ``--columns FILE``.

Every mismatch is a one-line error raised before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zslbench.errors import DataError, UsageError

ROW_ORDERS = ("seen-first", "unseen-first")


@dataclass
class RowBlocks:
    """Rows of a prediction matrix per group: ``seen_rows`` / ``unseen_rows`` index the matrix, ``*_images`` the dataset."""

    seen_rows: np.ndarray
    unseen_rows: np.ndarray
    seen_images: np.ndarray
    unseen_images: np.ndarray
    convention: str

    @property
    def num_rows(self) -> int:
        return int(len(self.seen_rows) + len(self.unseen_rows))


# --------------------------------------------------------------------------- the dataset's side


def split_file_order(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Image indices of test_seen and test_unseen in the split file's order (the loader keeps them sorted).

    xlsa17 datasets: re-read ``test_seen_loc`` / ``test_unseen_loc`` from
    ``att_splits.mat``; generated datasets: their split arrays as they are.
    """
    split_file = dataset.meta.get("split_file")
    if split_file:
        from zslbench.data.xlsa17 import read_dataset_splits

        splits = read_dataset_splits(dataset.name, Path(split_file))
        seen, unseen = splits.test_seen_loc, splits.test_unseen_loc
        kept = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
        return seen[np.isin(seen, kept)], unseen[np.isin(unseen, kept)]
    return np.asarray(dataset.splits["test_seen"]), np.asarray(dataset.splits["test_unseen"])


def image_names(dataset: Any) -> list[str] | None:
    """Each image's path relative to the dataset's image folder (None for datasets without image files)."""
    paths = getattr(dataset.images, "paths", None)
    image_dir = dataset.meta.get("image_dir")
    if paths is None or not image_dir:
        return None
    base = Path(image_dir)
    out = []
    for path in paths:
        try:
            out.append(Path(path).relative_to(base).as_posix())
        except ValueError:
            out.append(Path(path).as_posix())
    return out


# --------------------------------------------------------------------------- rows


def count_error(what: str, n_rows: int, dataset_name: str, n_seen: int, n_unseen: int,
                n_trainval: int | None = None, seen_name: str = "test_seen",
                unseen_name: str = "test_unseen") -> DataError:
    """The row-count error, naming the per-split counts and the likely cause."""
    expected = n_seen + n_unseen
    causes = {n_seen: f"only the {seen_name} rows?", n_unseen: f"only the {unseen_name} rows?"}
    if n_trainval is not None:
        causes[expected + n_trainval] = "trainval rows included?"
    cause = causes.get(n_rows, "are these predictions for another dataset or split?")
    return DataError(f"{what} have {n_rows} rows but {dataset_name} has {n_seen} {seen_name} + {n_unseen} "
                     f"{unseen_name} = {expected} images: {cause}",
                     "rows are the test_seen then test_unseen images in split-file order (see --order, --row-ids)")


def rows_by_order(n_rows: int, seen_images: np.ndarray, unseen_images: np.ndarray, order: str,
                  what: str, dataset_name: str, n_trainval: int | None = None,
                  names: tuple[str, str] = ("test_seen", "test_unseen")) -> RowBlocks:
    """The two blocks in ``order`` (``seen-first`` / ``unseen-first``); a count error when they do not fit."""
    if order not in ROW_ORDERS:
        raise UsageError(f"unknown row order {order!r}", f"use one of {', '.join(ROW_ORDERS)}")
    n_seen, n_unseen = len(seen_images), len(unseen_images)
    if n_rows != n_seen + n_unseen:
        raise count_error(what, n_rows, dataset_name, n_seen, n_unseen, n_trainval, *names)
    first, second = (n_seen, n_unseen) if order == "seen-first" else (n_unseen, n_seen)
    block_a, block_b = np.arange(first), np.arange(first, first + second)
    seen_rows, unseen_rows = (block_a, block_b) if order == "seen-first" else (block_b, block_a)
    return RowBlocks(seen_rows, unseen_rows, np.asarray(seen_images), np.asarray(unseen_images),
                     f"{order}: {names[0] if order == 'seen-first' else names[1]} rows, then "
                     f"{names[1] if order == 'seen-first' else names[0]} rows, in split-file order")


def image_indices(ids: Sequence[str], dataset: Any, what: str) -> np.ndarray:
    """Dataset image indices of row ids: 0-based image-list rows (all integers) or image paths."""
    n_images = len(dataset.labels)
    if ids and all(i.lstrip("-").isdigit() for i in ids):
        indices = np.array([int(i) for i in ids], dtype=np.int64)
        bad = np.flatnonzero((indices < 0) | (indices >= n_images))
        if bad.size:
            raise DataError(f"{what}: id {ids[bad[0]]} (line {bad[0] + 1}) is not an image of {dataset.name} "
                            f"(0..{n_images - 1})", "integer ids are 0-based rows of the dataset's image list")
        return indices
    names = image_names(dataset)
    if names is None:
        raise UsageError(f"{dataset.name} has no image files: {what} must be 0-based image indices")
    lookup = {name: i for i, name in enumerate(names)}
    out = np.empty(len(ids), dtype=np.int64)
    for line, raw in enumerate(ids):
        parts = raw.replace("\\", "/").split("/")
        # The longest suffix of the id that is a known relative path (absolute paths of any machine match).
        hit = next((lookup[s] for s in ("/".join(parts[k:]) for k in range(len(parts))) if s in lookup), None)
        if hit is None:
            raise DataError(f"{what}: {raw!r} (line {line + 1}) is not an image of {dataset.name}",
                            f"ids are image paths such as {names[0]!r} (or ending with one), or 0-based indices")
        out[line] = hit
    return out


def _check_unique(indices: np.ndarray, ids: Sequence[str], what: str) -> None:
    values, first, counts = np.unique(indices, return_index=True, return_counts=True)
    if np.any(counts > 1):
        twice = int(first[np.argmax(counts > 1)])
        raise DataError(f"{what}: {ids[twice]!r} is listed {int(counts.max())} times",
                        "each image must have exactly one row")


def rows_by_ids(ids: Sequence[str], n_rows: int, dataset: Any, what: str) -> RowBlocks:
    """Rows named by image ids; every test image exactly once, no other image."""
    if len(ids) != n_rows:
        raise DataError(f"{what} lists {len(ids)} ids but the predictions have {n_rows} rows",
                        "one id per prediction row, in the same order")
    indices = image_indices(ids, dataset, what)
    _check_unique(indices, ids, what)
    seen_mask = np.isin(indices, dataset.splits["test_seen"])
    unseen_mask = np.isin(indices, dataset.splits["test_unseen"])
    stray = np.flatnonzero(~(seen_mask | unseen_mask))
    if stray.size:
        raise DataError(f"{what}: {ids[stray[0]]!r} (line {stray[0] + 1}) is not a test image of {dataset.name} "
                        f"({stray.size} such ids)", "score the test_seen and test_unseen images only")
    expected = len(dataset.splits["test_seen"]) + len(dataset.splits["test_unseen"])
    if len(indices) != expected:
        raise DataError(f"{what} covers {len(indices)} of the {expected} test images of {dataset.name}",
                        "the protocol scores every test_seen and test_unseen image")
    return RowBlocks(np.flatnonzero(seen_mask), np.flatnonzero(unseen_mask), indices[seen_mask], indices[unseen_mask],
                     "row ids: one image per row, as listed in the row-ids file")


def validation_rows_by_ids(ids: Sequence[str], n_rows: int, dataset: Any, train_classes: np.ndarray,
                           val_classes: np.ndarray, what: str) -> RowBlocks:
    """Validation rows named by ids: trainval images only; pseudo-unseen = images of the validation classes."""
    if len(ids) != n_rows:
        raise DataError(f"{what} lists {len(ids)} ids but the validation predictions have {n_rows} rows",
                        "one id per validation row, in the same order")
    indices = image_indices(ids, dataset, what)
    _check_unique(indices, ids, what)
    outside = np.flatnonzero(~np.isin(indices, dataset.splits["trainval"]))
    if outside.size:
        raise DataError(f"{what}: {ids[outside[0]]!r} (line {outside[0] + 1}) is not a trainval image "
                        f"({outside.size} such ids)", "validation data comes from trainval only, never from test images")
    labels = dataset.labels[indices]
    seen_mask, unseen_mask = np.isin(labels, train_classes), np.isin(labels, val_classes)
    return RowBlocks(np.flatnonzero(seen_mask), np.flatnonzero(unseen_mask), indices[seen_mask], indices[unseen_mask],
                     "validation row ids: pseudo-seen = images of the train classes, pseudo-unseen = of the "
                     "validation classes")


@dataclass
class RowReading:
    """Another way the rows may have been written: the label each row would then have, and what to tell the user."""

    what: str  # "swapped", "sorted"
    reading: str  # "as unseen-first"
    cause: str  # "unseen rows first?"
    hint: str
    labels: np.ndarray


def row_labels(n_rows: int, seen_rows: np.ndarray, unseen_rows: np.ndarray, seen_labels: np.ndarray,
               unseen_labels: np.ndarray) -> np.ndarray:
    """The label of every row, from the rows and labels of the two blocks."""
    out = np.empty(n_rows, dtype=np.int64)
    out[seen_rows], out[unseen_rows] = seen_labels, unseen_labels
    return out


def misread_rows_error(order: str, predicted: np.ndarray, labels_as_given: np.ndarray,
                       readings: Sequence[RowReading]) -> DataError | None:
    """A refusal when the rows fit another reading of the file far better (blocks swapped, blocks sorted).

    Fit is the share of rows whose top-1 class is the label, over the rows whose
    label differs between the two readings (so one block read right does not
    hide the other read wrong). Read the wrong way, the labels sit beside other
    images and agreement drops to chance; the refusal needs the other reading
    to agree twice as often and by more than five standard errors, which rows
    read the right way never do for a model better than chance.
    """
    for reading in readings:
        differ = labels_as_given != reading.labels
        n = int(np.count_nonzero(differ))
        if n == 0:
            continue
        given = float(np.mean(predicted[differ] == labels_as_given[differ]))
        fit = float(np.mean(predicted[differ] == reading.labels[differ]))
        pooled = (given + fit) / 2
        if fit >= 2 * given and fit - given > 5 * np.sqrt(pooled * (1 - pooled) / n):
            return DataError(f"the rows look {reading.what}: top-1 agrees with {given:.1%} of the labels as {order} in "
                             f"split-file order but with {fit:.1%} {reading.reading} (over the {n} rows whose label "
                             f"differs): {reading.cause}", reading.hint)
    return None


# --------------------------------------------------------------------------- columns and labels


def column_count_error(what: str, n_columns: int, dataset: Any) -> DataError:
    n_seen, n_unseen = len(dataset.seen_classes), len(dataset.unseen_classes)
    causes = {n_seen: "only the seen classes?",
              n_unseen: "only the unseen classes? (ZSL-only scores cannot give the GZSL numbers)"}
    return DataError(f"{what} have {n_columns} columns but {dataset.name} has {dataset.num_classes} classes "
                     f"({n_seen} seen + {n_unseen} unseen): {causes.get(n_columns, 'another dataset?')}",
                     "columns are all classes in the split file's class order (or name them with --columns)")


def column_permutation(names: Sequence[str], class_names: Sequence[str], what: str) -> np.ndarray:
    """``perm`` with ``matrix[:, perm]`` in the dataset's class order, from the file's column class names."""
    if len(names) != len(class_names):
        raise DataError(f"{what} names {len(names)} classes but the dataset has {len(class_names)}",
                        "name every class once, in the order of the matrix columns")
    position = {n: i for i, n in enumerate(names)}
    if len(position) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{what} names class {twice!r} twice", "name every class once")
    unknown = [n for n in names if n not in set(class_names)]
    if unknown:
        raise DataError(f"{what} names {unknown[0]!r}, which is not a class of the dataset "
                        f"({len(unknown)} unknown names)", f"class names as in the split file, e.g. {class_names[0]!r}")
    return np.array([position[n] for n in class_names], dtype=np.int64)


def labels_from_lines(lines: Sequence[str], n_rows: int, num_classes: int, what: str) -> np.ndarray:
    """0-based class ids, one per prediction row."""
    if len(lines) != n_rows:
        raise DataError(f"{what} holds {len(lines)} labels but the predictions have {n_rows} rows",
                        "one 0-based class id per prediction row, in the same order")
    try:
        labels = np.array([int(line) for line in lines], dtype=np.int64)
    except ValueError:
        raise DataError(f"{what} holds a line that is not an integer class id", "one 0-based class id per line") from None
    require_class_ids(labels, num_classes, f"{what}: label", "line", 1,
                      "labels are 0-based class ids in the split file's class order", "res101.mat's")
    return labels


def require_class_ids(ids: np.ndarray, limit: int, what: str, position: str, first_position: int, hint: str,
                      one_based_source: str) -> None:
    """A one-line DataError naming the first id outside ``0..limit-1`` (e.g. ``label 7 (line 3)``); when every id
    fits ``1..limit`` the message asks "1-based labels?" and the hint says ``one_based_source`` are 1-based."""
    bad = np.flatnonzero((ids < 0) | (ids >= limit))
    if not bad.size:
        return
    one_based = ids.min() >= 1 and ids.max() == limit
    raise DataError(f"{what} {ids[bad[0]]} ({position} {bad[0] + first_position}) is not a class id 0..{limit - 1}"
                    + (": 1-based labels?" if one_based else ""),
                    hint + (f" ({one_based_source} are 1-based: subtract 1)" if one_based else ""))
