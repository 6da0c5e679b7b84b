"""The multi-label protocol: AP / mAP against hand computations and scikit-learn, F1@K, ZSL / GZSL."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.errors import DataError, UsageError
from zslbench.evaluation.multi_label import (average_precisions, evaluate_multilabel, f1_at_k, mean_average_precision,
                                         top_k_indices)


def column(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None]


# --------------------------------------------------------------------------- average precision


def test_ap_by_hand_ignores_unannotated_images():
    # annotated ranking: + (0.9), - (0.8), + (0.7), - (0.5); the 0 at 0.6 is ignored
    scores = column([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = column([1, -1, 1, 0, -1]).astype(np.int8)
    ap, positives = average_precisions(scores, labels)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert positives[0] == 2


def test_ap_by_hand_with_tied_scores_uses_one_threshold_per_tie_group():
    # threshold 0.5 -> P 1/2, R 1/2; threshold 0.2 -> P 2/3, R 1: AP = 0.5 * 0.5 + 0.5 * 2/3
    ap, _ = average_precisions(column([0.5, 0.5, 0.2]), column([1, -1, 1]))
    assert ap[0] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_minus_zero_ties_with_plus_zero():
    ap_signed, _ = average_precisions(column([0.0, -0.0]), column([-1, 1]))
    ap_plain, _ = average_precisions(column([0.0, 0.0]), column([-1, 1]))
    assert ap_signed[0] == pytest.approx(ap_plain[0]) == pytest.approx(0.5)


def test_label_without_positives_has_ap_zero_and_can_be_skipped():
    scores = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    labels = np.array([[1, -1], [-1, -1]], dtype=np.int8)
    ap, positives = average_precisions(scores, labels)
    assert ap.tolist() == [1.0, 0.0] and positives.tolist() == [1, 0]
    assert mean_average_precision(scores, labels) == pytest.approx(0.5)
    assert mean_average_precision(scores, labels, skip_labels_without_positives=True) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_matches_sklearn_on_random_data_with_ties_and_unannotated(seed):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((400, 30)).astype(np.float32)
    scores[:, :5] = np.round(scores[:, :5])  # heavy ties in some labels
    labels = rng.choice([-1, 0, 1], size=(400, 30), p=[0.6, 0.2, 0.2]).astype(np.int8)
    ap, _ = average_precisions(scores, labels)
    expected = [average_precision_score(labels[labels[:, j] != 0, j] == 1, scores[labels[:, j] != 0, j])
                for j in range(30)]
    np.testing.assert_allclose(ap, expected, atol=1e-12)


def test_ap_is_the_same_across_label_blocks(monkeypatch):
    """Blocking over labels (to bound memory) changes no value."""
    import zslbench.evaluation.multi_label as metrics

    rng = np.random.default_rng(3)
    scores = rng.standard_normal((50, 13)).astype(np.float32)
    labels = rng.choice([-1, 1], size=(50, 13)).astype(np.int8)
    whole, _ = average_precisions(scores, labels)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 120)  # 2 labels per block
    monkeypatch.setattr(metrics, "_TRANSPOSE_TILE_ROWS", 7)
    blocked, _ = average_precisions(scores, labels)
    np.testing.assert_allclose(blocked, whole)


# --------------------------------------------------------------------------- F1@K


def test_f1_at_k_by_hand():
    scores = np.array([[0.9, 0.1, 0.8, 0.3], [0.2, 0.7, 0.6, 0.1]], dtype=np.float32)
    labels = np.array([[1, 1, -1, -1], [-1, 1, 1, -1]], dtype=np.int8)
    at1, at2 = f1_at_k(scores, labels, (1, 2))
    # K=1: hits 2 of 2 predictions, 4 positives; K=2: hits 3 of 4 predictions
    assert (at1.precision, at1.recall, at1.hits) == (1.0, 0.5, 2)
    assert at1.f1 == pytest.approx(2 / 3)
    assert (at2.precision, at2.recall, at2.f1) == (0.75, 0.75, pytest.approx(0.75))


def test_top_k_indices_are_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7]], dtype=np.float32)
    assert top_k_indices(scores, 3).tolist() == [[1, 3, 2]]


def test_k_larger_than_the_label_set_is_a_usage_error():
    with pytest.raises(UsageError):
        f1_at_k(np.zeros((2, 3), np.float32), np.ones((2, 3), np.int8), (5,))


# --------------------------------------------------------------------------- the protocol


def protocol_case():
    """4 images, labels 0-2 seen, 3-4 unseen; image 3 has no unseen positive."""
    scores = np.array([
        [0.9, 0.1, 0.2, 0.8, 0.3],
        [0.1, 0.7, 0.2, 0.4, 0.6],
        [0.3, 0.2, 0.9, 0.5, 0.1],
        [0.8, 0.6, 0.1, 0.9, 0.2],
    ], dtype=np.float32)
    labels = np.array([
        [1, -1, -1, 1, -1],
        [-1, 1, -1, -1, 1],
        [-1, -1, 1, 1, 0],
        [1, 1, -1, -1, -1],
    ], dtype=np.int8)
    return scores, labels


def test_evaluate_zsl_uses_unseen_columns_and_images_with_unseen_positives():
    scores, labels = protocol_case()
    metrics = evaluate_multilabel(scores, labels, seen_labels=[0, 1, 2], unseen_labels=[3, 4], top_k=(1,))
    # ZSL AP: label 3 ranks 0.9(-) 0.8(+) 0.5(+) 0.4(-) -> (1/2 + 2/3)/2; label 4 ranks 0.6(+) ... -> 1
    assert metrics.zsl.per_label_ap.tolist() == pytest.approx([(1 / 2 + 2 / 3) / 2, 1.0])
    assert metrics.zsl.map == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1.0) / 2)
    # F1@1 over images 0-2 (image 3 has no unseen positive): top-1 among labels 3-4 = 3, 4, 3 -> 3 hits
    assert metrics.zsl.f1_images == 3
    assert metrics.zsl.top_k[0].precision == pytest.approx(1.0)
    assert metrics.zsl.top_k[0].recall == pytest.approx(1.0)  # 3 unseen positives (image 2 has label 4 unannotated)


def test_evaluate_gzsl_ranks_all_labels_and_is_column_order_free():
    scores, labels = protocol_case()
    metrics = evaluate_multilabel(scores, labels, seen_labels=[0, 1, 2], unseen_labels=[3, 4], top_k=(2,))
    permuted = evaluate_multilabel(scores[:, [4, 2, 0, 3, 1]], labels[:, [4, 2, 0, 3, 1]], seen_labels=[1, 2, 4],
                                   unseen_labels=[0, 3], top_k=(2,))
    assert metrics.gzsl.num_labels == 5 and metrics.gzsl.f1_images == 4
    assert metrics.gzsl.map == pytest.approx(permuted.gzsl.map)
    assert metrics.gzsl.top_k[0].f1 == pytest.approx(permuted.gzsl.top_k[0].f1)
    # GZSL top-2: img0 {0,3} 2 hits, img1 {1,4} 2, img2 {2,3} 2, img3 {3,0} 1 -> 7 of 8; 8 positives
    assert metrics.gzsl.top_k[0].precision == pytest.approx(7 / 8)
    assert metrics.gzsl.top_k[0].recall == pytest.approx(7 / 8)


def test_f1_images_all_keeps_images_without_positives():
    scores, labels = protocol_case()
    metrics = evaluate_multilabel(scores, labels, [0, 1, 2], [3, 4], top_k=(1,), f1_images="all")
    assert metrics.zsl.f1_images == 4
    assert metrics.zsl.top_k[0].precision == pytest.approx(3 / 4)  # image 3's top-1 (label 3) is a miss


def test_to_dict_has_the_stored_keys():
    scores, labels = protocol_case()
    stored = evaluate_multilabel(scores, labels, [0, 1, 2], [3, 4], top_k=(1, 2)).to_dict()
    for prefix in ("zsl", "gzsl"):
        for key in ("map", "f1_at_1", "precision_at_1", "recall_at_1", "f1_at_2"):
            assert 0.0 <= stored[f"{prefix}_{key}"] <= 1.0
    assert stored["counts"]["unseen_labels"] == 2 and stored["counts"]["images"] == 4
    assert stored["conventions"]["f1_images"] == "with-positives"
    assert stored["top_k"] == [1, 2]


@pytest.mark.parametrize("bad_labels, message", [
    (np.full((4, 5), 2, np.int8), "only"),
    (np.zeros((3, 5), np.int8), "shape"),
])
def test_bad_annotations_are_data_errors(bad_labels, message):
    scores, _ = protocol_case()
    with pytest.raises(DataError, match=message):
        evaluate_multilabel(scores, bad_labels, [0, 1, 2], [3, 4])


def test_nan_scores_and_overlapping_label_sets_are_data_errors():
    scores, labels = protocol_case()
    with pytest.raises(DataError, match="overlap"):
        evaluate_multilabel(scores, labels, [0, 1, 3], [3, 4])
    scores[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        evaluate_multilabel(scores, labels, [0, 1, 2], [3, 4])
