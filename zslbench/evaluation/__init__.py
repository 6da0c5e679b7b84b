"""Evaluation protocols: :mod:`~zslbench.evaluation.single_label` (the GBU protocol: per-class accuracy,
seen-unseen curve, AUSUC, calibrated stacking; its names are re-exported here) and
:mod:`~zslbench.evaluation.multi_label` (mAP and F1@K, ZSL and GZSL)."""

from zslbench.evaluation.single_label import (
    SeenUnseenCurve, ZSLMetrics, as_numpy, choose_calibration, curve_points, evaluate, harmonic_mean,
    per_class_accuracies, per_class_accuracy, seen_unseen_curve,
)

__all__ = [
    'SeenUnseenCurve', 'ZSLMetrics', 'as_numpy', 'choose_calibration', 'curve_points', 'evaluate', 'harmonic_mean',
    'per_class_accuracies', 'per_class_accuracy', 'seen_unseen_curve',
]
