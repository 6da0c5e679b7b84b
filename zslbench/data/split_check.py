"""Split integrity: no image in two splits that must be apart, no unseen class in training.

:func:`check_split_integrity` is called by :meth:`ZSLDataset.validate` (so by
every run) and by ``zslbench data check`` on the split files themselves. A
leaked split would otherwise run and report inflated numbers (a test_seen
image also in trainval is scored on data the model was fitted on). Two rows
naming the same image file are the same image: a test row whose file is also a
training row leaks as surely as a shared index.

:func:`check_class_presence` makes sure every class of a group is scored: a
seen class without test_seen images, or an unseen class without test_unseen
images, would silently leave the label set (T1 over the classes that remain).
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


def _check_files_apart(name: str, a: str, b: str, idx_a: np.ndarray, idx_b: np.ndarray, files: np.ndarray) -> None:
    """Rows of ``a`` and ``b`` may not name the same image file (a leak by file name, not by index)."""
    shared, pos_a, pos_b = np.intersect1d(files[idx_a], files[idx_b], return_indices=True)
    if shared.size:
        shown = ", ".join(str(f) for f in shared[:IDS_SHOWN]) + (", ..." if shared.size > IDS_SHOWN else "")
        _fail(name, f"split {b} names {shared.size} image files also in {a}: {shown} "
                    f"(images {_ids(idx_b[pos_b])} of {b}, {_ids(idx_a[pos_a])} of {a})")


def check_split_integrity(name: str, splits: Mapping[str, np.ndarray], num_images: int, labels: np.ndarray | None = None,
                          seen_classes: np.ndarray | None = None, unseen_classes: np.ndarray | None = None,
                          train_classes: np.ndarray | None = None, val_classes: np.ndarray | None = None,
                          files: np.ndarray | None = None) -> None:
    """Raise :class:`SplitIntegrityError` naming the split and the first offending ids.

    Checks: indices are integers in range and unique within a split; test
    splits share no image with each other or with any other split, neither
    by index nor, given ``files`` (one file identity per image, e.g. its path
    relative to the image folder), by file; a validation split shares none
    with ``train``; with single-label ``labels`` (1-D) no training split holds
    an image of an unseen class; the GBU train and validation classes are
    disjoint seen classes.
    """
    arrays = {split: np.asarray(idx).reshape(-1) for split, idx in splits.items()}
    for split, idx in arrays.items():
        _check_indices(name, split, idx, num_images)
    file_ids = None if files is None else np.asarray(files, dtype=str).reshape(-1)
    if file_ids is not None and len(file_ids) != num_images:
        raise ValueError(f"{name}: {len(file_ids)} file names for {num_images} images")
    ordered = sorted(arrays, key=lambda s: (s not in TRAINING_SPLITS, s))
    for a, b in _must_be_apart(ordered):
        shared = np.intersect1d(arrays[a], arrays[b])
        if shared.size:
            _fail(name, f"split {b} shares {shared.size} images with {a}: {_ids(shared)}")
        if file_ids is not None:
            _check_files_apart(name, a, b, arrays[a], arrays[b], file_ids)
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


def check_class_presence(name: str, labels: np.ndarray, splits: Mapping[str, np.ndarray], seen_classes: np.ndarray,
                         unseen_classes: np.ndarray, class_names: list[str] | None = None) -> None:
    """The trainval and test_seen images are of seen classes and the test_unseen images of unseen ones, and
    every seen class has trainval and test_seen images, every unseen class test_unseen images.

    Single-label only (``labels`` 1-D). Raise :class:`SplitIntegrityError`
    naming the split and the first classes out of place or without images.
    """
    labels = np.asarray(labels)
    for split, classes, group in (("trainval", seen_classes, "seen"), ("test_seen", seen_classes, "seen"),
                                  ("test_unseen", unseen_classes, "unseen")):
        if split not in splits:
            continue
        present = np.unique(labels[np.asarray(splits[split], dtype=np.int64)])
        foreign = np.setdiff1d(present, np.asarray(classes))
        if foreign.size:
            _fail(name, f"split {split} holds images of classes {_ids(foreign)} that are not {group} classes")
        absent = np.setdiff1d(np.asarray(classes), present)
        if absent.size:
            named = "" if class_names is None else " (" + ", ".join(
                class_names[int(c)] for c in absent[:IDS_SHOWN]) + (", ..." if absent.size > IDS_SHOWN else "") + ")"
            _fail(name, f"split {split} has no images of {absent.size} {group} classes {_ids(absent)}{named}: "
                        "they would silently leave the evaluation")
