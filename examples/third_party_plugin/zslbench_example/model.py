"""The ``pixel-attr`` model (torch); :mod:`zslbench_example.plugin` registers it."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.methods import ImageZSLModel


class PixelAttr(ImageZSLModel):
    """Pooled pixels -> linear attribute predictor; scores are cosine similarities to class attributes."""

    def __init__(self, num_attributes: int, options: Any):  # the PixelAttrOptions of zslbench_example.plugin
        super().__init__()
        self.options = options
        self.head = nn.Linear(3 * options.pooled_size**2, num_attributes)

    def _attributes(self, images: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(images, self.options.pooled_size).flatten(1)
        return self.head(pooled)

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        predicted = F.normalize(self._attributes(images), dim=-1)
        return predicted @ F.normalize(class_attributes, dim=-1).T

    def training_losses(self, images, targets, class_attributes) -> dict[str, torch.Tensor]:
        logits = self.options.temperature * self.class_scores(images, class_attributes)
        loss = F.cross_entropy(logits, targets)
        return {"loss": loss, "ce": loss}
