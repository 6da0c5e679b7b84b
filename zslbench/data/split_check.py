"""Split integrity: no image in two splits that must be apart, no unseen class in training.

:func:`check_split_integrity` is called by :meth:`ZSLDataset.validate` (so by
every run) and by ``zslbench data check`` on the split files themselves. A
leaked split would otherwise run and report inflated numbers (a test_seen
image also in trainval is scored on data the model was fitted on).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from zslbench.errors import DataError

#: How many offending ids an error lists.
IDS_SHOWN = 5
TRAINING_SPLITS = ("trainval", "train")
VALIDATION_SPLITS = ("validation", "val")


class SplitIntegrityError(DataError):
    """Splits that overlap, indices out of range or repeated, or unseen classes in training."""


def _ids(values) -> str:
    values = sorted(int(v) for v in values)
    more = ", ..." if len(values) > IDS_SHOWN else ""
    return "[" + ", ".join(str(v) for v in values[:IDS_SHOWN]) + more + "]"


def _fail(name: str, message: str) -> None:
    raise SplitIntegrityError(f"{name}: {message}",
                              f"the split definition leaks or is damaged; use the original split files "
                              f"(`zslbench data check {name.split('[')[0]}`)")


def _check_indices(name: str, split: str, idx: np.ndarray, num_images: int) -> None:
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        _fail(name, f"split {split} holds non-integer image indices ({idx.dtype})")
    bad = idx[(idx < 0) | (idx >= num_images)]
    if bad.size:
        _fail(name, f"split {split} refers to images outside 0..{num_images - 1}: {_ids(np.unique(bad))}")
    values, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        _fail(name, f"split {split} lists {int((counts > 1).sum())} images more than once: {_ids(values[counts > 1])}")


def _must_be_apart(names: list[str]) -> list[tuple[str, str]]:
    """Pairs of splits that may not share an image: test splits vs everything, validation vs train."""
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a.startswith("test") or b.startswith("test"):
                pairs.append((a, b))
            elif {a, b} & set(VALIDATION_SPLITS) and {a, b} & {"train"}:
                pairs.append((a, b))
    return pairs


def check_split_integrity(name: str, splits: Mapping[str, np.ndarray], num_images: int, labels: np.ndarray | None = None,
                          seen_classes: np.ndarray | None = None, unseen_classes: np.ndarray | None = None,
                          train_classes: np.ndarray | None = None, val_classes: np.ndarray | None = None) -> None:
    """Raise :class:`SplitIntegrityError` naming the split and the first offending ids.

    Checks: indices are integers in range and unique within a split; test
    splits share no image with each other or with any other split; a
    validation split shares none with ``train``; with single-label ``labels``
    (1-D) no training split holds an image of an unseen class; the GBU train
    and validation classes are disjoint seen classes.
    """
    arrays = {split: np.asarray(idx).reshape(-1) for split, idx in splits.items()}
    for split, idx in arrays.items():
        _check_indices(name, split, idx, num_images)
    ordered = sorted(arrays, key=lambda s: (s not in TRAINING_SPLITS, s))
    for a, b in _must_be_apart(ordered):
        shared = np.intersect1d(arrays[a], arrays[b])
        if shared.size:
            _fail(name, f"split {b} shares {shared.size} images with {a}: {_ids(shared)}")
    if labels is not None and np.ndim(labels) == 1 and unseen_classes is not None:
        unseen = np.asarray(unseen_classes)
        for split in TRAINING_SPLITS:
            if split in arrays:
                leaked = arrays[split][np.isin(np.asarray(labels)[arrays[split]], unseen)]
                if leaked.size:
                    _fail(name, f"split {split} holds {leaked.size} images of unseen classes "
                                f"{_ids(np.unique(np.asarray(labels)[leaked]))}, e.g. images {_ids(leaked)}")
    if train_classes is not None and val_classes is not None:
        both = np.intersect1d(train_classes, val_classes)
        if both.size:
            _fail(name, f"the GBU train and validation classes share {both.size} classes: {_ids(both)}")
    if seen_classes is not None:
        for label, classes in (("train", train_classes), ("validation", val_classes)):
            outside = np.setdiff1d(classes, seen_classes) if classes is not None else np.zeros(0)
            if outside.size:
                _fail(name, f"the GBU {label} classes include classes that are not seen: {_ids(outside)}")
