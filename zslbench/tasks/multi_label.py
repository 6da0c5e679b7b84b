"""The multi-label task: a row of +1 / -1 / 0 over all labels per image, evaluated by mAP and F1@K.

Training targets are the (B, L_s) rows of the seen-label annotations (float),
against the seen labels' word vectors (L_s, D); at test time the model scores
all L labels with all word vectors (L, D) and the task reports ZSL and GZSL
mAP and F1@K (:mod:`zslbench.evaluation.multi_label`).

Only the ``standard`` protocol exists for multi-label data: train for
``train.epochs`` and report the last epoch; nothing is chosen on test data.
Feature-level methods are fitted on the trainval features with the same
(N, L_s) seen-label rows as targets (e.g. on the authors' NUS-WIDE features,
``--backbone authors-h5``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from zslbench.data.dataset import MULTI_LABEL, ZSLDataset
from zslbench.evaluation.multi_label import MultiLabelMetrics, evaluate_multilabel
from zslbench.tasks.base import Task, unseen_complement

if TYPE_CHECKING:  # torch is imported where images are served: `import zslbench.tasks` stays light
    import torch

    from zslbench.tasks.multi_label_images import MultiLabelImageDataset

#: Top-K of F1@K when a dataset does not say (the NUS-WIDE values).
DEFAULT_TOP_K = (3, 5)
#: Summary-table metrics, in order; ``{k}`` is each of the run's top-K.
SUMMARY_METRICS = ("zsl_map", "zsl_f1_at_{k}", "gzsl_map", "gzsl_f1_at_{k}")


def multilabel_image_sets(dataset: ZSLDataset, image_size: int, num_workers: int = 0, mean_std=None,
                          augment: bool = True) -> tuple[MultiLabelImageDataset, MultiLabelImageDataset]:
    """The training set (targets: seen-label rows) and the test set (targets: image indices)."""
    from zslbench.data.transforms import build_transform
    from zslbench.tasks.multi_label_images import MultiLabelImageDataset

    recipe = dataset.meta.get("recipe", dataset.name)
    seen = np.asarray(dataset.seen_classes, dtype=np.int64)
    train_set = MultiLabelImageDataset(dataset, dataset.splits["trainval"], build_transform(recipe, image_size, augment, mean_std=mean_std),
                                       label_columns=seen)
    test_set = MultiLabelImageDataset(dataset, dataset.splits["test"], build_transform(recipe, image_size, False, mean_std=mean_std))
    for ds in (train_set, test_set):
        ds.num_workers = num_workers
    return train_set, test_set


def score_test_images(model: torch.nn.Module, dataset: ZSLDataset, test_set: MultiLabelImageDataset, cfg: Any,
                      device: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N_test, L) of every test image against all labels, and the image indices of the rows."""
    import torch

    from zslbench.training.engine import score_images

    vectors = torch.as_tensor(dataset.class_attributes, dtype=torch.float32)
    scores, image_indices = score_images(model, test_set, vectors, cfg.train.eval_batch_size, device, cfg.train.amp)
    return scores, np.asarray(image_indices, dtype=np.int64)


def evaluate_scores(dataset: ZSLDataset, scores: np.ndarray, image_indices: np.ndarray) -> MultiLabelMetrics:
    """The protocol's metrics of test scores whose rows are the images ``image_indices``."""
    labels = np.asarray(dataset.labels[image_indices])
    top_k = tuple(int(k) for k in dataset.meta.get("top_k", DEFAULT_TOP_K))
    return evaluate_multilabel(scores, labels, dataset.seen_classes, dataset.unseen_classes, top_k=top_k)


def _per_label_ap(dataset: ZSLDataset, metrics: MultiLabelMetrics) -> dict:
    names = dataset.class_names
    return {"unseen": {names[int(i)]: float(ap) for i, ap in zip(dataset.unseen_classes, metrics.zsl.per_label_ap)}}


class MultiLabelTask(Task):
    """A row of labels per image (NUS-WIDE, Open Images, the synthetic multi-label benchmarks)."""

    name = MULTI_LABEL
    protocols = ("standard",)
    method_kinds = ("image", "feature", "training-free")
    feature_splits = ("trainval", "test")

    def feature_targets(self, dataset: ZSLDataset, image_ids: Any) -> np.ndarray:
        """The images' seen-label rows (+1 / -1 / 0) as float32 (N, L_s)."""
        rows = np.asarray(dataset.labels[np.asarray(image_ids, dtype=np.int64)])
        return rows[:, np.asarray(dataset.seen_classes, dtype=np.int64)].astype(np.float32)

    def evaluate_features(self, model: Any, dataset: ZSLDataset, features: dict[str, Any],
                          gamma: float | None) -> dict:
        test_split = features["test"]
        scores = np.asarray(model.class_scores(test_split.features, dataset.class_attributes), dtype=np.float32)
        test = evaluate_scores(dataset, scores, np.asarray(test_split.image_ids, dtype=np.int64))
        return self._entries(dataset, test)

    def _entries(self, dataset: ZSLDataset, test: MultiLabelMetrics, text_encoder: str = "") -> dict:
        return {"test": test.to_dict(), "per_label_ap": _per_label_ap(dataset, test),
                "label_vectors": dataset.meta.get("label_vectors", f"text-encoder:{text_encoder}")}

    def method_context(self, context: Any, dataset: ZSLDataset) -> Any:
        """The method context, with the label information a multi-label method needs in ``extras``."""
        extras = {**context.extras, "task": MULTI_LABEL, "label_names": list(dataset.class_names),
                  "label_vector_dim": int(dataset.class_attributes.shape[1]),
                  "top_k": tuple(dataset.meta.get("top_k", DEFAULT_TOP_K))}
        # attribute_vectors would encode the names of the word-vector dimensions: meaningless here.
        return dataclasses.replace(context, attribute_vectors=None, extras=extras)

    def image_sets(self, dataset: ZSLDataset, image_size: int, num_workers: int = 0, mean_std: Any = None,
                   augment: bool = True) -> tuple[Any, dict[str, Any]]:
        train_set, test_set = multilabel_image_sets(dataset, image_size, num_workers, mean_std, augment)
        return train_set, {"test": test_set}

    def evaluate_model(self, model: Any, dataset: ZSLDataset, eval_sets: dict[str, Any], cfg: Any, device: Any,
                       gamma: float | None) -> dict:
        scores, image_indices = score_test_images(model, dataset, eval_sets["test"], cfg, device)
        return self._entries(dataset, evaluate_scores(dataset, scores, image_indices), cfg.data.text_encoder)

    def evaluate_scores(self, scores: Any, labels: Any, seen_classes: Sequence[int],
                        unseen_classes: Sequence[int] | None = None, gamma: float | None = None,
                        top_k: Sequence[int] = DEFAULT_TOP_K) -> dict:
        unseen = unseen_complement(int(np.shape(scores)[1]), seen_classes, unseen_classes)
        return evaluate_multilabel(scores, labels, list(seen_classes), unseen, top_k=top_k).to_dict()

    def summary_columns(self, test: dict) -> list[str]:
        keys = [key.format(k=k) for key in SUMMARY_METRICS for k in (test.get("top_k", []) if "{k}" in key else [0])]
        return [k for k in keys if test.get(k) is not None]

    def table_columns(self, present: Sequence[str], oracle: bool = False) -> list[str]:
        """mAP and F1@K for ZSL and GZSL (the headline numbers); precision@K, recall@K and the rest on request.

        Without those, every stored metric but the test-chosen (``oracle_*``, unless
        asked for) and as-published ones.
        """
        headline = [k for k in present if k.endswith("_map") or "_f1_at_" in k]
        return headline or [k for k in present if (oracle or not k.startswith("oracle_")) and not k.startswith("published_")]
