"""Pixel masks to patch labels, and precision/recall of a patch selection."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.data.masks import object_patches, selection_precision_recall
from zslbench.errors import UsageError


def test_object_patches_any_overlap_rule():
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, 0, 0] = True  # one pixel in the top-left 2x2 patch
    masks[0, 3, 2] = True  # one pixel in the bottom-right patch
    masks[1, 1:3, 1:3] = True  # a centred 2x2 square touches all four patches
    patches = object_patches(masks, (2, 2))
    assert patches.dtype == bool
    assert patches.tolist() == [[True, False, False, True], [True, True, True, True]]


def test_object_patches_row_major_order_and_non_square_grid():
    masks = np.zeros((1, 4, 6), dtype=bool)
    masks[0, 3, 5] = True  # bottom-right pixel
    masks[0, 0, 2] = True  # top row, middle patch of a 2x3 grid
    patches = object_patches(masks, (2, 3))
    assert patches.tolist() == [[False, True, False, False, False, True]]


def test_object_patches_uneven_split_covers_every_pixel():
    masks = np.zeros((1, 5, 5), dtype=bool)
    masks[0, 4, 4] = True  # last pixel must land in the last patch even though 5 % 2 != 0
    assert object_patches(masks, (2, 2)).tolist() == [[False, False, False, True]]


def test_object_patches_matches_vit_patchification():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 64, 64)) > 0.995
    patches = object_patches(masks, (8, 8))
    expected = masks.reshape(3, 8, 8, 8, 8).any(axis=(2, 4)).reshape(3, 64)
    assert np.array_equal(patches, expected)


def test_object_patches_rejects_bad_input():
    with pytest.raises(UsageError):
        object_patches(np.zeros((4, 4), dtype=bool), (2, 2))
    with pytest.raises(UsageError):
        object_patches(np.zeros((1, 4, 4), dtype=bool), (8, 8))


def test_precision_recall_micro_averaged():
    target = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    kept = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], dtype=bool)
    precision, recall = selection_precision_recall(kept, target)
    # kept 6 patches, 2 on the object; 3 object patches, 2 kept
    assert precision == pytest.approx(2 / 6)
    assert recall == pytest.approx(2 / 3)


def test_precision_recall_perfect_selection():
    target = np.array([[0, 1, 1, 0]], dtype=bool)
    assert selection_precision_recall(target.copy(), target) == (1.0, 1.0)


def test_precision_recall_nothing_kept_or_no_object():
    target = np.array([[0, 1, 1, 0]], dtype=bool)
    assert selection_precision_recall(np.zeros_like(target), target) == (0.0, 0.0)
    assert selection_precision_recall(target, np.zeros_like(target)) == (0.0, 0.0)


def test_precision_recall_shape_mismatch():
    with pytest.raises(UsageError):
        selection_precision_recall(np.ones((1, 4), bool), np.ones((1, 5), bool))
