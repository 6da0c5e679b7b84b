"""``mlzsl-baseline``: the simplest multi-label zero-shot model, the reference row for Epsilon;
``mlzsl-feat-linear``: the same linear embedding fitted on frozen features (e.g. the authors' NUS-WIDE
features, ``--backbone authors-h5``).

The backbone's patch features are mean-pooled, one linear layer projects the
pooled feature into the label word-vector space, and each label's score is the
dot product with its word vector (a linear visual-semantic embedding, as in
the "Fast0Tag"-style baselines of the field). It is trained with the same
ranking loss as Epsilon (:func:`zslbench.training.losses.rank_loss`), on the
same backbone and training recipe, so the two differ only in the head. The
model is in :mod:`zslbench_baselines.mlzsl_baseline_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zslbench.data.dataset import MULTI_LABEL
from zslbench.data.multilabel_specs import default_backbone
from zslbench.features import AUTHORS_H5_BACKBONE
from zslbench.methods import MethodContext, MethodSpec

from zslbench_baselines.options import FeatureLinearOptions, MLZSLBaselineOptions

if TYPE_CHECKING:
    from zslbench_baselines.mlzsl_baseline_model import FeatureLinearEmbedding, PooledLinearEmbedding


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
    # torch and timm are imported here, when a model is built, not when the method is registered.
    from zslbench.models.backbones import create_backbone

    from zslbench_baselines.mlzsl_baseline_model import PooledLinearEmbedding

    word_dim = int(context.extras.get("label_vector_dim", context.num_attributes))
    backbone = create_backbone(context.backbone or default_backbone(context.dataset_name), context.pretrained,
                               context.image_size)
    return PooledLinearEmbedding(backbone, word_dim, options)


def build_feature_linear(context: MethodContext, options: FeatureLinearOptions) -> FeatureLinearEmbedding:
    from zslbench_baselines.mlzsl_baseline_model import FeatureLinearEmbedding  # torch loads here

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
