"""The torch dataset of multi-label images (used by :mod:`zslbench.tasks.multi_label` when a run trains)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.data.transforms import ImageDataset


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
