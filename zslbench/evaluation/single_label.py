"""The zero-shot evaluation protocol of Xian et al. (GBU, TPAMI 2018), plus calibration.

Every accuracy here is a **per-class mean top-1 accuracy**: the mean, over the
classes that have test images, of each class's fraction of correctly predicted
images (classes without test images do not count). Accuracies are fractions in
[0, 1]; tables convert them to percent.

* ZSL: ``t1`` on test-unseen images, predicting among the unseen classes only.
* GZSL: ``u`` on test-unseen and ``s`` on test-seen images, both predicting among
  seen + unseen classes; ``h = 2us / (u + s)`` (0 when ``u + s = 0``).
* Calibrated stacking (Chao et al., ECCV 2016): a constant ``gamma`` is subtracted
  from every seen-class score before the argmax. ``gamma`` must be chosen on
  validation data (:func:`choose_calibration`); ``cs_*`` report the test metrics at
  that gamma. ``oracle_*`` is the best H over gamma on the test set itself: an
  upper bound for analysis, never a headline number.
* AUSUC: the area under the seen-unseen accuracy curve traced as gamma sweeps
  from -inf (every image predicted seen) to +inf (every image predicted unseen).

The curve is exact, not sampled on a grid. Under calibration an image can only be
predicted as its best seen class or its best unseen class, and it switches from
the former to the latter when gamma passes its *margin* ``best_seen_score -
best_unseen_score``. Tie conventions (used everywhere in this module):

* an image is predicted unseen iff ``gamma > margin``; at ``gamma == margin`` (a tie
  between the calibrated best seen and best unseen score) the seen class wins;
* ties within a group go to the class listed first in ``seen_classes`` /
  ``unseen_classes`` (``np.argmax`` over those columns, in that order).

Scores are (N, C) arrays over *all* classes, indexed by global class id; labels are
global class ids. Empty splits are allowed: the accuracy of an empty image set is
0.0 and the ``counts`` of :class:`ZSLMetrics` show that it was empty.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from zslbench.errors import DataError, UsageError

#: Rows of a score matrix handled at once when gathering a column group (keeps the copy in cache).
_CHUNK_BYTES = 4 * 1024 * 1024


# --------------------------------------------------------------------------- inputs


def as_numpy(values: Any) -> np.ndarray:
    """A numpy view/copy of a numpy array, torch tensor or sequence (torch is not imported)."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        values = values.detach().cpu()
        if values.is_floating_point() and values.element_size() < 4:  # float16/bfloat16
            values = values.float()
        values = values.numpy()
    return np.asarray(values)


def _as_scores(scores: Any, name: str) -> np.ndarray:
    array = as_numpy(scores)
    if array.ndim != 2:
        raise DataError(f"{name} must be a 2-D (images, classes) array, got shape {array.shape}",
                        hint="pass one row of class scores per image")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    return array


def _as_ids(values: Any, name: str) -> np.ndarray:
    array = as_numpy(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {array.shape}", hint="pass a flat list of class ids")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.mod(array, 1) == 0):
            raise DataError(f"{name} must hold integer class ids", hint="class ids index the class list")
    return array.astype(np.int64, copy=False)


def _class_positions(labels: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    """Position of each label in ``classes``; DataError when a label is not one of them."""
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    if labels.min() < 0:
        raise DataError(f"{what} holds a negative class id {int(labels.min())}", hint="class ids start at 0")
    size = int(max(labels.max(), classes.max() if classes.size else 0)) + 1
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    positions = lookup[labels]
    if np.any(positions < 0):
        stray = np.unique(labels[positions < 0])[:5].tolist()
        raise DataError(f"{what} holds images of classes {stray} outside the expected class group",
                        hint="test-seen labels must be seen classes, test-unseen labels unseen classes")
    return positions


def _check_classes(seen_classes: Any, unseen_classes: Any, num_columns: int | None) -> tuple[np.ndarray, np.ndarray]:
    seen, unseen = _as_ids(seen_classes, "seen_classes"), _as_ids(unseen_classes, "unseen_classes")
    for name, group in (("seen_classes", seen), ("unseen_classes", unseen)):
        if group.size == 0:
            raise DataError(f"{name} is empty", hint="GZSL needs at least one seen and one unseen class")
        if len(np.unique(group)) != len(group):
            raise DataError(f"{name} lists a class twice", hint="pass each class id once")
        if group.min() < 0 or (num_columns is not None and group.max() >= num_columns):
            raise DataError(f"{name} holds class id {int(group.max() if group.min() >= 0 else group.min())} "
                            f"outside the {num_columns} score columns",
                            hint="scores must have one column per class id")
    overlap = np.intersect1d(seen, unseen)
    if overlap.size:
        raise DataError(f"seen and unseen classes overlap: {overlap[:5].tolist()}",
                        hint="each class is either seen or unseen")
    return seen, unseen


# --------------------------------------------------------------------------- accuracies


def harmonic_mean(u: float, s: float) -> float:
    """H = 2us / (u + s), and 0 when u + s = 0."""
    total = u + s
    return 0.0 if total <= 0 else float(2.0 * u * s / total)


def _harmonic_means(u: np.ndarray, s: np.ndarray) -> np.ndarray:
    total = u + s
    return np.divide(2.0 * u * s, total, out=np.zeros_like(total, dtype=np.float64), where=total > 0)


def per_class_accuracies(predictions: Any, labels: Any, classes: Any) -> np.ndarray:
    """Top-1 accuracy of each class of ``classes`` (in that order), NaN for a class without images.

    ``predictions`` and ``labels`` are global class ids; every label must be in
    ``classes`` (DataError otherwise).
    """
    pred, true = _as_ids(predictions, "predictions"), _as_ids(labels, "labels")
    group = _as_ids(classes, "classes")
    if pred.shape != true.shape:
        raise DataError(f"{len(pred)} predictions for {len(true)} labels", hint="pass one prediction per image")
    positions = _class_positions(true, group, "labels")
    images = np.bincount(positions, minlength=len(group))
    correct = np.bincount(positions, weights=(pred == true), minlength=len(group))
    return np.divide(correct, images, out=np.full(len(group), np.nan), where=images > 0)


def per_class_accuracy(predictions: Any, labels: Any, classes: Any) -> float:
    """Per-class mean top-1 accuracy over the classes with images (0.0 when there are none)."""
    accuracies = per_class_accuracies(predictions, labels, classes)
    present = ~np.isnan(accuracies)
    return float(accuracies[present].mean()) if present.any() else 0.0


def _mean_accuracy_weights(positions: np.ndarray, num_classes: int) -> tuple[np.ndarray, int]:
    """Weight 1 / (images of its class * classes present) per image: weighted sums are per-class means."""
    images = np.bincount(positions, minlength=num_classes)
    present = int(np.count_nonzero(images))
    if present == 0:
        return np.zeros(0, dtype=np.float64), 0
    return 1.0 / (images[positions] * float(present)), present


# --------------------------------------------------------------------------- best class per group


@dataclass
class _GroupBests:
    """For each image: its best seen and best unseen class and the margin between their scores."""

    seen_class: np.ndarray  # global class ids
    unseen_class: np.ndarray
    margin: np.ndarray  # best seen score - best unseen score, float64


def _best_in_columns(scores: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax (first on ties) and max of every row over ``columns`` (in that order)."""
    n = scores.shape[0]
    best_index = np.empty(n, dtype=np.int64)
    best_score = np.empty(n, dtype=scores.dtype)
    step = max(1, _CHUNK_BYTES // max(1, len(columns) * scores.itemsize))
    # np.take on row chunks: fancy column indexing of the whole matrix is ~10x slower.
    for start in range(0, n, step):
        block = np.take(scores[start:start + step], columns, axis=1)
        index = block.argmax(axis=1)
        best_index[start:start + step] = index
        best_score[start:start + step] = np.take_along_axis(block, index[:, None], axis=1)[:, 0]
    return columns[best_index], best_score


def _group_bests(scores: np.ndarray, seen: np.ndarray, unseen: np.ndarray, name: str) -> _GroupBests:
    seen_class, seen_score = _best_in_columns(scores, seen)
    unseen_class, unseen_score = _best_in_columns(scores, unseen)
    # float64: the difference of two float32 scores is exact, so ties at gamma == margin are exact.
    margin = seen_score.astype(np.float64) - unseen_score.astype(np.float64)
    if not np.all(np.isfinite(margin)):
        raise DataError(f"{name} contain NaN or infinite values",
                        hint="the data is checked finite before a run, so the model diverged: lower train.lr")
    return _GroupBests(seen_class, unseen_class, margin)


def _calibrated_predictions(bests: _GroupBests, gamma: float) -> np.ndarray:
    """argmax of the scores with ``gamma`` subtracted from seen classes (ties -> seen)."""
    return np.where(gamma > bests.margin, bests.unseen_class, bests.seen_class)


# --------------------------------------------------------------------------- the seen-unseen curve


@dataclass
class SeenUnseenCurve:
    """GZSL accuracies (S, U) as a function of the calibration gamma, exactly.

    ``gammas`` are the K sorted breakpoints b_0 < ... < b_{K-1}. They cut the real
    line into K + 1 intervals (-inf, b_0], (b_0, b_1], ..., (b_{K-1}, +inf);
    ``seen_acc[k]`` and ``unseen_acc[k]`` are S and U on interval k (right-closed,
    because at gamma == margin the seen class wins). Interval 0 is gamma = -inf
    (everything predicted seen), interval K is gamma = +inf (everything unseen).
    """

    gammas: np.ndarray
    seen_acc: np.ndarray
    unseen_acc: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.gammas)
        if len(self.seen_acc) != k + 1 or len(self.unseen_acc) != k + 1:
            raise ValueError(f"a curve with {k} breakpoints needs {k + 1} accuracies per group")

    def interval(self, gamma: float) -> int:
        """Index of the interval holding ``gamma``."""
        return int(np.searchsorted(self.gammas, gamma, side="left"))

    def at(self, gamma: float) -> tuple[float, float]:
        """(S, U) with calibration ``gamma``."""
        k = self.interval(gamma)
        return float(self.seen_acc[k]), float(self.unseen_acc[k])

    def harmonic_means(self) -> np.ndarray:
        """H on every interval."""
        return _harmonic_means(self.unseen_acc, self.seen_acc)

    def representative_gamma(self, k: int) -> float:
        """A finite gamma inside interval ``k``: its midpoint, or a point beyond the outer breakpoints."""
        b = self.gammas
        if len(b) == 0:
            return 0.0
        # Unbounded intervals get the breakpoints' span (1 if a single point) as their width.
        pad = float(b[-1] - b[0]) or 1.0
        if k == 0:
            return float(b[0] - pad / 2)
        if k == len(b):
            return float(b[-1] + pad / 2)
        middle = float((b[k - 1] + b[k]) / 2)
        # Adjacent floats have no midpoint strictly inside; the right end belongs to the interval.
        return middle if middle > b[k - 1] else float(b[k])

    def best_h(self) -> tuple[float, float, float, float]:
        """(gamma, S, U, H) of the interval with the highest H (the first one on ties)."""
        h = self.harmonic_means()
        k = int(np.argmax(h))
        return self.representative_gamma(k), float(self.seen_acc[k]), float(self.unseen_acc[k]), float(h[k])

    def ausuc(self) -> float:
        """Area under the curve of U against S: trapezoids between consecutive (S, U) points."""
        return float(np.sum(-np.diff(self.seen_acc) * (self.unseen_acc[:-1] + self.unseen_acc[1:]) / 2.0))


def _curve_from_bests(seen_bests: _GroupBests, seen_positions: np.ndarray, num_seen: int,
                      unseen_bests: _GroupBests, unseen_positions: np.ndarray, num_unseen: int,
                      seen_labels: np.ndarray, unseen_labels: np.ndarray) -> SeenUnseenCurve:
    """The exact curve in O(N log N): sort the margins of the images that can be right."""
    seen_weights, _ = _mean_accuracy_weights(seen_positions, num_seen)
    unseen_weights, _ = _mean_accuracy_weights(unseen_positions, num_unseen)
    # A test-seen image is right only as its best seen class (gamma <= margin), a test-unseen
    # image only as its best unseen class (gamma > margin); the others never count.
    seen_right = seen_bests.seen_class == seen_labels
    unseen_right = unseen_bests.unseen_class == unseen_labels
    margins = np.concatenate([seen_bests.margin[seen_right], unseen_bests.margin[unseen_right]])
    n_seen_right = int(np.count_nonzero(seen_right))
    weight_seen = np.zeros(len(margins))
    weight_unseen = np.zeros(len(margins))
    weight_seen[:n_seen_right] = seen_weights[seen_right]
    weight_unseen[n_seen_right:] = unseen_weights[unseen_right]

    order = np.argsort(margins)
    sorted_margins = margins[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_margins[1:] != sorted_margins[:-1]])) if len(margins) \
        else np.zeros(0, dtype=np.int64)
    gammas = sorted_margins[starts]
    seen_drop = np.add.reduceat(weight_seen[order], starts) if len(starts) else np.zeros(0)
    unseen_gain = np.add.reduceat(weight_unseen[order], starts) if len(starts) else np.zeros(0)
    # Interval k: seen images with margin >= b_k still count, unseen ones with margin <= b_{k-1} do.
    seen_acc = np.concatenate([np.cumsum(seen_drop[::-1])[::-1], [0.0]])
    unseen_acc = np.concatenate([[0.0], np.cumsum(unseen_gain)])
    return SeenUnseenCurve(gammas=gammas, seen_acc=seen_acc, unseen_acc=unseen_acc)


def curve_points(curve: SeenUnseenCurve, max_points: int = 512) -> dict:
    """A JSON-ready copy of ``curve`` with at most ``max_points`` intervals, for plots.

    Both ends (all-seen, all-unseen) are always kept; each point carries a finite
    gamma inside its interval. Stored with every run so plots need no model.
    """
    n = len(curve.seen_acc)
    keep = np.unique(np.linspace(0, n - 1, num=min(n, max_points)).round().astype(np.int64))
    return {
        "gammas": [curve.representative_gamma(int(k)) for k in keep],
        "seen": curve.seen_acc[keep].astype(float).tolist(),
        "unseen": curve.unseen_acc[keep].astype(float).tolist(),
        "intervals": int(n),
    }


@dataclass
class _Prepared:
    """Validated inputs and each image's best seen/unseen class: what every metric is computed from."""

    seen: np.ndarray
    unseen: np.ndarray
    seen_labels: np.ndarray
    unseen_labels: np.ndarray
    seen_positions: np.ndarray
    unseen_positions: np.ndarray
    seen_bests: _GroupBests
    unseen_bests: _GroupBests

    def curve(self) -> SeenUnseenCurve:
        return _curve_from_bests(self.seen_bests, self.seen_positions, len(self.seen),
                                 self.unseen_bests, self.unseen_positions, len(self.unseen),
                                 self.seen_labels, self.unseen_labels)


def _prepare(seen_scores: Any, seen_labels: Any, unseen_scores: Any, unseen_labels: Any,
             seen_classes: Any, unseen_classes: Any, prefix: str = "") -> _Prepared:
    seen_matrix = _as_scores(seen_scores, f"{prefix}seen_scores")
    unseen_matrix = _as_scores(unseen_scores, f"{prefix}unseen_scores")
    if seen_matrix.shape[1] != unseen_matrix.shape[1]:
        raise DataError(f"{prefix}seen_scores have {seen_matrix.shape[1]} columns but {prefix}unseen_scores "
                        f"{unseen_matrix.shape[1]}", hint="score both splits against all classes")
    seen, unseen = _check_classes(seen_classes, unseen_classes, seen_matrix.shape[1])
    labels = {}
    for name, matrix, raw in (("seen", seen_matrix, seen_labels), ("unseen", unseen_matrix, unseen_labels)):
        labels[name] = _as_ids(raw, f"{prefix}{name}_labels")
        if len(labels[name]) != matrix.shape[0]:
            raise DataError(f"{prefix}{name}_scores have {matrix.shape[0]} rows but {len(labels[name])} labels",
                            hint="pass one label per scored image")
    return _Prepared(
        seen=seen, unseen=unseen, seen_labels=labels["seen"], unseen_labels=labels["unseen"],
        seen_positions=_class_positions(labels["seen"], seen, f"{prefix}seen_labels"),
        unseen_positions=_class_positions(labels["unseen"], unseen, f"{prefix}unseen_labels"),
        seen_bests=_group_bests(seen_matrix, seen, unseen, f"{prefix}seen_scores"),
        unseen_bests=_group_bests(unseen_matrix, seen, unseen, f"{prefix}unseen_scores"),
    )


def seen_unseen_curve(seen_scores: Any, seen_labels: Any, unseen_scores: Any, unseen_labels: Any,
                      seen_classes: Any, unseen_classes: Any) -> SeenUnseenCurve:
    """The exact GZSL seen-unseen accuracy curve of these scores (e.g. for plots)."""
    return _prepare(seen_scores, seen_labels, unseen_scores, unseen_labels, seen_classes, unseen_classes).curve()


def choose_calibration(val_seen_scores: Any, val_seen_labels: Any, val_unseen_scores: Any,
                       val_unseen_labels: Any, seen_classes: Any, unseen_classes: Any) -> float:
    """The calibration gamma maximising H on *validation* data (midpoint of the best interval).

    Pass validation scores only (e.g. from :func:`zslbench.data.dataset.validation_split`,
    whose pseudo-seen/pseudo-unseen classes play the roles of seen/unseen here): the
    gamma is then applied unchanged to the test scores via ``evaluate(..., gamma=...)``.
    """
    prepared = _prepare(val_seen_scores, val_seen_labels, val_unseen_scores, val_unseen_labels,
                        seen_classes, unseen_classes, prefix="val_")
    return prepared.curve().best_h()[0]


# --------------------------------------------------------------------------- metrics record


@dataclass
class ZSLMetrics:
    """The results of one evaluation; accuracies are fractions in [0, 1].

    ``cs_*`` are None unless a (validation-chosen) gamma was given. ``oracle_*``
    use the best gamma on the test set itself: for analysis only. ``per_class``
    maps ``"zsl_unseen"``, ``"gzsl_unseen"``, ``"gzsl_seen"`` (and, with a gamma,
    ``"cs_unseen"``, ``"cs_seen"``) to ``{str(class id): accuracy}`` over the
    classes that have test images.
    """

    t1: float
    u: float
    s: float
    h: float
    ausuc: float
    oracle_gamma: float
    oracle_u: float
    oracle_s: float
    oracle_h: float
    cs_gamma: float | None = None
    cs_u: float | None = None
    cs_s: float | None = None
    cs_h: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe dict (plain floats, ints, str keys)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ZSLMetrics":
        """Inverse of :meth:`to_dict`; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise DataError(f"stored metrics lack {', '.join(missing)}", hint="re-run the evaluation")
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)


def _per_class_dict(predictions: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    accuracies = per_class_accuracies(predictions, labels, classes)
    present = ~np.isnan(accuracies)
    return {str(int(c)): float(a) for c, a in zip(classes[present], accuracies[present])}


def _mean(values: dict[str, float]) -> float:
    return float(np.mean(list(values.values()))) if values else 0.0


def evaluate(seen_scores: Any, seen_labels: Any, unseen_scores: Any, unseen_labels: Any,
             seen_classes: Any, unseen_classes: Any, gamma: float | None = None) -> ZSLMetrics:
    """All ZSL/GZSL metrics of test scores.

    ``seen_scores`` (N_s, C) and ``unseen_scores`` (N_u, C) are the scores of the
    test-seen and test-unseen images over all C classes (numpy or torch), the
    labels their global class ids. ``gamma`` is a calibration chosen on validation
    data with :func:`choose_calibration`; without it the ``cs_*`` fields are None.
    An empty split gives accuracy 0.0 for its group (see ``counts``).
    """
    if gamma is not None and not np.isfinite(gamma):
        raise UsageError(f"calibration gamma must be a finite number, got {gamma}",
                         hint="use choose_calibration on validation scores")
    prepared = _prepare(seen_scores, seen_labels, unseen_scores, unseen_labels, seen_classes, unseen_classes)
    seen, unseen = prepared.seen, prepared.unseen
    seen_bests, unseen_bests = prepared.seen_bests, prepared.unseen_bests

    per_class = {
        # ZSL predicts among unseen classes only: that is each image's best unseen class.
        "zsl_unseen": _per_class_dict(unseen_bests.unseen_class, prepared.unseen_labels, unseen),
        "gzsl_unseen": _per_class_dict(_calibrated_predictions(unseen_bests, 0.0), prepared.unseen_labels, unseen),
        "gzsl_seen": _per_class_dict(_calibrated_predictions(seen_bests, 0.0), prepared.seen_labels, seen),
    }
    u, s = _mean(per_class["gzsl_unseen"]), _mean(per_class["gzsl_seen"])

    curve = prepared.curve()
    oracle_gamma, oracle_s, oracle_u, oracle_h = curve.best_h()
    calibrated: dict[str, float | None] = dict(cs_gamma=None, cs_u=None, cs_s=None, cs_h=None)
    if gamma is not None:
        per_class["cs_unseen"] = _per_class_dict(_calibrated_predictions(unseen_bests, gamma),
                                                 prepared.unseen_labels, unseen)
        per_class["cs_seen"] = _per_class_dict(_calibrated_predictions(seen_bests, gamma),
                                               prepared.seen_labels, seen)
        cs_u, cs_s = _mean(per_class["cs_unseen"]), _mean(per_class["cs_seen"])
        calibrated = dict(cs_gamma=float(gamma), cs_u=cs_u, cs_s=cs_s, cs_h=harmonic_mean(cs_u, cs_s))

    counts = {
        "images_test_seen": int(len(prepared.seen_labels)),
        "images_test_unseen": int(len(prepared.unseen_labels)),
        "classes_seen": int(len(seen)),
        "classes_unseen": int(len(unseen)),
        "classes_seen_present": len(per_class["gzsl_seen"]),
        "classes_unseen_present": len(per_class["gzsl_unseen"]),
        "curve_breakpoints": int(len(curve.gammas)),
    }
    return ZSLMetrics(
        t1=_mean(per_class["zsl_unseen"]), u=u, s=s, h=harmonic_mean(u, s), ausuc=curve.ausuc(),
        oracle_gamma=oracle_gamma, oracle_u=oracle_u, oracle_s=oracle_s, oracle_h=oracle_h,
        counts=counts, per_class=per_class, **calibrated,
    )
