"""Speed of ``zslbench score`` on a stored 20,000 x 1,000 prediction matrix (float32 .npy).

Target: < 2 s for the whole command's work: reading the file and its sha256, the
row/column/NaN/swap checks, the honest metrics with the exact seen-unseen curve,
the as-published numbers (200 stacking offsets, vectorised) and storing the run.
Also the as-published 200-offset stacking sweep on 10,000 x 1,000 probabilities, vectorised and as
the public code's loop. Run with ``.venv/bin/python -m pytest benchmarks/bench_score.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.published_protocol import softmax_probabilities, stacked_accuracies, stacked_accuracies_loop
from zslbench.scoring.score import score

NUM_CLASSES = 1_000
NUM_UNSEEN_CLASSES = 200
TEST_IMAGES = 20_000  # test_seen + test_unseen rows of the matrix
TRAINVAL_IMAGES = 4_000


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[ZSLDataset, object]:
    """A dataset with 1,000 classes and the saved predictions, built once outside the timed part."""
    rng = np.random.default_rng(0)
    permutation = rng.permutation(NUM_CLASSES)  # interleaved class ids, as in the real datasets
    unseen, seen = np.sort(permutation[:NUM_UNSEEN_CLASSES]), np.sort(permutation[NUM_UNSEEN_CLASSES:])
    n_seen = TEST_IMAGES // 2
    labels = np.concatenate([rng.choice(seen, TRAINVAL_IMAGES), rng.choice(seen, n_seen),
                             rng.choice(unseen, TEST_IMAGES - n_seen)])
    splits = {"trainval": np.arange(TRAINVAL_IMAGES), "test_seen": TRAINVAL_IMAGES + np.arange(n_seen),
              "test_unseen": TRAINVAL_IMAGES + n_seen + np.arange(TEST_IMAGES - n_seen)}
    dataset = ZSLDataset(name="bench-1000", class_names=[f"class{i}" for i in range(NUM_CLASSES)],
                         attribute_names=["a"], class_attributes=np.ones((NUM_CLASSES, 1), np.float32), labels=labels,
                         splits=splits, seen_classes=seen, unseen_classes=unseen,
                         images=ArrayImages(np.zeros((len(labels), 1, 1, 3), np.uint8)))
    matrix = rng.standard_normal((TEST_IMAGES, NUM_CLASSES), dtype=np.float32)
    rows = np.arange(TEST_IMAGES)
    matrix[rows, labels[TRAINVAL_IMAGES:]] += 2.5
    path = tmp_path_factory.mktemp("bench-score") / "predictions.npy"
    np.save(path, matrix)
    return dataset, path


def test_score_20k_images_1000_classes(benchmark, planted, tmp_path):
    dataset, path = planted
    run = benchmark.pedantic(score, args=(path, dataset), kwargs={"name": "bench", "out": tmp_path / "runs"},
                             rounds=5, iterations=1, warmup_rounds=1)  # warm-up: first-call imports, plugin loading
    assert run.test["counts"]["images_test_seen"] + run.test["counts"]["images_test_unseen"] == TEST_IMAGES
    assert 0.0 < run.test["ausuc"] < 1.0 and "published" in run.metrics


@pytest.fixture(scope="module")
def probabilities() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    probs = softmax_probabilities(rng.standard_normal((10_000, NUM_CLASSES), dtype=np.float32) * 3)
    return probs, rng.integers(0, NUM_CLASSES, 10_000), rng.choice(NUM_CLASSES, NUM_UNSEEN_CLASSES, replace=False)


@pytest.mark.parametrize("implementation", [stacked_accuracies, stacked_accuracies_loop], ids=["vectorised", "loop"])
def test_stacking_sweep_10k_images_1000_classes(benchmark, probabilities, implementation):
    """The as-published 200-offset sweep: the vectorised form against the public code's loop (same bits)."""
    accuracies = benchmark.pedantic(implementation, args=probabilities, rounds=1, iterations=1)
    assert np.array_equal(accuracies, stacked_accuracies(*probabilities))
