"""Tests of the ZSL evaluation protocol: hand-computed cases and brute-force sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zslbench.errors import DataError, UsageError
from zslbench.evaluation import (
    SeenUnseenCurve,
    ZSLMetrics,
    choose_calibration,
    evaluate,
    harmonic_mean,
    per_class_accuracies,
    per_class_accuracy,
    seen_unseen_curve,
)

SEEN = np.array([0, 1, 2])  # class 2 has no test images
UNSEEN = np.array([3, 4])


def hand_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Small scores whose metrics are worked out by hand in the comments."""
    seen_scores = np.array([
        [5, 1, 0, 2, 0],    # label 0: best seen 0, best unseen 3, margin 3   -> right
        [1, 3, 0, 4, 0],    # label 0: best seen 1, best unseen 3, margin -1  -> predicts 3, wrong
        [0, 2, 0, 1.5, 0],  # label 1: best seen 1, best unseen 3, margin 0.5 -> right
    ], dtype=np.float32)
    seen_labels = np.array([0, 0, 1])
    unseen_scores = np.array([
        [0, 0, 0, 2, 1],  # label 3: seen tie -> 0, best unseen 3, margin -2: right (ZSL right)
        [3, 0, 0, 1, 2],  # label 3: best seen 0, best unseen 4, margin 1: predicts 0 (ZSL 4, wrong)
        [2, 0, 0, 0, 1],  # label 4: best seen 0, best unseen 4, margin 1: predicts 0 (ZSL 4, right)
        [0, 1, 0, 1, 1],  # label 4: unseen tie 3/4 -> 3, margin 0 -> tie -> seen 1 (ZSL 3, wrong)
    ], dtype=np.float32)
    unseen_labels = np.array([3, 3, 4, 4])
    return seen_scores, seen_labels, unseen_scores, unseen_labels


# --------------------------------------------------------------------------- small functions


def test_per_class_accuracy_is_mean_over_present_classes_not_overall():
    predictions = np.array([0, 0, 1, 1, 1])
    labels = np.array([0, 0, 0, 1, 1])
    accuracies = per_class_accuracies(predictions, labels, [0, 1, 2])
    np.testing.assert_allclose(accuracies[:2], [2 / 3, 1.0])
    assert np.isnan(accuracies[2])  # class 2 has no images
    assert per_class_accuracy(predictions, labels, [0, 1, 2]) == pytest.approx(5 / 6)  # overall would be 0.8


def test_per_class_accuracy_of_nothing_is_zero_and_stray_labels_fail():
    assert per_class_accuracy(np.zeros(0, int), np.zeros(0, int), [0, 1]) == 0.0
    with pytest.raises(DataError, match="outside"):
        per_class_accuracies([0, 5], [0, 5], [0, 1])


def test_harmonic_mean():
    assert harmonic_mean(0.5, 0.5) == pytest.approx(0.5)
    assert harmonic_mean(0.2, 0.6) == pytest.approx(2 * 0.2 * 0.6 / 0.8)
    assert harmonic_mean(0.0, 0.8) == 0.0
    assert harmonic_mean(0.0, 0.0) == 0.0


# --------------------------------------------------------------------------- hand-computed evaluate


def test_evaluate_hand_computed_metrics():
    m = evaluate(*hand_case(), SEEN, UNSEEN)
    assert m.t1 == pytest.approx(0.5)    # class 3: 1/2, class 4: 1/2
    assert m.u == pytest.approx(0.25)    # class 3: 1/2, class 4: 0/2
    assert m.s == pytest.approx(0.75)    # class 0: 1/2, class 1: 1/1, class 2 absent
    assert m.h == pytest.approx(0.375)
    # Curve: (-inf,-2] S=.75 U=0 | (-2,.5] .75/.25 | (.5,1] .25/.25 | (1,3] .25/.5 | (3,inf) 0/.5
    assert m.ausuc == pytest.approx(0.25)
    assert (m.oracle_s, m.oracle_u, m.oracle_h) == pytest.approx((0.75, 0.25, 0.375))
    assert m.oracle_gamma == pytest.approx(-0.75)  # midpoint of (-2, 0.5]
    assert m.cs_gamma is None and m.cs_u is None and m.cs_s is None and m.cs_h is None
    assert m.counts["classes_seen_present"] == 2 and m.counts["classes_seen"] == 3
    assert m.counts["classes_unseen_present"] == 2
    assert m.counts["images_test_seen"] == 3 and m.counts["images_test_unseen"] == 4
    assert m.per_class["gzsl_seen"] == pytest.approx({"0": 0.5, "1": 1.0})
    assert m.per_class["zsl_unseen"] == pytest.approx({"3": 0.5, "4": 0.5})
    assert m.per_class["gzsl_unseen"] == pytest.approx({"3": 0.5, "4": 0.0})


def test_hand_curve_breakpoints_and_values():
    curve = seen_unseen_curve(*hand_case(), SEEN, UNSEEN)
    np.testing.assert_allclose(curve.gammas, [-2, 0.5, 1, 3])
    np.testing.assert_allclose(curve.seen_acc, [0.75, 0.75, 0.25, 0.25, 0.0])
    np.testing.assert_allclose(curve.unseen_acc, [0.0, 0.25, 0.25, 0.5, 0.5])
    assert curve.at(0.5) == pytest.approx((0.75, 0.25))  # at the margin the seen class wins
    assert curve.at(0.5000001) == pytest.approx((0.25, 0.25))
    assert curve.at(-np.inf) == pytest.approx((0.75, 0.0))
    assert curve.at(np.inf) == pytest.approx((0.0, 0.5))


def test_within_group_ties_go_to_the_first_listed_class():
    m = evaluate(*hand_case(), SEEN, np.array([4, 3]))
    # Image 4 (label 4) now breaks its unseen tie towards class 4: ZSL right.
    assert m.per_class["zsl_unseen"] == pytest.approx({"3": 0.5, "4": 1.0})


def test_h_is_zero_when_u_is_zero():
    seen_scores, seen_labels, unseen_scores, unseen_labels = hand_case()
    unseen_scores = unseen_scores.copy()
    unseen_scores[:, 0] = 10.0  # every test-unseen image now predicts seen class 0
    m = evaluate(seen_scores, seen_labels, unseen_scores, unseen_labels, SEEN, UNSEEN)
    assert m.u == 0.0 and m.s == pytest.approx(0.75)
    assert m.h == 0.0


def test_calibration_flips_exactly_one_prediction():
    seen_scores = np.array([[2.0, 0, 0, 0, 0]], dtype=np.float32)      # label 0, margin 2
    unseen_scores = np.array([[1.0, 0, 0, 0.75, 0]], dtype=np.float32)  # label 3, margin 0.25
    args = (seen_scores, [0], unseen_scores, [3], SEEN, UNSEEN)
    plain = evaluate(*args)
    at_margin = evaluate(*args, gamma=0.25)  # a tie: the seen class still wins
    flipped = evaluate(*args, gamma=0.3)
    assert (plain.u, plain.s, plain.h) == (0.0, 1.0, 0.0)
    assert (at_margin.cs_u, at_margin.cs_s) == (0.0, 1.0)
    assert (flipped.cs_gamma, flipped.cs_u, flipped.cs_s, flipped.cs_h) == (0.3, 1.0, 1.0, 1.0)
    assert flipped.per_class["cs_unseen"] == {"3": 1.0} and flipped.per_class["cs_seen"] == {"0": 1.0}
    assert (flipped.u, flipped.s) == (plain.u, plain.s)  # uncalibrated metrics untouched


def test_empty_splits_give_zero_and_say_so():
    seen_scores, seen_labels, _, _ = hand_case()
    m = evaluate(seen_scores, seen_labels, np.zeros((0, 5), np.float32), [], SEEN, UNSEEN)
    assert m.t1 == 0.0 and m.u == 0.0 and m.h == 0.0 and m.ausuc == 0.0
    assert m.s == pytest.approx(0.75)
    assert m.counts["images_test_unseen"] == 0 and m.counts["classes_unseen_present"] == 0
    m = evaluate(np.zeros((0, 5)), [], *hand_case()[2:], SEEN, UNSEEN, gamma=1.0)
    assert m.s == 0.0 and m.cs_s == 0.0 and m.t1 == pytest.approx(0.5)


def test_torch_inputs_match_numpy():
    torch = pytest.importorskip("torch")
    seen_scores, seen_labels, unseen_scores, unseen_labels = hand_case()
    from_numpy = evaluate(seen_scores, seen_labels, unseen_scores, unseen_labels, SEEN, UNSEEN, gamma=0.7)
    from_torch = evaluate(torch.from_numpy(seen_scores).half(), torch.from_numpy(seen_labels),
                          torch.from_numpy(unseen_scores), torch.from_numpy(unseen_labels),
                          torch.from_numpy(SEEN), UNSEEN.tolist(), gamma=0.7)
    assert from_torch == from_numpy


@pytest.mark.parametrize("change, match", [
    (lambda a: {**a, "seen_scores": np.zeros(5)}, "2-D"),
    (lambda a: {**a, "seen_labels": [0, 0]}, "rows but 2 labels"),
    (lambda a: {**a, "unseen_scores": np.zeros((4, 6))}, "columns"),
    (lambda a: {**a, "unseen_classes": [2, 3, 4]}, "overlap"),
    (lambda a: {**a, "unseen_classes": [3, 7]}, "outside the 5 score columns"),
    (lambda a: {**a, "unseen_classes": []}, "empty"),
    (lambda a: {**a, "seen_labels": [0, 0, 3]}, "outside the expected class group"),
    (lambda a: {**a, "seen_scores": np.full((3, 5), np.nan)}, "NaN"),
])
def test_bad_inputs_raise_data_errors(change, match):
    seen_scores, seen_labels, unseen_scores, unseen_labels = hand_case()
    args = dict(seen_scores=seen_scores, seen_labels=seen_labels, unseen_scores=unseen_scores,
                unseen_labels=unseen_labels, seen_classes=SEEN, unseen_classes=UNSEEN)
    with pytest.raises(DataError, match=match) as error:
        evaluate(**change(args))
    assert error.value.hint


def test_non_finite_gamma_is_a_usage_error():
    with pytest.raises(UsageError):
        evaluate(*hand_case(), SEEN, UNSEEN, gamma=float("inf"))


# --------------------------------------------------------------------------- brute force


def brute_predictions(scores: np.ndarray, seen: np.ndarray, unseen: np.ndarray, gamma: float) -> np.ndarray:
    """Calibrated argmax written out directly (float64; ties between groups -> seen)."""
    calibrated = scores.astype(np.float64)
    calibrated[:, seen] -= gamma
    seen_best = calibrated[:, seen].max(axis=1)
    unseen_best = calibrated[:, unseen].max(axis=1)
    return np.where(unseen_best > seen_best, unseen[calibrated[:, unseen].argmax(axis=1)],
                    seen[calibrated[:, seen].argmax(axis=1)])


def brute_mean_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    classes = np.unique(labels)
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in classes])) if len(classes) else 0.0


def random_split(rng: np.random.Generator, n_seen: int, n_unseen: int, seen: np.ndarray, unseen: np.ndarray,
                 signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores rounded to 0.1 so that ties within and across groups and shared margins occur."""
    num_classes = len(seen) + len(unseen)
    out = []
    for n, group in ((n_seen, seen), (n_unseen, unseen)):
        labels = rng.choice(group, n)
        scores = rng.normal(size=(n, num_classes))
        scores[np.arange(n), labels] += signal
        out += [np.round(scores, 1).astype(np.float32), labels]
    return tuple(out)


def candidate_gammas(seen_scores, unseen_scores, seen, unseen) -> np.ndarray:
    """Every margin of every image, the midpoints between them and points beyond both ends."""
    scores = np.concatenate([seen_scores, unseen_scores]).astype(np.float64)
    margins = np.unique(scores[:, seen].max(axis=1) - scores[:, unseen].max(axis=1))
    return np.concatenate([margins, (margins[1:] + margins[:-1]) / 2, [margins[0] - 1, margins[-1] + 1]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_curve_matches_brute_force_sweep(seed):
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(9)
    seen, unseen = permutation[:5], permutation[5:]  # unsorted, interleaved ids
    seen_scores, seen_labels, unseen_scores, unseen_labels = random_split(rng, 60, 40, seen, unseen, 1.0)
    curve = seen_unseen_curve(seen_scores, seen_labels, unseen_scores, unseen_labels, seen, unseen)
    gammas = candidate_gammas(seen_scores, unseen_scores, seen, unseen)
    assert set(curve.gammas.tolist()) <= set(gammas.tolist())
    for gamma in gammas:
        expected = (brute_mean_accuracy(brute_predictions(seen_scores, seen, unseen, gamma), seen_labels),
                    brute_mean_accuracy(brute_predictions(unseen_scores, seen, unseen, gamma), unseen_labels))
        assert curve.at(gamma) == pytest.approx(expected, abs=1e-12), gamma
        metrics = evaluate(seen_scores, seen_labels, unseen_scores, unseen_labels, seen, unseen, gamma=gamma)
        assert (metrics.cs_s, metrics.cs_u) == pytest.approx(expected, abs=1e-12)
    # Every breakpoint changes S or U: the intervals are maximal.
    assert np.all((np.diff(curve.seen_acc) != 0) | (np.diff(curve.unseen_acc) != 0))


def test_uncalibrated_metrics_are_the_curve_at_zero():
    rng = np.random.default_rng(3)
    seen, unseen = np.arange(6), np.arange(6, 10)
    data = random_split(rng, 80, 50, seen, unseen, 0.8)
    metrics = evaluate(*data, seen, unseen)
    assert (metrics.s, metrics.u) == pytest.approx(seen_unseen_curve(*data, seen, unseen).at(0.0), abs=1e-12)


def test_ausuc_matches_trapezoids_over_the_brute_force_sweep():
    rng = np.random.default_rng(4)
    seen, unseen = np.arange(5), np.arange(5, 8)
    data = random_split(rng, 50, 40, seen, unseen, 1.5)
    seen_scores, seen_labels, unseen_scores, unseen_labels = data
    margins = np.sort(candidate_gammas(seen_scores, unseen_scores, seen, unseen))
    points = np.array([(brute_mean_accuracy(brute_predictions(seen_scores, seen, unseen, g), seen_labels),
                        brute_mean_accuracy(brute_predictions(unseen_scores, seen, unseen, g), unseen_labels))
                       for g in margins])
    expected = np.sum(-np.diff(points[:, 0]) * (points[1:, 1] + points[:-1, 1]) / 2)
    assert evaluate(*data, seen, unseen).ausuc == pytest.approx(expected, abs=1e-12)


def test_ausuc_of_perfect_and_random_scorers():
    rng = np.random.default_rng(5)
    seen, unseen = np.arange(20), np.arange(20, 40)
    seen_labels, unseen_labels = rng.choice(seen, 400), rng.choice(unseen, 400)
    perfect_seen = np.eye(40, dtype=np.float32)[seen_labels]
    perfect_unseen = np.eye(40, dtype=np.float32)[unseen_labels]
    perfect = evaluate(perfect_seen, seen_labels, perfect_unseen, unseen_labels, seen, unseen)
    assert perfect.ausuc == pytest.approx(1.0)
    assert perfect.oracle_h == pytest.approx(1.0)
    random = evaluate(rng.normal(size=(400, 40)), seen_labels, rng.normal(size=(400, 40)), unseen_labels,
                      seen, unseen)
    assert random.ausuc < 0.05  # chance is ~1/20 per group


def test_representative_gamma_lies_in_its_interval():
    curve = SeenUnseenCurve(gammas=np.array([-1.0, 0.0, 2.0]), seen_acc=np.array([0.9, 0.8, 0.4, 0.0]),
                            unseen_acc=np.array([0.0, 0.3, 0.5, 0.6]))
    for k in range(4):
        gamma = curve.representative_gamma(k)
        assert np.isfinite(gamma) and curve.interval(gamma) == k
    gamma, s, u, h = curve.best_h()
    assert (gamma, s, u) == (1.0, 0.4, 0.5) and h == pytest.approx(harmonic_mean(0.5, 0.4))
    tied = SeenUnseenCurve(gammas=np.array([0.0, 1.0]), seen_acc=np.array([0.5, 0.0, 0.5]),
                           unseen_acc=np.array([0.5, 0.0, 0.5]))
    assert tied.best_h()[0] < 0.0  # equal H: the first (lowest-gamma) interval wins
    empty = SeenUnseenCurve(gammas=np.zeros(0), seen_acc=np.zeros(1), unseen_acc=np.zeros(1))
    assert empty.best_h() == (0.0, 0.0, 0.0, 0.0) and empty.ausuc() == 0.0


# --------------------------------------------------------------------------- calibration


def test_choose_calibration_is_the_brute_force_best_on_validation_data():
    rng = np.random.default_rng(6)
    seen, unseen = np.arange(6), np.arange(6, 10)
    val = random_split(rng, 90, 60, seen, unseen, 1.0)
    val[0][:] += 0.7  # a seen bias: calibration is needed
    gamma = choose_calibration(*val, seen, unseen)

    def brute_h(g: float) -> float:
        return harmonic_mean(brute_mean_accuracy(brute_predictions(val[2], seen, unseen, g), val[3]),
                             brute_mean_accuracy(brute_predictions(val[0], seen, unseen, g), val[1]))

    candidates = candidate_gammas(val[0], val[2], seen, unseen)
    best = max(brute_h(g) for g in candidates)
    assert brute_h(gamma) == pytest.approx(best, abs=1e-12)
    assert brute_h(gamma) > brute_h(0.0)
    # The gamma comes from the validation arrays alone and is applied unchanged to test scores.
    test = random_split(rng, 90, 60, seen, unseen, 1.0)
    metrics = evaluate(*test, seen, unseen, gamma=gamma)
    assert metrics.cs_gamma == gamma
    assert metrics.cs_h <= metrics.oracle_h + 1e-12


# --------------------------------------------------------------------------- serialisation


def test_metrics_round_trip_through_json():
    metrics = evaluate(*hand_case(), SEEN, UNSEEN, gamma=0.7)
    restored = ZSLMetrics.from_dict(json.loads(json.dumps(metrics.to_dict())))
    assert restored == metrics
    assert ZSLMetrics.from_dict(json.loads(metrics.to_json())) == metrics
    plain = evaluate(*hand_case(), SEEN, UNSEEN)
    assert ZSLMetrics.from_dict(json.loads(json.dumps(plain.to_dict()))).cs_h is None


def test_from_dict_reports_missing_fields():
    data = evaluate(*hand_case(), SEEN, UNSEEN).to_dict()
    del data["h"]
    with pytest.raises(DataError, match="lack h"):
        ZSLMetrics.from_dict(data)


def test_columns_outside_both_groups_are_ignored():
    # Validation scores keep a column for every dataset class; classes outside the
    # pseudo-seen/pseudo-unseen groups must never be predicted.
    seen_scores, seen_labels, unseen_scores, unseen_labels = hand_case()
    extra = np.full((1, 1), 100.0, np.float32)
    widened = [np.hstack([m, np.repeat(extra, len(m), axis=0)]) for m in (seen_scores, unseen_scores)]
    wide = evaluate(widened[0], seen_labels, widened[1], unseen_labels, SEEN, UNSEEN, gamma=0.7)
    assert wide == evaluate(*hand_case(), SEEN, UNSEEN, gamma=0.7)
