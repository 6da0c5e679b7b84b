"""``mlzsl-baseline``: the simplest multi-label zero-shot model, the reference row for Epsilon;
``mlzsl-feat-linear``: the same linear embedding fitted on frozen features (e.g. the authors' NUS-WIDE
features, ``--backbone authors-h5``).

The backbone's patch features are mean-pooled, one linear layer projects the
pooled feature into the label word-vector space, and each label's score is the
dot product with its word vector (a linear visual-semantic embedding, as in
the "Fast0Tag"-style baselines of the field). It is trained with the same
ranking loss as Epsilon (:func:`zslbench.training.losses.rank_loss`), on the
same backbone and training recipe, so the two differ only in the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from zslbench.models.backbones import ViTAdapter, create_backbone
from zslbench.data.dataset import MULTI_LABEL
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel, MethodContext, MethodSpec
from zslbench.training.losses import rank_loss
from zslbench.data.multilabel_specs import default_backbone
from zslbench.features import AUTHORS_H5_BACKBONE

from zslbench_baselines.classic import _float32_rows, _train_epochs

POOLING = ("mean", "cls", "cls+mean")


@dataclass
class MLZSLBaselineOptions:
    """Options of ``mlzsl-baseline`` (``--set method.<field>=...``)."""

    pooling: str = "mean"  # what is projected: mean patch feature | cls | both concatenated
    margin: float = 1.0  # ranking-loss margin


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


def training_recipe(dataset_name: str) -> dict:
    """The same per-dataset recipe as Epsilon's (zslbench_epsilon.plugin.training_recipe; plugins do not import
    each other, so it is repeated here and must be kept equal)."""
    name = dataset_name.lower()
    if name == "synthetic-multilabel":
        return {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01, "schedule": "cosine", "batch_size": 64,
                "epochs": 12, "grad_clip_norm": 1.0}
    if name == "synthetic-multilabel-tiny":
        return {"optimizer": "adamw", "lr": 1e-3, "schedule": "cosine", "batch_size": 32, "epochs": 2}
    return {"optimizer": "adamw", "lr": 1e-4, "weight_decay": 0.01, "schedule": "cosine", "batch_size": 64,
            "epochs": 20, "warmup_epochs": 1, "warmup_lr": 1e-3, "grad_clip_norm": 1.0}


def build_mlzsl_baseline(context: MethodContext, options: MLZSLBaselineOptions) -> PooledLinearEmbedding:
    word_dim = int(context.extras.get("label_vector_dim", context.num_attributes))
    backbone = create_backbone(context.backbone or default_backbone(context.dataset_name), context.pretrained,
                               context.image_size)
    return PooledLinearEmbedding(backbone, word_dim, options)


@dataclass
class FeatureLinearOptions:
    """Options of ``mlzsl-feat-linear`` (``--set method.<field>=...``)."""

    margin: float = 1.0  # ranking-loss margin
    lr: float = 1e-3
    epochs: int = 20
    batch_size: int = 256
    weight_decay: float = 0.0
    l2_normalize_features: bool = True


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


def build_feature_linear(context: MethodContext, options: FeatureLinearOptions) -> FeatureLinearEmbedding:
    return FeatureLinearEmbedding(options, seed=context.seed)


def feature_backbone(dataset_name: str) -> str:
    """The authors' features where they exist (NUS-WIDE), else the multi-label default backbone."""
    return AUTHORS_H5_BACKBONE if dataset_name == "nus-wide" else default_backbone(dataset_name)


MLZSL_METHODS: list[MethodSpec] = [
    MethodSpec(
        name="mlzsl-baseline", build=build_mlzsl_baseline, options_type=MLZSLBaselineOptions, kind="image",
        tasks=(MULTI_LABEL,),
        description="multi-label ZSL baseline: mean-pooled ViT features, linear map to label word vectors, ranking loss",
        dataset_defaults=lambda dataset_name: {"train": training_recipe(dataset_name)},
        default_backbone=default_backbone,
    ),
    MethodSpec(
        name="mlzsl-feat-linear", build=build_feature_linear, options_type=FeatureLinearOptions, kind="feature",
        tasks=(MULTI_LABEL,),
        description="multi-label ZSL on frozen features: linear map to label word vectors, ranking loss "
                    "(NUS-WIDE: the authors' features)",
        default_backbone=feature_backbone,
    ),
]


def method_specs() -> list[MethodSpec]:
    """For the baselines plugin's ``SPEC_SOURCES``."""
    return list(MLZSL_METHODS)
