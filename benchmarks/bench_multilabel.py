"""Speed of the multi-label protocol: mAP and F1@K (ZSL and GZSL) at NUS-WIDE scale.

Target: 100,000 test images x 1,006 labels (925 seen + 81 unseen) in < 5 s. Run with
``.venv/bin/python -m pytest benchmarks/bench_multilabel.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.training.losses import rank_loss
from zslbench.evaluation.multi_label import evaluate_multilabel

NUM_IMAGES = 100_000
NUM_SEEN, NUM_UNSEEN = 925, 81  # NUS-WIDE
POSITIVE_RATE = 0.02


@pytest.fixture(scope="module")
def test_scores() -> dict:
    """float32 scores with some signal and +1/-1 annotations, generated once outside the timed part."""
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((NUM_IMAGES, NUM_SEEN + NUM_UNSEEN)) < POSITIVE_RATE, 1, -1).astype(np.int8)
    scores = rng.standard_normal(labels.shape, dtype=np.float32) + labels.astype(np.float32)
    return {"scores": scores, "labels": labels, "seen_labels": np.arange(NUM_SEEN),
            "unseen_labels": np.arange(NUM_SEEN, NUM_SEEN + NUM_UNSEEN)}


def test_evaluate_multilabel_100k_images_1006_labels(benchmark, test_scores):
    metrics = benchmark.pedantic(evaluate_multilabel, kwargs={**test_scores, "top_k": (3, 5)}, rounds=3,
                                 warmup_rounds=1)
    assert metrics.counts["images"] == NUM_IMAGES and metrics.counts["labels"] == NUM_SEEN + NUM_UNSEEN
    assert 0.2 < metrics.gzsl.map < 1.0 and 0.0 < metrics.zsl.top_k[0].f1 < 1.0


def test_rank_loss_batch_64_925_labels(benchmark):
    import torch

    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(64, NUM_SEEN, generator=generator)
    targets = torch.where(torch.rand(64, NUM_SEEN, generator=generator) < POSITIVE_RATE, 1.0, -1.0)
    loss = benchmark(rank_loss, scores, targets)
    assert torch.isfinite(loss)
