"""The as-published protocol (``--protocol published``): numbers chosen on the test data.

SVIP's public code (uqzhichen/SVIP, ``vit_utils.evaluate_all_dual``) and much
ZSL code report figures this way; zslbench computes them only to show how far
such a figure sits above the honest one, and labels them as chosen on test data.
After **every** training epoch both test sets are scored, then:

* T1: per-class mean top-1 on test-unseen images among the unseen classes;
  the reported value is the best over epochs.
* raw U / S / H (no calibration): per-class mean top-1 over all classes; each
  is its own best over epochs (they may come from different epochs).
* calibrated stacking: scores become softmax *probabilities* over all classes,
  ``e`` in ``np.arange(-1, 1, 0.01)`` is *added* to the unseen classes'
  probabilities, accuracies are *per-image* (overall) accuracies; per epoch the
  ``e`` with the best H is taken (first on ties), then U, S and H at that ``e``
  are each maximised over epochs separately. These are ``published_U/S/H``.
* the checkpoint the code keeps is the epoch of the best stacked H.

Every maximum keeps the first epoch that reaches it (the code's strict ``<``).
Accuracies are fractions in [0, 1] like the rest of zslbench.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from zslbench.evaluation import harmonic_mean, per_class_accuracy

#: The calibration grid of the public code, exactly as it builds it.
STACKING_OFFSETS = np.arange(-1, 1, 0.01)


@dataclass
class EpochTestRecord:
    """The test numbers of one epoch, as the public code computes them."""

    epoch: int
    t1: float  # per-class, among unseen classes
    u: float  # raw GZSL, per-class
    s: float
    h: float
    stacked_e: float  # the offset with the best stacked H this epoch
    stacked_u: float  # per-image accuracies at that offset
    stacked_s: float
    stacked_h: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PublishedMetrics:
    """Maxima over epochs, each with the (0-based) epoch it came from."""

    published_T1: float
    published_T1_epoch: int
    published_U: float
    published_U_epoch: int
    published_S: float
    published_S_epoch: int
    published_H: float
    published_H_epoch: int  # also the checkpoint the code keeps
    published_e: float  # the stacking offset of published_H
    published_raw_U: float
    published_raw_U_epoch: int
    published_raw_S: float
    published_raw_S_epoch: int
    published_raw_H: float
    published_raw_H_epoch: int
    epochs_evaluated: int

    def to_dict(self) -> dict:
        return asdict(self)


def softmax_probabilities(scores: np.ndarray) -> np.ndarray:
    """Row softmax in float32, as the code's ``F.softmax`` on float32 scores."""
    s = np.asarray(scores, dtype=np.float32)
    shifted = np.exp(s - s.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)


def stacked_accuracies_loop(probabilities: np.ndarray, labels: np.ndarray, unseen_classes: np.ndarray,
                            offsets: np.ndarray = STACKING_OFFSETS) -> np.ndarray:
    """The public code's loop, one shifted matrix per offset: the definition :func:`stacked_accuracies` must equal.

    Kept as the reference for tests and benchmarks (it is ~50x slower on 10,000 x 1,000).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    is_unseen = np.zeros(probabilities.shape[1], dtype=bool)
    is_unseen[np.asarray(unseen_classes)] = True
    out = np.zeros(len(offsets))
    if len(labels) == 0:
        return out
    for i, e in enumerate(offsets):
        shifted = np.where(is_unseen, probabilities + np.float32(e), probabilities)  # float32, like the code
        out[i] = float(np.mean(shifted.argmax(axis=1) == np.asarray(labels)))
    return out


def stacked_accuracies(probabilities: np.ndarray, labels: np.ndarray, unseen_classes: np.ndarray,
                       offsets: np.ndarray = STACKING_OFFSETS) -> np.ndarray:
    """Per-image accuracy (len(offsets),) after adding each offset to the unseen columns' probabilities.

    Exactly the code's loop (``argmax(p + e * is_unseen)`` in float32 per offset, first column on
    ties) without materialising a shifted matrix per offset: ``fl(p + e)`` is monotone in ``p``, so
    an image's prediction at offset ``e`` depends only on its best seen probability (and column),
    its best unseen probability, its label's probability and the best unseen probability in the
    columns before its label (which decides ties that the rounding of ``p + e`` creates).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n, num_classes = probabilities.shape if probabilities.ndim == 2 else (len(labels), 0)
    out = np.zeros(len(offsets))
    if n == 0:
        return out
    is_unseen = np.zeros(num_classes, dtype=bool)
    is_unseen[np.asarray(unseen_classes, dtype=np.int64)] = True
    e = np.asarray(offsets, dtype=np.float64).astype(np.float32)[None, :]  # np.float32(e), like the code
    rows = np.arange(n)
    seen_cols, unseen_cols = np.flatnonzero(~is_unseen), np.flatnonzero(is_unseen)
    neg_inf = np.float32(-np.inf)
    if len(seen_cols):
        seen_first = seen_cols[probabilities[:, seen_cols].argmax(axis=1)]
        seen_best = probabilities[rows, seen_first]
    else:
        seen_first, seen_best = np.full(n, -1), np.full(n, neg_inf, dtype=np.float32)
    unseen_probabilities = probabilities[:, unseen_cols]
    unseen_best = unseen_probabilities.max(axis=1, initial=neg_inf)
    # Best unseen probability among the columns before each label's column (-inf if none).
    unseen_before_label = np.searchsorted(unseen_cols, labels)  # how many unseen columns precede the label
    earlier = np.arange(len(unseen_cols))[None, :] < unseen_before_label[:, None]
    before = np.where(earlier, unseen_probabilities, neg_inf).max(axis=1, initial=neg_inf)
    label_prob = probabilities[rows, labels]

    unseen_shifted = unseen_best[:, None] + e  # float32 + float32: the code's rounding
    first_unseen_is_label_or_later = (before[:, None] + e) < unseen_shifted
    seen_best = seen_best[:, None]
    label_unseen = is_unseen[labels][:, None]
    seen_right = ((seen_first == labels)[:, None]
                  & ((seen_best > unseen_shifted) | ((seen_best == unseen_shifted) & first_unseen_is_label_or_later)))
    unseen_right = (((label_prob[:, None] + e) == unseen_shifted) & first_unseen_is_label_or_later
                    & ((unseen_shifted > seen_best) | ((unseen_shifted == seen_best) & (labels < seen_first)[:, None])))
    correct = np.where(label_unseen, unseen_right, seen_right)
    return correct.sum(axis=0).astype(np.float64) / n


def epoch_record(epoch: int, seen_scores: Any, seen_labels: Any, unseen_scores: Any, unseen_labels: Any,
                 seen_classes: Sequence[int], unseen_classes: Sequence[int]) -> EpochTestRecord:
    """One epoch's record from the scores (N, C) of the test-seen and test-unseen images over all classes.

    ``seen_scores`` / ``unseen_scores`` are the method's class scores (logits);
    their softmax is the code's ``softmax(5 x score)`` for SVIP.
    """
    seen_scores = np.asarray(seen_scores, dtype=np.float32)
    unseen_scores = np.asarray(unseen_scores, dtype=np.float32)
    seen_labels, unseen_labels = np.asarray(seen_labels), np.asarray(unseen_labels)
    seen, unseen = np.asarray(seen_classes), np.asarray(unseen_classes)
    all_classes = np.arange(seen_scores.shape[1])
    zsl_predictions = unseen[unseen_scores[:, unseen].argmax(axis=1)] if len(unseen_labels) else unseen_labels
    t1 = per_class_accuracy(zsl_predictions, unseen_labels, unseen)
    u = per_class_accuracy(unseen_scores.argmax(axis=1), unseen_labels, all_classes) if len(unseen_labels) else 0.0
    s = per_class_accuracy(seen_scores.argmax(axis=1), seen_labels, all_classes) if len(seen_labels) else 0.0
    acc_s = stacked_accuracies(softmax_probabilities(seen_scores), seen_labels, unseen)
    acc_u = stacked_accuracies(softmax_probabilities(unseen_scores), unseen_labels, unseen)
    h_grid = [harmonic_mean(a_u, a_s) for a_u, a_s in zip(acc_u, acc_s)]
    best = int(np.argmax(h_grid))  # first offset with the best H (the code's list.index(max))
    return EpochTestRecord(epoch=epoch, t1=t1, u=u, s=s, h=harmonic_mean(u, s),
                           stacked_e=float(STACKING_OFFSETS[best]), stacked_u=float(acc_u[best]),
                           stacked_s=float(acc_s[best]), stacked_h=float(h_grid[best]))


def _best(records: Sequence[EpochTestRecord], field: str) -> tuple[float, int]:
    values = [getattr(r, field) for r in records]
    i = int(np.argmax(values))  # first epoch reaching the maximum
    return float(values[i]), int(records[i].epoch)


def published_metrics(records: Sequence[EpochTestRecord]) -> PublishedMetrics:
    """The as-published numbers from the per-epoch records (each maximised over epochs separately)."""
    if not records:
        raise ValueError("the published protocol needs at least one evaluated epoch")
    t1, t1_epoch = _best(records, "t1")
    u, u_epoch = _best(records, "stacked_u")
    s, s_epoch = _best(records, "stacked_s")
    h, h_epoch = _best(records, "stacked_h")
    raw_u, raw_u_epoch = _best(records, "u")
    raw_s, raw_s_epoch = _best(records, "s")
    raw_h, raw_h_epoch = _best(records, "h")
    e = next(r.stacked_e for r in records if r.epoch == h_epoch)
    return PublishedMetrics(
        published_T1=t1, published_T1_epoch=t1_epoch, published_U=u, published_U_epoch=u_epoch,
        published_S=s, published_S_epoch=s_epoch, published_H=h, published_H_epoch=h_epoch, published_e=e,
        published_raw_U=raw_u, published_raw_U_epoch=raw_u_epoch, published_raw_S=raw_s,
        published_raw_S_epoch=raw_s_epoch, published_raw_H=raw_h, published_raw_H_epoch=raw_h_epoch,
        epochs_evaluated=len(records),
    )


def record_from_dict(values: dict) -> EpochTestRecord:
    """An :class:`EpochTestRecord` from its stored dict (history ``extra`` keys ``published_*``)."""
    return EpochTestRecord(**{k: values[k] for k in EpochTestRecord.__dataclass_fields__})


def check_method(protocol: str | None, name: str, kind: str) -> None:
    """Under this protocol, a UsageError unless the method trains in epochs (an image method)."""
    from zslbench.errors import UsageError

    if protocol == "published" and kind != "image":
        raise UsageError(f"--protocol published evaluates after every training epoch; {name!r} has no epochs",
                         "use it with an image method (svip, baseline, ...)")


def hook_for(cfg, dataset, device):
    """The runner's ``on_epoch_end_factory`` for a run config: :func:`test_scoring_hook` under this protocol, else None."""
    if cfg.protocol != "published":
        return None
    return test_scoring_hook(dataset, cfg.train.eval_batch_size, device, cfg.train.amp)


def metrics_for(protocol: str, history: Sequence[dict]) -> dict:
    """``metrics.json`` entries of this protocol (``published``, ``published_per_epoch``); empty for other protocols."""
    if protocol != "published":
        return {}
    published, per_epoch = from_history(history)
    return {"published": published, "published_per_epoch": per_epoch}


def test_scoring_hook(dataset, batch_size: int, device, amp: bool):
    """An ``on_epoch_end_factory`` for the runner: after every epoch, score both test sets and keep the record.

    The record goes into the epoch's history (``extra["published_record"]``), so a
    resumed run keeps the epochs it already evaluated.
    """
    import torch

    from zslbench.training.engine import score_images

    attributes = torch.as_tensor(dataset.class_attributes, dtype=torch.float32)

    def factory(model, test_sets):
        def on_epoch_end(epoch: int) -> dict:
            ss, sl = score_images(model, test_sets["test_seen"], attributes, batch_size, device, amp)
            us, ul = score_images(model, test_sets["test_unseen"], attributes, batch_size, device, amp)
            record = epoch_record(epoch, ss, sl, us, ul, dataset.seen_classes, dataset.unseen_classes)
            model.train()
            return {"published_record": record.to_dict()}

        return on_epoch_end

    return factory


def from_history(history: Sequence[dict]) -> tuple[dict, list[dict]]:
    """``metrics["published"]`` and the per-epoch records from a run's stored history."""
    records = [record_from_dict(h["extra"]["published_record"]) for h in history
               if "published_record" in (h.get("extra") or {})]
    return published_metrics(records).to_dict(), [r.to_dict() for r in records]


# --------------------------------------------------------------------------- tables (compare --published, report)

#: Table columns of ``compare --published`` beside the honest T1 / H / CS-H: the published numbers and their gaps.
PUBLISHED_COLUMNS = ("published_t1", "published_gap_t1", "published_u", "published_s", "published_h",
                     "published_gap_h")
LEGEND_PUBLISHED = ("'chosen on test': the as-published protocol (--protocol published): the best epoch on the test "
                    "sets, each number maximised separately, GZSL with a stacking offset swept on test probabilities "
                    "and per-image accuracy; chosen on test data, not a result. Δ: that number minus the honest "
                    "last-epoch T1 / raw H of the same run")


def published_scores(run_metrics: dict) -> dict[str, float]:
    """A stored run's published numbers and gaps as table metrics (fractions); empty for other protocols."""
    published, test = run_metrics.get("published"), run_metrics.get("test") or {}
    if not isinstance(published, dict) or "published_T1" not in published:
        return {}
    out = {"published_t1": float(published["published_T1"]), "published_u": float(published["published_U"]),
           "published_s": float(published["published_S"]), "published_h": float(published["published_H"])}
    if "t1" in test:
        out["published_gap_t1"] = out["published_t1"] - float(test["t1"])
    if "h" in test:
        out["published_gap_h"] = out["published_h"] - float(test["h"])
    return out
