"""Family-blind ceilings, family accuracy and patch-selection scores, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.evaluation import diagnostics


def _one_hot(values: list[tuple[int, int]], sizes=(3, 3)) -> np.ndarray:
    m = np.zeros((len(values), sum(sizes)), dtype=np.float32)
    for row, (a, b) in enumerate(values):
        m[row, a] = 1
        m[row, sizes[0] + b] = 1
    return m


GROUPS = [[0, 1, 2], [3, 4, 5]]


def test_ceiling_counts_distinguishable_classes_exactly():
    # classes: (0,0) (1,0) (2,0) (0,1); blind to family 0, classes 0-2 look the same -> 2 signatures of 4
    matrix = _one_hot([(0, 0), (1, 0), (2, 0), (0, 1)])
    assert diagnostics.family_blind_ceilings(matrix, GROUPS, [0, 1, 2, 3]) == [0.5, 0.75]
    # restricted to classes 0 and 3 every family separates them... except blind to family 1
    assert diagnostics.family_blind_ceilings(matrix, GROUPS, [0, 3]) == [1.0, 0.5]


def test_ceiling_is_reached_by_a_blind_predictor():
    matrix = _one_hot([(a, b) for a in range(3) for b in range(3)])
    classes = np.arange(9)
    ceiling = diagnostics.family_blind_ceilings(matrix, GROUPS, classes)[0]
    # blind to family 0: predict (0, b) for every image of class (a, b): per-class accuracy 1 for a = 0
    labels = np.repeat(classes, 4)
    predicted = (labels % 3)  # class (0, b) has id b
    per_class = [np.mean(predicted[labels == c] == c) for c in classes]
    assert np.mean(per_class) == pytest.approx(ceiling) == pytest.approx(1 / 3)


def test_family_accuracy_per_class_mean():
    matrix = _one_hot([(0, 0), (1, 0), (0, 1)])
    labels = np.array([0, 0, 1, 2])
    predicted = np.array([1, 0, 1, 0])  # image 0: body wrong, head right; image 3: body right, head wrong
    body, head = diagnostics.family_accuracy(predicted, labels, matrix, GROUPS)
    assert body == pytest.approx(np.mean([0.5, 1.0, 1.0]))
    assert head == pytest.approx(np.mean([1.0, 1.0, 0.0]))


def test_auroc_of_perfect_inverted_and_tied_scores():
    truth = np.array([[True, False, False, True]])
    assert diagnostics.selection_auroc(np.array([[0.9, 0.1, 0.2, 0.8]]), truth) == 1.0
    assert diagnostics.selection_auroc(np.array([[0.1, 0.9, 0.8, 0.2]]), truth) == 0.0
    assert diagnostics.selection_auroc(np.zeros((1, 4)), truth) == 0.5
    assert diagnostics.selection_auroc(np.array([[0.5, 0.1, 0.5, 0.2]]), truth) == pytest.approx(2.5 / 4)  # pairs: 1, 1/2, 1, 0


def test_normalised_precision_recall_is_zero_for_random_and_one_for_the_oracle():
    truth = np.array([[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]], dtype=bool)
    bounds = diagnostics.selection_bounds(truth, num_kept=2)
    assert bounds == {"random_precision": 5 / 16, "random_recall": 2 / 8,
                      "oracle_precision": 4 / 4, "oracle_recall": 4 / 5}
    oracle = diagnostics.normalised_selection(bounds["oracle_precision"], bounds["oracle_recall"], bounds)
    chance = diagnostics.normalised_selection(bounds["random_precision"], bounds["random_recall"], bounds)
    assert oracle == {"precision_normalised": 1.0, "recall_normalised": 1.0}
    assert chance == {"precision_normalised": 0.0, "recall_normalised": 0.0}
