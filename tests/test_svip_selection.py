"""SVIP's selection controls (method.selection) on hand-made batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zslbench.errors import UsageError
from zslbench.methods import MethodContext

from zslbench_svip import selection
from zslbench_svip.model import SVIPOptions
from zslbench_svip.plugin import build_svip

M = 2


def _masks() -> np.ndarray:
    """Two 4x4-pixel images on a 2x2 grid of 2x2-pixel cells: image 0 has the object in cell 3, image 1 in cells 0-1."""
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, 2:, 2:] = True
    masks[1, 0, :] = True  # half of cells 0 and 1
    return masks


def test_object_fractions_per_cell():
    fractions = selection.object_fractions(_masks(), (2, 2))
    np.testing.assert_allclose(fractions.numpy(), [[0, 0, 0, 1], [0.5, 0.5, 0, 0]])


def test_learned_and_inverted_take_the_top_and_bottom_scores():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [2.0, -1.0, 0.0, 1.0]])
    assert selection.select("learned", scores, M).tolist() == [[1, 2], [0, 3]]
    assert selection.select("inverted", scores, M).tolist() == [[0, 3], [1, 2]]


def test_mask_oracle_keeps_the_object_cells_whatever_the_scores():
    scores = torch.tensor([[9.0, 8.0, 7.0, -9.0], [-5.0, -5.0, 5.0, 5.0]])
    fractions = selection.object_fractions(_masks(), (2, 2))
    for _ in range(5):
        kept = selection.select("mask-oracle", scores, M, fractions)
        assert 3 in kept[0].tolist()  # image 0: its one object cell, plus one background cell
        assert kept[1].tolist() == [0, 1]  # image 1: both object cells


def test_random_ignores_the_scores_and_varies():
    torch.manual_seed(0)
    scores = torch.arange(16.0).repeat(200, 1)
    kept = selection.select("random", scores, 4)
    assert kept.shape == (200, 4)
    assert all(len(set(row.tolist())) == 4 for row in kept)
    counts = torch.bincount(kept.flatten(), minlength=16).float()
    assert counts.min() > 20 and counts.max() < 80  # about uniform (expected 50 each)
    assert len({tuple(row.tolist()) for row in kept}) > 150


def _context(masks: np.ndarray | None) -> MethodContext:
    rng = np.random.default_rng(0)
    return MethodContext(dataset_name="synthetic-v2-tiny", attribute_names=[f"a{i}" for i in range(8)], num_attributes=8,
                         image_size=48, attribute_groups=[[0, 1, 2, 3], [4, 5, 6, 7]], backbone="vit-synthetic-v2-tiny",
                         pretrained="none", attribute_vectors=lambda: rng.normal(size=(8, 50)).astype(np.float32),
                         object_masks=masks)


def test_mask_oracle_without_masks_is_a_usage_error():
    options = SVIPOptions(num_kept=6, group_size=1, patch_classifier_hidden=8, selection="mask-oracle")
    with pytest.raises(UsageError, match="mask-oracle needs object masks"):
        build_svip(_context(None), options)


def test_model_selects_by_the_batch_masks_in_training_and_inference():
    masks = np.zeros((3, 48, 48), dtype=bool)
    masks[0, :12, :12] = True  # cell 0 of the 4x4 grid of 12-pixel patches
    masks[1, 36:, 36:] = True  # cell 15
    masks[2, 12:24, 12:36] = True  # cells 5 and 6
    model = build_svip(_context(masks), SVIPOptions(num_kept=2, group_size=1, patch_classifier_hidden=8,
                                                    selection="mask-oracle"))
    images = torch.randn(2, 3, 48, 48)
    model.set_batch_indices(torch.tensor([2, 0]))
    kept = model.patch_selection(images)
    assert kept[0].nonzero().flatten().tolist() == [5, 6]
    assert kept[1, 0] and kept[1].sum() == 2
    losses = model.training_losses(images, torch.tensor([0, 1]), torch.eye(8)[:3])
    assert torch.isfinite(losses["loss"])
    scores = model.selection_scores(images)
    assert scores[0, 5] > 0.9 and scores[0, 6] > 0.9 and scores[0, 0] < 0.01


def test_selection_controls_need_ssps():
    with pytest.raises(UsageError, match="use_ssps"):
        SVIPOptions(selection="random", use_ssps=False).validate()
    with pytest.raises(UsageError, match="method.selection"):
        SVIPOptions(selection="oracle").validate()
