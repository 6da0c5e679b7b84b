"""``mlzsl-baseline``: the simplest multi-label zero-shot model, the reference row for Epsilon.

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

import torch
from torch import nn

from zslbench.models.backbones import ViTAdapter, create_backbone
from zslbench.data.dataset import MULTI_LABEL
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel, MethodContext, MethodSpec
from zslbench.training.losses import rank_loss
from zslbench.data.multilabel_specs import default_backbone

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


MLZSL_METHODS: list[MethodSpec] = [
    MethodSpec(
        name="mlzsl-baseline", build=build_mlzsl_baseline, options_type=MLZSLBaselineOptions, kind="image",
        tasks=(MULTI_LABEL,),
        description="multi-label ZSL baseline: mean-pooled ViT features, linear map to label word vectors, ranking loss",
        dataset_defaults=lambda dataset_name: {"train": training_recipe(dataset_name)},
        default_backbone=default_backbone,
    ),
]


def method_specs() -> list[MethodSpec]:
    """For the baselines plugin's ``SPEC_SOURCES``."""
    return list(MLZSL_METHODS)
