"""The ``mlzsl-baseline`` model (registered by :mod:`zslbench_baselines.mlzsl_baseline`)."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from zslbench.models.backbones import ViTAdapter
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel
from zslbench.training.losses import rank_loss

from zslbench_baselines.options import MLZSLBaselineOptions

POOLING = ("mean", "cls", "cls+mean")


class PooledLinearEmbedding(ImageZSLModel):
    """Pooled backbone feature -> linear map to word-vector space -> dot product with each label vector."""

    def __init__(self, backbone: ViTAdapter, word_dim: int, options: MLZSLBaselineOptions):
        super().__init__()
        if options.pooling not in POOLING:
            raise UsageError(f"method.pooling is one of {', '.join(POOLING)}, not {options.pooling!r}")
        if options.margin <= 0:
            raise UsageError("method.margin must be positive")
        self.options = options
        self.backbone = backbone
        dim_in = 2 * backbone.dim if options.pooling == "cls+mean" else backbone.dim
        self.projection = nn.Linear(dim_in, word_dim)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings (B, Dw) in the word-vector space."""
        cls, patches = self.backbone.encode(images)
        pooled = {"mean": lambda: patches.mean(dim=1), "cls": lambda: cls,
                  "cls+mean": lambda: torch.cat([cls, patches.mean(dim=1)], dim=-1)}[self.options.pooling]()
        return self.projection(pooled)

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """Scores (B, L) = embedding . label word vector."""
        embedding = self.embed(images)
        return embedding @ class_attributes.to(embedding.dtype).T

    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ranking loss on (B, L_s) targets of +1 / -1 / 0."""
        loss = rank_loss(self.class_scores(images, class_attributes).float(), targets, margin=self.options.margin)
        return {"loss": loss, "rank": loss.detach()}

    def head_parameters(self) -> Iterable[nn.Parameter]:
        return self.projection.parameters()
