"""The ``mlzsl-baseline`` and ``mlzsl-feat-linear`` models (registered by :mod:`zslbench_baselines.mlzsl_baseline`)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

from zslbench.models.backbones import ViTAdapter
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel
from zslbench.training.losses import rank_loss

from zslbench_baselines.classic import _float32_rows, _train_epochs
from zslbench_baselines.options import FeatureLinearOptions, MLZSLBaselineOptions

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


class FeatureLinearEmbedding:
    """Frozen feature -> linear map to word-vector space -> dot product with each label vector; ranking loss.

    The feature-level twin of :class:`PooledLinearEmbedding`: targets are the
    (N, L_s) seen-label rows (+1 / -1 / 0); Adam, seeded, CPU.
    """

    def __init__(self, options: FeatureLinearOptions, seed: int = 0):
        if options.margin <= 0 or options.lr <= 0 or options.epochs < 1 or options.batch_size < 1:
            raise UsageError("method.margin, method.lr, method.epochs and method.batch_size must be positive")
        self.options, self.seed = options, seed
        self.projection: nn.Linear | None = None
        self.loss_history: list[float] = []

    def _prepare(self, features: np.ndarray) -> torch.Tensor:
        return _float32_rows(features, self.options.l2_normalize_features)

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        features, targets = np.asarray(features), np.asarray(targets, dtype=np.float32)
        if features.ndim != 2 or targets.ndim != 2 or len(features) != len(targets) or len(features) == 0:
            raise UsageError(f"mlzsl-feat-linear fits features (N, D) on label rows (N, L_s); got {features.shape} "
                             f"and {targets.shape}", "it is a multi-label method: use a multi-label dataset")
        x, y = self._prepare(features), torch.as_tensor(targets)
        vectors = torch.as_tensor(np.asarray(class_attributes), dtype=torch.float32)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.manual_seed(self.seed)
            self.projection = nn.Linear(x.shape[1], vectors.shape[1])
        optim = torch.optim.Adam(self.projection.parameters(), lr=self.options.lr,
                                 weight_decay=self.options.weight_decay)
        margin = self.options.margin
        self.loss_history = _train_epochs(
            optim, lambda rows: rank_loss(self.projection(x[rows]) @ vectors.T, y[rows], margin=margin),
            len(x), self.options.epochs, self.options.batch_size, torch.Generator().manual_seed(self.seed))

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        if self.projection is None:
            raise UsageError("mlzsl-feat-linear: call fit() before class_scores()")
        with torch.no_grad():
            vectors = torch.as_tensor(np.asarray(class_attributes), dtype=torch.float32)
            return (self.projection(self._prepare(features)) @ vectors.T).numpy()
