"""The ViT attribute-head baseline's model (registered by :mod:`zslbench_baselines.vit_baseline`)."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models.backbones import ViTAdapter
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel

from zslbench_baselines.options import ViTBaselineOptions


class ViTAttributeHead(ImageZSLModel):
    """ViT + linear attribute head on the class token, cosine softmax over the given classes."""

    def __init__(self, backbone: ViTAdapter, num_attributes: int, options: ViTBaselineOptions):
        super().__init__()
        if options.sigma <= 0:
            raise UsageError(f"method.sigma must be positive, got {options.sigma}")
        self.options = options
        self.backbone = backbone
        self.attribute_head = nn.Linear(backbone.dim, num_attributes)

    def predict_attributes(self, images: torch.Tensor) -> torch.Tensor:
        """Attribute predictions (B, K) from the class token."""
        cls, _ = self.backbone.encode(images)
        return self.attribute_head(cls)

    def _logits(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        attributes = self.predict_attributes(images)
        return self.options.sigma * F.normalize(attributes, dim=-1) @ F.normalize(class_attributes, dim=-1).T

    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy of the cosine scores over the seen classes."""
        loss = F.cross_entropy(self._logits(images, class_attributes).float(), targets)
        return {"loss": loss, "cls": loss}

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """``sigma * cos`` scores (B, C)."""
        return self._logits(images, class_attributes)

    def head_parameters(self) -> Iterable[nn.Parameter]:
        """The attribute head (trained alone during warm-up)."""
        return self.attribute_head.parameters()
