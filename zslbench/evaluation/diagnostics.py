"""Metrics that explain a single-label result: attribute families, blind ceilings, patch selection.

* :func:`family_blind_ceilings` - the best per-class T1 any predictor blind to
  one attribute family can reach, computed exactly from the class-attribute
  matrix: unseen classes that agree on every other family are
  indistinguishable to it, and of a set of indistinguishable classes a
  predictor gets at most one right on average (per-class mean), so the ceiling
  is (number of distinct other-family signatures) / (number of unseen classes).
* :func:`family_accuracy` - per attribute family, the per-class mean share of
  test images whose predicted class has the true class's value in that family.
* :func:`selection_auroc` and :func:`normalised_selection` - how well per-patch
  selection scores find the object patches of the masks; precision and recall
  are mapped so that random selection of the same size scores 0 and the best
  possible (mask-oracle) selection scores 1.

Pure numpy; nothing here knows a method.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _family_values(class_attributes: np.ndarray, group: Sequence[int]) -> list[bytes]:
    """One hashable signature per class of the columns ``group``."""
    block = np.ascontiguousarray(np.asarray(class_attributes)[:, list(group)], dtype=np.float64)
    return [row.tobytes() for row in block]


def family_blind_ceilings(class_attributes: np.ndarray, groups: Sequence[Sequence[int]],
                          classes: Sequence[int]) -> list[float]:
    """Best per-class T1 among ``classes`` of a predictor blind to each family of ``groups`` (fractions).

    A predictor blind to family f sees only the other families' values. Classes
    sharing those values are indistinguishable to it; whatever it predicts, the
    per-class accuracies of such a set sum to at most 1. The ceiling is reached
    by predicting one fixed member of each set, so it equals
    ``#distinct signatures / #classes``, exactly.
    """
    classes = np.asarray(classes, dtype=np.int64)
    out = []
    for blind in range(len(groups)):
        others = [c for g, cols in enumerate(groups) if g != blind for c in cols]
        signatures = _family_values(class_attributes[classes], others)
        out.append(len(set(signatures)) / len(classes))
    return out


def family_accuracy(predicted: np.ndarray, labels: np.ndarray, class_attributes: np.ndarray,
                    groups: Sequence[Sequence[int]]) -> list[float]:
    """Per family, the per-class mean fraction of images whose predicted class has the right value there."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    out = []
    for cols in groups:
        signature = np.asarray(class_attributes)[:, list(cols)]
        correct = np.all(signature[predicted] == signature[labels], axis=1)
        per_class = [correct[labels == c].mean() for c in np.unique(labels)]
        out.append(float(np.mean(per_class)) if per_class else 0.0)
    return out


def selection_auroc(scores: np.ndarray, object_patches: np.ndarray) -> float:
    """AUROC of patch scores (N, P) against object patches (N, P) bool, pooled over images (ties count 1/2).

    0.5 is chance; NaN when every patch is object or none is.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    truth = np.asarray(object_patches, dtype=bool).ravel()
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties (1-based)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def selection_bounds(object_patches: np.ndarray, num_kept: int) -> dict[str, float]:
    """Micro precision and recall of random and of mask-oracle selections of ``num_kept`` patches per image.

    Random: precision = object share of patches, recall = num_kept / P (expected values).
    Oracle: keeps min(objects, num_kept) object patches per image.
    """
    truth = np.asarray(object_patches, dtype=bool)
    n, p = truth.shape
    per_image = truth.sum(1)
    hits = np.minimum(per_image, num_kept).sum()
    return {
        "random_precision": float(per_image.sum() / (n * p)),
        "random_recall": float(num_kept / p),
        "oracle_precision": float(hits / (n * num_kept)),
        "oracle_recall": float(hits / max(per_image.sum(), 1)),
    }


def normalised_selection(precision: float, recall: float, bounds: dict[str, float]) -> dict[str, float]:
    """Precision and recall mapped so random selection is 0 and mask-oracle selection is 1."""

    def scale(value: float, low: float, high: float) -> float:
        return float((value - low) / (high - low)) if high > low else float("nan")

    return {"precision_normalised": scale(precision, bounds["random_precision"], bounds["oracle_precision"]),
            "recall_normalised": scale(recall, bounds["random_recall"], bounds["oracle_recall"])}
