"""Selection controls of SVIP: who picks the M kept patch groups S_M (Eq. 8), in training and at inference.

``method.selection``:

* ``learned`` - the method itself: the patch classifier's scores (or, with
  ``selection_in_training=attention``, the attention score while training);
* ``random`` - M groups drawn uniformly per image;
* ``mask-oracle`` - the M groups with the largest share of object pixels
  (object masks of the dataset; ties, e.g. among background groups, broken at
  random);
* ``inverted`` - the M groups the learned scores rank *lowest*.

These measure the benchmark, not the method: on a benchmark where patch
selection matters, mask-oracle must clearly beat random, and learned selection
should sit between random and the oracle.
"""

from __future__ import annotations

import numpy as np
import torch

from zslbench.errors import UsageError

from zslbench_svip.options import SELECTIONS  # noqa: F401  (defined without torch, for the options)


def object_fractions(masks: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """(N, rows*cols) share of object pixels in each cell of a ``rows x cols`` grid (row-major), float32."""
    masks = np.asarray(masks, dtype=np.float32)
    n, height, width = masks.shape
    rows, cols = grid
    row_edges, col_edges = (np.arange(rows) * height) // rows, (np.arange(cols) * width) // cols
    sums = np.add.reduceat(np.add.reduceat(masks, row_edges, axis=1), col_edges, axis=2)
    heights = np.diff(np.append(row_edges, height))[:, None]
    widths = np.diff(np.append(col_edges, width))[None, :]
    return torch.from_numpy((sums / (heights * widths)).reshape(n, rows * cols).astype(np.float32))


def selection_scores(mode: str, learned: torch.Tensor, object_fraction: torch.Tensor | None) -> torch.Tensor:
    """(B, G) scores whose top M is the selection of ``mode`` (higher = kept first)."""
    if mode == "learned":
        return learned
    if mode == "inverted":
        return -learned
    if mode == "random":
        return torch.rand(learned.shape, device=learned.device)
    if mode == "mask-oracle":
        if object_fraction is None:
            raise RuntimeError("mask-oracle selection without the batch's object masks (set_batch_indices not called)")
        # random tie-break, far below the 1/pixels-per-group resolution of the fractions
        return object_fraction.to(learned.device) + 1e-4 * torch.rand(learned.shape, device=learned.device)
    raise ValueError(f"unknown selection {mode!r}")


def select(mode: str, learned: torch.Tensor, num_kept: int, object_fraction: torch.Tensor | None = None) -> torch.Tensor:
    """S_M of ``mode`` as sorted group ids (B, M); ``learned`` (B, G) are the method's own scores."""
    scores = selection_scores(mode, learned.detach(), object_fraction)
    return scores.topk(num_kept, dim=-1).indices.sort(dim=-1).values


def check_masks(mode: str, object_masks: np.ndarray | None, dataset_name: str) -> None:
    """mask-oracle needs per-image object masks: a usage error (before anything runs) where the dataset has none."""
    if mode == "mask-oracle" and object_masks is None:
        raise UsageError(f"method.selection=mask-oracle needs object masks and dataset {dataset_name!r} has none",
                         "use it on a synthetic dataset, or choose method.selection=learned, random or inverted")
