"""Speed of the full evaluation (all metrics incl. the exact seen-unseen curve).

Target: 500,000 test images x 200 classes in < 2 s. Run with
``.venv/bin/python -m pytest benchmarks/bench_evaluation.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.evaluation import choose_calibration, evaluate

NUM_CLASSES = 200
NUM_SEEN_CLASSES = 150  # CUB-like proportions
IMAGES_PER_SPLIT = 250_000  # test-seen + test-unseen = 500,000 images


@pytest.fixture(scope="module")
def scores() -> dict:
    """float32 scores with some signal, generated once outside the timed part."""
    rng = np.random.default_rng(0)
    permutation = rng.permutation(NUM_CLASSES)  # interleaved ids, as in the real datasets
    seen, unseen = np.sort(permutation[:NUM_SEEN_CLASSES]), np.sort(permutation[NUM_SEEN_CLASSES:])
    data = {"seen_classes": seen, "unseen_classes": unseen}
    for split, classes in (("seen", seen), ("unseen", unseen)):
        labels = rng.choice(classes, IMAGES_PER_SPLIT)
        matrix = rng.standard_normal((IMAGES_PER_SPLIT, NUM_CLASSES), dtype=np.float32)
        matrix[np.arange(IMAGES_PER_SPLIT), labels] += 2.0
        data[f"{split}_scores"], data[f"{split}_labels"] = matrix, labels
    return data


def test_evaluate_500k_images_200_classes(benchmark, scores):
    metrics = benchmark(evaluate, **scores, gamma=0.5)
    assert metrics.counts["images_test_seen"] + metrics.counts["images_test_unseen"] == 2 * IMAGES_PER_SPLIT
    assert 0.0 < metrics.ausuc < 1.0 and metrics.cs_h is not None


def test_choose_calibration_500k_images_200_classes(benchmark, scores):
    gamma = benchmark(choose_calibration, scores["seen_scores"], scores["seen_labels"],
                      scores["unseen_scores"], scores["unseen_labels"],
                      scores["seen_classes"], scores["unseen_classes"])
    assert np.isfinite(gamma)
