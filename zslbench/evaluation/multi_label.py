"""The multi-label zero-shot protocol: mAP over labels and F1@K, for ZSL and GZSL.

Inputs are a score matrix (N images, L labels) and an annotation matrix of the
same shape holding +1 (present), -1 (absent) and 0 (not annotated).

* **AP of one label**: the images annotated +1 or -1 for it, ranked by score;
  non-interpolated average precision, exactly as scikit-learn's
  ``average_precision_score`` (tied scores form one threshold: every positive
  of a tie group gets the precision at the group's end). Images annotated 0
  for the label are ignored.
* **mAP**: the mean AP over the evaluated labels. A label without a positive
  image has AP 0 and stays in the mean (the convention of LESA and BiAM);
  ``skip_labels_without_positives=True`` leaves such labels out instead. The
  number of such labels is always reported.
* **F1@K** ("overall", micro): each image's K highest-scored labels are
  predicted positive; P@K = hits / (N K), R@K = hits / positives,
  F1@K = 2 P R / (P + R) (0 when P + R = 0). By default only images with at
  least one positive among the evaluated labels count (an image with nothing
  to find says nothing about recall and only caps precision); set
  ``f1_images="all"`` to keep every image. This is zslbench's stated choice,
  recorded with every result under ``conventions``.
* **ZSL** evaluates the unseen labels only; **GZSL** all labels (seen and
  unseen columns ranked together).

Everything is vectorised. Ranking uses one ``np.sort`` of 64-bit keys per
block of labels: the float32 score mapped to an order-preserving integer in
the high bits and the annotation in the two low bits, so no ``argsort`` is
needed (numpy's integer sort is several times faster). Scores are compared in
float32: float64 scores closer than float32 resolution count as tied.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from zslbench.errors import DataError, UsageError

#: Elements (labels x images) ranked per block: bounds the temporaries to ~100 MB.
_BLOCK_ELEMENTS = 1 << 22

#: Threads ranking label blocks in parallel (each holds about 100 MB of temporaries).
_MAX_THREADS = 4

#: Rows per tile of the blocked transpose (a tile of one label block stays in cache).
_TRANSPOSE_TILE_ROWS = 1024

#: F1@K image selections.
F1_IMAGES = ("with-positives", "all")

#: Annotation codes in the low bits of a ranking key (positives must be the largest code).
_CODE_UNANNOTATED, _CODE_NEGATIVE, _CODE_POSITIVE = 0, 1, 2


# --------------------------------------------------------------------------- inputs


def _as_numpy(values: Any) -> np.ndarray:
    """A numpy array of a numpy array, torch tensor or sequence."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu()
        if values.is_floating_point() and values.element_size() < 4:
            values = values.float()
        values = values.numpy()
    return np.asarray(values)


def as_scores(scores: Any) -> np.ndarray:
    """(N, L) float32 scores (no copy when they already are); NaN is a DataError."""
    array = _as_numpy(scores)
    if array.ndim != 2:
        raise DataError(f"scores must be a 2-D (images, labels) array, got shape {array.shape}",
                        "pass one row of label scores per image")
    array = np.asarray(array, dtype=np.float32)
    if np.isnan(array).any():
        raise DataError("scores contain NaN", "the model diverged or produced invalid outputs; check the training losses")
    return array


def as_annotations(labels: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    """(N, L) int8 annotations in {-1, 0, +1}; anything else is a DataError."""
    array = _as_numpy(labels)
    if array.ndim != 2:
        raise DataError(f"labels must be a 2-D (images, labels) array, got shape {array.shape}",
                        "pass one row of +1/-1/0 annotations per image")
    if shape is not None and array.shape != tuple(shape):
        raise DataError(f"labels have shape {array.shape} but scores have shape {tuple(shape)}",
                        "score every image against every label")
    if array.size:
        low, high = array.min(), array.max()
        if low < -1 or high > 1 or (not np.issubdtype(array.dtype, np.integer) and np.any(np.mod(array, 1) != 0)):
            raise DataError("labels must hold only +1 (present), -1 (absent) and 0 (not annotated)",
                            f"found values between {low} and {high}")
    return array.astype(np.int8, copy=False)


def _label_ids(ids: Any, num_labels: int, name: str) -> np.ndarray:
    array = np.asarray(_as_numpy(ids), dtype=np.int64).reshape(-1)
    if array.size and (array.min() < 0 or array.max() >= num_labels):
        raise DataError(f"{name} must be label ids in 0..{num_labels - 1}", "label ids index the columns of the scores")
    return array


# --------------------------------------------------------------------------- average precision


def _columns_as_rows(matrix: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``matrix[:, start:stop].T`` as a C-contiguous copy, transposed in cache-sized row tiles.

    A plain ``np.ascontiguousarray`` of the strided column slice is several
    times slower: every output row would walk the whole matrix.
    """
    n = matrix.shape[0]
    out = np.empty((stop - start, n), dtype=matrix.dtype)
    for row in range(0, n, _TRANSPOSE_TILE_ROWS):
        out[:, row:row + _TRANSPOSE_TILE_ROWS] = matrix[row:row + _TRANSPOSE_TILE_ROWS, start:stop].T
    return out


def _descending_keys(scores_rows: np.ndarray, labels_rows: np.ndarray) -> np.ndarray:
    """int64 keys whose ascending order is descending score, with the annotation code in the low 2 bits.

    ``scores_rows`` (a private float32 copy, modified) maps to integers of the
    same order through its IEEE bits (negative floats have their magnitude bits
    flipped); -0.0 first becomes +0.0 so that the two tie, as they compare equal.
    """
    scores_rows += np.float32(0.0)
    bits = scores_rows.view(np.int32)
    ordered = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))
    keys = ordered.astype(np.int64)
    keys *= -4  # negate for descending order; free the two low bits
    keys |= (labels_rows != 0).view(np.int8) + (labels_rows > 0).view(np.int8)  # 0 / 1 (neg) / 2 (pos)
    return keys


def _count_at_or_before(sorted_flat: np.ndarray, flat: np.ndarray, row_start_flat: np.ndarray) -> np.ndarray:
    """For each ``flat`` position, how many of ``sorted_flat`` lie in its row at or before it."""
    return np.searchsorted(sorted_flat, flat, side="right") - np.searchsorted(sorted_flat, row_start_flat, side="left")


def _block_average_precision(scores_block: np.ndarray, labels_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP and positive count of each row of a (B, N) block (one row per label; ``scores_block`` is modified).

    After one sort per row, only the positives are visited: each gets the
    precision at the end of its tie group (sklearn's thresholds), counted with
    binary searches over the flat positions of positives, group ends and
    unannotated entries.
    """
    num_rows, n = scores_block.shape
    has_unannotated = not labels_block.all()
    keys = _descending_keys(scores_block, labels_block)
    keys.sort(axis=1)
    codes = keys & 3
    positive_flat = np.flatnonzero(codes == _CODE_POSITIVE)
    rows = positive_flat // max(n, 1)
    num_positives = np.bincount(rows, minlength=num_rows)
    if positive_flat.size == 0:
        return np.zeros(num_rows), num_positives
    row_start = rows * n
    scores_order = keys >> 2
    differs = scores_order[:, 1:] != scores_order[:, :-1]
    if differs.all():
        end_flat = positive_flat  # no ties: every position ends its own group
    else:
        is_end = np.ones((num_rows, n), dtype=bool)
        is_end[:, :-1] = differs
        ends = np.flatnonzero(is_end)  # each row's last column is an end, so the search stays in the row
        end_flat = ends[np.searchsorted(ends, positive_flat)]
    true_positives = _count_at_or_before(positive_flat, end_flat, row_start)
    annotated = end_flat - row_start + 1
    if has_unannotated:
        unannotated_flat = np.flatnonzero(codes == _CODE_UNANNOTATED)
        annotated = annotated - _count_at_or_before(unannotated_flat, end_flat, row_start)
    sums = np.bincount(rows, weights=true_positives / annotated, minlength=num_rows)
    return sums / np.maximum(num_positives, 1), num_positives


def average_precisions(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-label AP (L,) float64 and positive counts (L,) int64 of (N, L) scores and annotations.

    A label without positives has AP 0.0 (see the module docstring).
    """
    scores_f32 = as_scores(scores)
    annotations = as_annotations(labels, scores_f32.shape)
    n, num_labels = scores_f32.shape
    return _average_precisions(scores_f32, annotations)


def _average_precisions(scores_f32: np.ndarray, annotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`average_precisions` of validated inputs."""
    n, num_labels = scores_f32.shape
    ap = np.zeros(num_labels)
    positives = np.zeros(num_labels, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))

    def run_block(start: int) -> None:  # blocks of labels bound memory; each block is vectorised
        stop = min(start + block, num_labels)
        ap[start:stop], positives[start:stop] = _block_average_precision(
            _columns_as_rows(scores_f32, start, stop), _columns_as_rows(annotations, start, stop))

    starts = range(0, num_labels, block)
    workers = min(len(starts), _MAX_THREADS, os.cpu_count() or 1)
    if workers <= 1:
        for start in starts:
            run_block(start)
    else:  # numpy releases the GIL in sorts and ufuncs; each block writes its own slice
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run_block, starts))
    return ap, positives


def mean_average_precision(scores: Any, labels: Any, skip_labels_without_positives: bool = False) -> float:
    """mAP of (N, L) scores and annotations; labels without positives count as AP 0 unless skipped."""
    ap, positives = average_precisions(scores, labels)
    keep = positives > 0 if skip_labels_without_positives else np.ones(len(ap), bool)
    return float(ap[keep].mean()) if keep.any() else 0.0


# --------------------------------------------------------------------------- F1@K


@dataclass
class TopKScores:
    """Micro precision, recall and F1 of the top-K predictions."""

    k: int
    precision: float
    recall: float
    f1: float
    hits: int


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, k) column indices of each row's k highest scores, best first (torch.topk: fast on CPU)."""
    import torch

    if k <= 0 or scores.shape[0] == 0:
        return np.zeros((scores.shape[0], max(k, 0)), dtype=np.int64)
    return torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k, dim=1, sorted=True).indices.numpy()


def f1_at_k(scores: Any, labels: Any, ks: Sequence[int], rows: np.ndarray | None = None) -> list[TopKScores]:
    """F1@K, P@K, R@K for each K of ``ks`` over (N, L) scores and annotations.

    ``rows`` (bool (N,)) restricts the images counted; the top-K of the other
    rows is computed too (cheaper than copying the scores of the kept rows).
    """
    scores_f32 = as_scores(scores)
    annotations = as_annotations(labels, scores_f32.shape)
    return _f1_at_k(scores_f32, annotations, ks, rows)


def _f1_at_k(scores_f32: np.ndarray, annotations: np.ndarray, ks: Sequence[int],
             rows: np.ndarray | None) -> list[TopKScores]:
    ks = [int(k) for k in ks]
    num_labels = scores_f32.shape[1]
    if any(k < 1 or k > num_labels for k in ks):
        raise UsageError(f"top-K values {ks} must lie in 1..{num_labels} (the number of evaluated labels)",
                         "choose smaller K, e.g. the dataset's meta['top_k']")
    top = top_k_indices(scores_f32, max(ks))
    hits_cumulative = np.cumsum(np.take_along_axis(annotations, top, axis=1) > 0, axis=1)
    if rows is not None:
        hits_cumulative = hits_cumulative[rows]
        positives = int(np.count_nonzero(annotations[rows] > 0))
    else:
        positives = int(np.count_nonzero(annotations > 0))
    n = hits_cumulative.shape[0]
    results = []
    for k in ks:
        hits = int(hits_cumulative[:, k - 1].sum()) if n else 0
        precision = hits / (n * k) if n else 0.0
        recall = hits / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        results.append(TopKScores(k, precision, recall, f1, hits))
    return results


# --------------------------------------------------------------------------- the protocol


@dataclass
class LabelSetScores:
    """mAP and F1@K over one set of labels (the unseen ones for ZSL, all for GZSL)."""

    map: float
    top_k: list[TopKScores]
    num_labels: int
    labels_without_positives: int
    f1_images: int  # images counted by F1@K
    positives: int  # positive annotations among those images
    per_label_ap: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


@dataclass
class MultiLabelMetrics:
    """The multi-label test metrics of a run (fractions in [0, 1]); ``to_dict`` is what is stored."""

    zsl: LabelSetScores
    gzsl: LabelSetScores
    top_k: tuple[int, ...]
    counts: dict
    conventions: dict

    def to_dict(self) -> dict:
        """Flat keys ``zsl_map``, ``zsl_f1_at_3``, ``zsl_precision_at_3``, ``zsl_recall_at_3``, ``gzsl_...``."""
        out: dict = {}
        for prefix, part in (("zsl", self.zsl), ("gzsl", self.gzsl)):
            out[f"{prefix}_map"] = part.map
            for t in part.top_k:
                out[f"{prefix}_f1_at_{t.k}"] = t.f1
                out[f"{prefix}_precision_at_{t.k}"] = t.precision
                out[f"{prefix}_recall_at_{t.k}"] = t.recall
        out["top_k"] = list(self.top_k)
        out["counts"] = dict(self.counts)
        out["conventions"] = dict(self.conventions)
        return out


def _label_set_scores(scores: np.ndarray, annotations: np.ndarray, ks: Sequence[int], skip_empty: bool,
                      f1_images: str) -> LabelSetScores:
    ap, positives = _average_precisions(scores, annotations)
    keep = positives > 0 if skip_empty else np.ones(len(ap), bool)
    mean_ap = float(ap[keep].mean()) if keep.any() else 0.0
    rows = np.any(annotations > 0, axis=1) if f1_images == "with-positives" else None
    top = _f1_at_k(scores, annotations, ks, rows)
    return LabelSetScores(map=mean_ap, top_k=top, num_labels=int(annotations.shape[1]),
                          labels_without_positives=int(np.count_nonzero(positives == 0)),
                          f1_images=int(len(scores) if rows is None else rows.sum()),
                          positives=int(positives.sum()) if rows is None else int(np.count_nonzero(annotations[rows] > 0)),
                          per_label_ap=ap)


def evaluate_multilabel(scores: Any, labels: Any, seen_labels: Any, unseen_labels: Any,
                        top_k: Sequence[int] = (3, 5), skip_labels_without_positives: bool = False,
                        f1_images: str = "with-positives") -> MultiLabelMetrics:
    """ZSL and GZSL mAP and F1@K of test ``scores`` (N, L) against annotations ``labels`` (N, L).

    ``seen_labels`` and ``unseen_labels`` are disjoint label ids (columns). ZSL
    uses the unseen columns only; GZSL uses seen followed by unseen columns
    (column order does not change any metric).
    """
    if f1_images not in F1_IMAGES:
        raise UsageError(f"unknown F1@K image selection {f1_images!r}", f"choose one of {', '.join(F1_IMAGES)}")
    scores_f32 = as_scores(scores)
    annotations = as_annotations(labels, scores_f32.shape)
    num_labels = scores_f32.shape[1]
    seen = _label_ids(seen_labels, num_labels, "seen_labels")
    unseen = _label_ids(unseen_labels, num_labels, "unseen_labels")
    if np.intersect1d(seen, unseen).size:
        raise DataError("seen and unseen labels overlap", "a label is either seen or unseen")
    if unseen.size == 0:
        raise DataError("no unseen labels to evaluate", "a zero-shot benchmark needs unseen labels")
    ks = tuple(int(k) for k in top_k)
    everything = np.concatenate([seen, unseen])
    zsl = _label_set_scores(scores_f32[:, unseen], annotations[:, unseen], ks, skip_labels_without_positives, f1_images)
    if len(everything) == num_labels:  # all columns: no copy (column order changes no metric)
        gzsl = _label_set_scores(scores_f32, annotations, ks, skip_labels_without_positives, f1_images)
        gzsl.per_label_ap = gzsl.per_label_ap[everything]
    else:
        gzsl = _label_set_scores(scores_f32[:, everything], annotations[:, everything], ks,
                                 skip_labels_without_positives, f1_images)
    counts = {"images": int(scores_f32.shape[0]), "labels": int(len(everything)), "seen_labels": int(len(seen)),
              "unseen_labels": int(len(unseen)), "zsl_f1_images": zsl.f1_images, "gzsl_f1_images": gzsl.f1_images,
              "zsl_labels_without_positives": zsl.labels_without_positives,
              "gzsl_labels_without_positives": gzsl.labels_without_positives,
              "zsl_positives": zsl.positives, "gzsl_positives": gzsl.positives}
    conventions = {"ap": "non-interpolated (sklearn average_precision_score), annotated images only",
                   "labels_without_positives": "skipped" if skip_labels_without_positives else "ap-zero-kept",
                   "f1_images": f1_images, "f1": "overall (micro) over images"}
    return MultiLabelMetrics(zsl=zsl, gzsl=gzsl, top_k=ks, counts=counts, conventions=conventions)

