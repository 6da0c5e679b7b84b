"""One multi-label run: train an image method on the seen labels, score every test image against
all labels, evaluate mAP and F1@K (ZSL and GZSL).

Called by :func:`zslbench.runner.execute_run` when the dataset's task is
``multi-label``; it reuses the core engine (training loop, checkpoints,
``--resume``) and the run store. Training targets are the (B, L_s) rows of
the seen-label annotations (+1 / -1 / 0, float), the engine's
``class_attributes`` are the seen labels' word vectors (L_s, D); at test time
the model scores all L labels with all word vectors (L, D).

Only the ``standard`` protocol exists for multi-label data: train for
``train.epochs`` and report the last epoch; nothing is chosen on test data.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench import store
from zslbench.data.dataset import MULTI_LABEL, ArrayImages, ZSLDataset
from zslbench.data.transforms import ImageDataset, build_transform
from zslbench.errors import UsageError
from zslbench.multilabel.metrics import MultiLabelMetrics, evaluate_multilabel

#: Top-K of F1@K when a dataset does not say (the NUS-WIDE values).
DEFAULT_TOP_K = (3, 5)


class MultiLabelImageDataset(ImageDataset):
    """(image, target, index) triples for multi-label data.

    With ``label_columns`` the target is the image's annotation row restricted
    to those label ids, as float32 (+1 / -1 / 0), fetched lazily so sparse
    annotation matrices are never made dense; without it the target is the
    image index (for scoring, where the runner looks the labels up itself).
    """

    def __init__(self, dataset: ZSLDataset, indices: np.ndarray, transform: Any,
                 label_columns: np.ndarray | None = None):
        indices = np.asarray(indices, dtype=np.int64)
        super().__init__(dataset, indices, transform, targets=indices)
        self.labels = dataset.labels
        self.label_columns = None if label_columns is None else np.asarray(label_columns, dtype=np.int64)

    def _target_rows(self, image_indices: np.ndarray) -> torch.Tensor:
        rows = np.asarray(self.labels[image_indices])
        return torch.from_numpy(rows[:, self.label_columns].astype(np.float32))

    def __getitem__(self, i: int):
        image, index, _ = super().__getitem__(i)
        if self.label_columns is None:
            return image, index, index
        return image, self._target_rows(np.array([index]))[0], index

    def __getitems__(self, positions: list[int]):
        if not isinstance(self.source, ArrayImages):
            return [self.__getitem__(p) for p in positions]
        image_indices = self.indices[np.asarray(positions, dtype=np.int64)]
        images = self._transform_batch(image_indices).unbind(0)
        if self.label_columns is None:
            targets = image_indices.tolist()
        else:
            targets = self._target_rows(image_indices).unbind(0)
        return list(zip(images, targets, image_indices.tolist()))


def multilabel_image_sets(dataset: ZSLDataset, image_size: int, num_workers: int = 0, mean_std=None,
                          augment: bool = True) -> tuple[MultiLabelImageDataset, MultiLabelImageDataset]:
    """The training set (targets: seen-label rows) and the test set (targets: image indices)."""
    recipe = dataset.meta.get("recipe", dataset.name)
    seen = np.asarray(dataset.seen_classes, dtype=np.int64)
    train_set = MultiLabelImageDataset(dataset, dataset.splits["trainval"], build_transform(recipe, image_size, augment, mean_std=mean_std),
                                       label_columns=seen)
    test_set = MultiLabelImageDataset(dataset, dataset.splits["test"], build_transform(recipe, image_size, False, mean_std=mean_std))
    for ds in (train_set, test_set):
        ds.num_workers = num_workers
    return train_set, test_set


def _check_supported(resolved: Any) -> None:
    cfg, spec = resolved.config, resolved.method
    if MULTI_LABEL not in spec.tasks:
        raise UsageError(f"method {spec.name!r} does not support multi-label datasets like {cfg.dataset!r}",
                         f"{spec.name} supports: {', '.join(spec.tasks)}; see `zslbench list methods`")
    if cfg.protocol != "standard":
        raise UsageError(f"protocol {cfg.protocol!r} is not defined for multi-label datasets",
                         "use --protocol standard (the default)")
    if spec.kind != "image":
        raise UsageError(f"method {spec.name!r} is a feature method; multi-label runs support image methods only")


def _context(cfg: Any, dataset: ZSLDataset, device: torch.device):
    """The method context, with the label information a multi-label method needs in ``extras``."""
    from zslbench.runner import method_context

    context = method_context(cfg, dataset, device)
    extras = {**context.extras, "task": MULTI_LABEL, "label_names": list(dataset.class_names),
              "label_vector_dim": int(dataset.class_attributes.shape[1]),
              "top_k": tuple(dataset.meta.get("top_k", DEFAULT_TOP_K))}
    # attribute_vectors would encode the names of the word-vector dimensions: meaningless here.
    return dataclasses.replace(context, attribute_vectors=None, extras=extras)


def score_test_images(model: torch.nn.Module, dataset: ZSLDataset, test_set: MultiLabelImageDataset, cfg: Any,
                      device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N_test, L) of every test image against all labels, and the image indices of the rows."""
    from zslbench.engine import score_images

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


def run_multilabel(resolved: Any, dataset: ZSLDataset, device: torch.device, run_dir: Path, resume: bool,
                   progress: bool) -> tuple[dict, dict]:
    """Train, score and evaluate one multi-label run; returns (metrics, timings) for the run store."""
    from zslbench.checkpoints import load_resume_state
    from zslbench.engine import seed_everything, train
    from zslbench.runner import _mean_throughput

    _check_supported(resolved)
    cfg = resolved.config
    seed_everything(cfg.seed)
    model = resolved.method.build(_context(cfg, dataset, device), resolved.options)
    from zslbench.runner import input_normalisation

    train_set, test_set = multilabel_image_sets(dataset, int(cfg.data.image_size), cfg.data.num_workers,
                                                mean_std=input_normalisation(cfg), augment=cfg.data.augment)
    seen_vectors = torch.as_tensor(dataset.class_attributes[np.asarray(dataset.seen_classes)], dtype=torch.float32)
    checkpoint = run_dir / store.CHECKPOINT_FILE
    state = load_resume_state(checkpoint) if resume else None
    result = train(model, train_set, seen_vectors, cfg.train, device, cfg.seed, checkpoint_path=checkpoint,
                   resume=state, progress=progress, label="train")
    t_eval = time.perf_counter()
    scores, image_indices = score_test_images(model, dataset, test_set, cfg, device)
    test = evaluate_scores(dataset, scores, image_indices)
    timings = {"train_seconds": result.train_seconds, "train_images_per_second": _mean_throughput(result.history),
               "eval_seconds": time.perf_counter() - t_eval}
    metrics = {
        "protocol": cfg.protocol,
        "task": MULTI_LABEL,
        "test": test.to_dict(),
        "per_label_ap": _per_label_ap(dataset, test),
        "label_vectors": dataset.meta.get("label_vectors", f"text-encoder:{cfg.data.text_encoder}"),
        "history": [dataclasses.asdict(h) for h in result.history],
    }
    return metrics, timings
