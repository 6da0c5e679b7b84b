"""The diagnostic block of a single-label run's metrics.json (see :mod:`zslbench.evaluation.diagnostics`).

Kept apart from the runner so the runner only calls two functions.
"""

from __future__ import annotations

import numpy as np
import torch

from zslbench.evaluation import diagnostics
from zslbench.data.dataset import ZSLDataset


def family_metrics(model, dataset: ZSLDataset, test_sets: dict, cfg, device) -> dict:
    """Per attribute family: the blind T1 ceiling, and the accuracy of the predicted classes' values.

    ``zsl``: test-unseen images predicted among the unseen classes (the T1
    setting); ``seen``: test-seen images predicted among the seen classes.
    Fractions, not percent, like the rest of metrics.json.
    """
    from zslbench.training.engine import score_images

    groups = dataset.attribute_groups
    names = list(dataset.meta.get("family_names") or [f"family{i}" for i in range(len(groups))])
    attributes = np.asarray(dataset.class_attributes)
    unseen, seen = np.asarray(dataset.unseen_classes), np.asarray(dataset.seen_classes)
    out: dict = {"names": names, "chance_t1": 1.0 / len(unseen),
                 "blind_t1_ceiling": diagnostics.family_blind_ceilings(attributes, groups, unseen)}
    attrs = torch.as_tensor(attributes, dtype=torch.float32)
    for key, split, classes in (("zsl_accuracy", "test_unseen", unseen), ("seen_accuracy", "test_seen", seen)):
        scores, labels = score_images(model, test_sets[split], attrs, cfg.train.eval_batch_size, device, cfg.train.amp)
        predicted = classes[np.argmax(scores[:, classes], axis=1)]
        out[key] = diagnostics.family_accuracy(predicted, labels, attributes, groups)
    return out


def selection_quality(kept: np.ndarray, scores: np.ndarray | None, truth: np.ndarray, precision: float,
                      recall: float) -> dict:
    """AUROC of the selection scores against the object patches, and precision/recall normalised
    between random (0) and mask-oracle (1) selections of the same size."""
    num_kept = int(round(float(kept.sum(1).mean())))
    bounds = diagnostics.selection_bounds(truth, max(num_kept, 1))
    out = {"num_kept": num_kept, **bounds, **diagnostics.normalised_selection(precision, recall, bounds)}
    if scores is not None:
        out["auroc"] = diagnostics.selection_auroc(scores, truth)
    return out
