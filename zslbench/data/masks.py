"""Object masks to patch labels, and how well a patch selection finds the object.

Methods that keep or drop ViT patches (SVIP discards the semantically
unrelated ones) can be checked against the object masks of the synthetic
data: :func:`object_patches` turns pixel masks into per-patch labels and
:func:`selection_precision_recall` scores a selection against them.
"""

from __future__ import annotations

import numpy as np

from zslbench.errors import UsageError


def _patch_edges(length_px: int, count: int) -> np.ndarray:
    """Start pixel of each of ``count`` patches along one axis (even split; sizes differ by at most 1)."""
    return (np.arange(count) * length_px) // count


def object_patches(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Which patches of a ``rows x cols`` grid overlap the object, per image.

    Rule: a patch is an object patch when at least one of its pixels is an
    object pixel (any overlap). The image is cut into ``grid`` patches of
    (nearly) equal size, so a 64x64 mask with ``grid=(8, 8)`` gives the 8x8
    patches of a ViT with patch size 8. Patches are numbered row-major, the
    token order of a ViT.

    Args:
        masks: (N, H, W) bool, True on object pixels.
        grid: (rows, cols) of patches.

    Returns:
        (N, rows * cols) bool.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise UsageError(f"masks must have shape (N, H, W), got {masks.shape}")
    rows, cols = (int(g) for g in grid)
    _, height, width = masks.shape
    if not (1 <= rows <= height and 1 <= cols <= width):
        raise UsageError(f"patch grid {rows}x{cols} does not fit masks of {height}x{width} pixels",
                         "use at least one pixel per patch")
    hits = np.logical_or.reduceat(masks.astype(bool), _patch_edges(height, rows), axis=1)
    hits = np.logical_or.reduceat(hits, _patch_edges(width, cols), axis=2)
    return hits.reshape(len(masks), rows * cols)


def selection_precision_recall(kept: np.ndarray, object_patches: np.ndarray) -> tuple[float, float]:
    """Precision and recall of a patch selection against the object patches, micro-averaged.

    precision = kept object patches / kept patches, recall = kept object
    patches / object patches, both counted over all images together (so an
    image with many patches weighs more). An empty denominator gives 0.0
    (scikit-learn's ``zero_division=0`` convention): keeping nothing has
    precision 0, not a vacuous 1.

    Args:
        kept: (N, P) bool, True for patches the method keeps.
        object_patches: (N, P) bool, from :func:`object_patches`.
    """
    kept, target = np.asarray(kept, dtype=bool), np.asarray(object_patches, dtype=bool)
    if kept.shape != target.shape:
        raise UsageError(f"kept patches {kept.shape} and object patches {target.shape} differ in shape",
                         "compute object_patches with the model's patch grid")
    hits = int(np.count_nonzero(kept & target))
    num_kept, num_object = int(np.count_nonzero(kept)), int(np.count_nonzero(target))
    precision = hits / num_kept if num_kept else 0.0
    recall = hits / num_object if num_object else 0.0
    return precision, recall
