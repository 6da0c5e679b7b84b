"""The single-label task: one class per image, scored over all classes, evaluated by the GBU protocol.

Training targets are the image's seen-class position (0..S-1) against the
seen classes' attribute vectors; evaluation scores test-seen and test-unseen
images over all C classes and reports T1, U, S, H, AUSUC, the test-swept
``oracle_*`` (analysis only) and, under the ``gbu`` protocol, ``cs_*`` at a
calibration chosen on validation data (see :mod:`zslbench.evaluation`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zslbench.data.dataset import SINGLE_LABEL
from zslbench.tasks.base import Task, unseen_complement

#: Splits scored at test time.
EVAL_SPLITS = ("test_seen", "test_unseen")
#: Headline metrics of every single-label run, in table order.
STANDARD_METRICS = ("t1", "u", "s", "h", "ausuc")
#: Calibrated-stacking metrics: present only for runs of the validated (gbu) protocol.
CALIBRATED_METRICS = ("cs_u", "cs_s", "cs_h")
#: Gamma tuned on the test set itself: shown only on request, always labelled as such.
ORACLE_METRICS = ("oracle_u", "oracle_s", "oracle_h")
#: Summary-table metrics, in order (``cs_*`` only under the gbu protocol).
SUMMARY_METRICS = STANDARD_METRICS + CALIBRATED_METRICS


def seen_positions(dataset: Any, labels: np.ndarray) -> np.ndarray:
    """Each label's position among the seen classes (-1 for an unseen class): the training target."""
    seen = np.asarray(dataset.seen_classes)
    remap = np.full(dataset.num_classes, -1, dtype=np.int64)
    remap[seen] = np.arange(len(seen))
    return remap[np.asarray(labels)]


def evaluate_with_curve(seen_scores: Any, seen_labels: Any, unseen_scores: Any, unseen_labels: Any, dataset: Any,
                        gamma: float | None) -> tuple[Any, dict]:
    """Test metrics plus a downsampled seen-unseen curve (kept so plots need no model)."""
    from zslbench.evaluation import curve_points, evaluate, seen_unseen_curve

    args = (seen_scores, seen_labels, unseen_scores, unseen_labels, dataset.seen_classes, dataset.unseen_classes)
    return evaluate(*args, gamma=gamma), curve_points(seen_unseen_curve(*args))


class SingleLabelTask(Task):
    """One class per image (CUB, AwA2, SUN, the synthetic benchmarks)."""

    name = SINGLE_LABEL
    protocols = ("standard", "gbu", "published")
    method_kinds = ("image", "feature", "training-free")
    feature_splits = ("trainval", *EVAL_SPLITS)

    def feature_targets(self, dataset: Any, image_ids: Any) -> np.ndarray:
        """Seen-class positions (0..S-1) of the images."""
        return seen_positions(dataset, np.asarray(dataset.labels)[np.asarray(image_ids)])

    def evaluate_features(self, model: Any, dataset: Any, features: dict[str, Any], gamma: float | None) -> dict:
        seen, unseen = (features[split] for split in EVAL_SPLITS)
        test, curve = evaluate_with_curve(model.class_scores(seen.features, dataset.class_attributes), seen.labels,
                                          model.class_scores(unseen.features, dataset.class_attributes), unseen.labels,
                                          dataset, gamma)
        return {"test": test.to_dict(), "curve": curve}

    def image_sets(self, dataset: Any, image_size: int, num_workers: int = 0, mean_std: Any = None,
                   augment: bool = True) -> tuple[Any, dict[str, Any]]:
        from zslbench.data.transforms import ImageDataset, build_transform

        recipe = dataset.meta.get("recipe", dataset.name)
        train_idx = np.asarray(dataset.splits["trainval"])
        train_set = ImageDataset(dataset, train_idx, build_transform(recipe, image_size, train=augment, mean_std=mean_std),
                                 targets=seen_positions(dataset, dataset.labels[train_idx]))
        eval_tf = build_transform(recipe, image_size, train=False, mean_std=mean_std)
        eval_sets = {s: ImageDataset(dataset, np.asarray(dataset.splits[s]), eval_tf) for s in EVAL_SPLITS}
        for ds in (train_set, *eval_sets.values()):
            ds.num_workers = num_workers
        return train_set, eval_sets

    def score_model(self, model: Any, dataset: Any, eval_sets: dict[str, Any], cfg: Any, device: Any) -> dict:
        """(scores, labels) of each evaluation split over all classes."""
        import torch

        from zslbench.training.engine import score_images

        attrs = torch.as_tensor(dataset.class_attributes, dtype=torch.float32)
        return {split: score_images(model, eval_sets[split], attrs, cfg.train.eval_batch_size, device, cfg.train.amp)
                for split in EVAL_SPLITS}

    def evaluate_model(self, model: Any, dataset: Any, eval_sets: dict[str, Any], cfg: Any, device: Any,
                       gamma: float | None) -> dict:
        scored = self.score_model(model, dataset, eval_sets, cfg, device)
        test, curve = evaluate_with_curve(*scored["test_seen"], *scored["test_unseen"], dataset, gamma)
        entries = {"test": test.to_dict(), "curve": curve}
        selection = patch_selection_scores(model, dataset, eval_sets, device, cfg.train.eval_batch_size)
        if selection is not None:
            entries["patch_selection"] = selection
        if dataset.attribute_groups:  # per-family accuracy and the family-blind ceilings
            from zslbench.tasks.diagnostics import family_metrics

            entries["families"] = family_metrics(model, dataset, eval_sets, cfg, device)
        return entries

    def evaluate_scores(self, scores: Any, labels: Any, seen_classes: Sequence[int],
                        unseen_classes: Sequence[int] | None = None, gamma: float | None = None,
                        top_k: Sequence[int] = (3, 5)) -> dict:
        from zslbench.evaluation import evaluate
        from zslbench.evaluation.single_label import as_numpy

        scores, labels = as_numpy(scores), as_numpy(labels)
        seen = [int(c) for c in seen_classes]
        unseen = unseen_complement(scores.shape[1], seen, unseen_classes)
        is_seen = np.isin(labels, seen)
        return evaluate(scores[is_seen], labels[is_seen], scores[~is_seen], labels[~is_seen], seen, unseen,
                        gamma=gamma).to_dict()

    def summary_columns(self, test: dict) -> list[str]:
        return [k for k in SUMMARY_METRICS if test.get(k) is not None]

    def table_columns(self, present: Sequence[str], oracle: bool = False) -> list[str]:
        """The standard five, CS-* where some run has them, oracle-* on request."""
        wanted = SUMMARY_METRICS + (ORACLE_METRICS if oracle else ())
        return [k for k in wanted if k in present]


def patch_selection_scores(model: Any, dataset: Any, eval_sets: dict, device: Any, batch_size: int) -> dict | None:
    """Precision/recall of a method's kept patches against the object masks (synthetic data)."""
    if dataset.masks is None or not hasattr(model, "patch_selection"):
        return None
    import torch
    from torch.utils.data import DataLoader

    from zslbench.data.masks import object_patches, selection_precision_recall

    from zslbench.tasks.diagnostics import selection_quality

    model.eval()
    kept, indices, scores = [], [], []
    with torch.no_grad():
        for split in EVAL_SPLITS:
            for images, _, index in DataLoader(eval_sets[split], batch_size=batch_size):
                if hasattr(model, "set_batch_indices"):  # e.g. SVIP's mask-oracle control looks up the masks
                    model.set_batch_indices(index.to(device))
                kept.append(model.patch_selection(images.to(device)).cpu().numpy())
                batch_scores = model.selection_scores(images.to(device)) if hasattr(model, "selection_scores") else None
                if batch_scores is not None:  # a model may have no scores (e.g. SVIP without selection)
                    scores.append(batch_scores.float().cpu().numpy())
                indices.append(np.asarray(index))
    kept_all = np.concatenate(kept)
    truth = object_patches(dataset.masks[np.concatenate(indices)], tuple(model.patch_grid))
    precision, recall = selection_precision_recall(kept_all, truth)
    out = {"precision": float(precision), "recall": float(recall), "grid": list(model.patch_grid),
           "kept_fraction": float(kept_all.mean()), "object_fraction": float(truth.mean()),
           "images": int(kept_all.shape[0])}
    out.update(selection_quality(kept_all, np.concatenate(scores) if scores else None, truth, precision, recall))
    return out
