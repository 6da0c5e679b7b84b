"""zslbench plugin: ``epsilon``, multi-label zero-shot learning (arXiv 2408.12253).

Registers one image method for multi-label datasets. The model is in
:mod:`zslbench_epsilon.model`; docs/methods/epsilon.md lists every choice the
paper's abstract leaves open. No published numbers are attached: Epsilon's
result tables were not available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import zslbench
from zslbench.data.dataset import MULTI_LABEL
from zslbench.errors import UsageError
from zslbench.methods import MethodContext, MethodSpec
from zslbench.data.multilabel_specs import default_backbone

from zslbench_epsilon.options import EpsilonOptions

if TYPE_CHECKING:
    from zslbench_epsilon.model import EpsilonModel

PAPER = "Liu et al., Exploring Comprehensive Visual-Semantic Projection for Multi-Label Zero-Shot Learning, arXiv 2408.12253"


def training_recipe(dataset_name: str) -> dict:
    """TrainConfig overrides per dataset (zslbench's choices; the paper's schedule is unknown).

    * ``synthetic-multilabel``: AdamW, lr 1e-3 with a cosine schedule, batch 64,
      12 epochs: the from-scratch ViT's usual recipe on the synthetic data, sized
      so that one run takes about 2-3 minutes on 2 CPU cores. Not tuned on test data.
    * ``synthetic-multilabel-tiny``: 2 epochs of batch 32, for tests.
    * real datasets (NUS-WIDE, Open Images): fine-tuning an ImageNet ViT-B/16,
      AdamW lr 1e-4 (heads 1e-3 during one heads-only warm-up epoch), weight
      decay 0.01, batch 64, 20 epochs: a generic ViT fine-tuning recipe, untested
      at that scale here.
    """
    name = dataset_name.lower()
    if name == "synthetic-multilabel":
        return {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01, "schedule": "cosine", "batch_size": 64,
                "epochs": 12, "grad_clip_norm": 1.0}
    if name == "synthetic-multilabel-tiny":
        return {"optimizer": "adamw", "lr": 1e-3, "schedule": "cosine", "batch_size": 32, "epochs": 2}
    return {"optimizer": "adamw", "lr": 1e-4, "weight_decay": 0.01, "schedule": "cosine", "batch_size": 64,
            "epochs": 20, "warmup_epochs": 1, "warmup_lr": 1e-3, "grad_clip_norm": 1.0}


#: Datasets whose default backbone is trained from scratch: a frozen random backbone would give random features.
FROM_SCRATCH_DATASETS = ("synthetic-multilabel", "synthetic-multilabel-tiny")


def dataset_defaults(dataset_name: str) -> dict:
    """The training recipe, and fine-tuning on the synthetic data (whose backbone starts from random weights)."""
    defaults: dict = {"train": training_recipe(dataset_name)}
    if dataset_name.lower() in FROM_SCRATCH_DATASETS:
        defaults["method"] = {"freeze_backbone": False}
    return defaults


def build_epsilon(context: MethodContext, options: EpsilonOptions) -> EpsilonModel:
    """Build Epsilon for ``context`` (label word vectors of width ``context.num_attributes``)."""
    if context.extras.get("task", MULTI_LABEL) != MULTI_LABEL:
        raise UsageError("epsilon is a multi-label method", "run it on a multi-label dataset, e.g. synthetic-multilabel")
    # torch and timm are imported when a model is built, never at registration.
    from zslbench.models.backbones import create_backbone

    from zslbench_epsilon.model import EpsilonModel

    word_dim = int(context.extras.get("label_vector_dim", context.num_attributes))
    backbone = create_backbone(context.backbone or default_backbone(context.dataset_name), context.pretrained,
                               context.image_size)
    return EpsilonModel(backbone, word_dim, options)


def method_specs() -> list[MethodSpec]:
    """The MethodSpecs this plugin registers."""
    return [MethodSpec(
        name="epsilon", build=build_epsilon, options_type=EpsilonOptions, kind="image", tasks=(MULTI_LABEL,),
        description=("Epsilon (arXiv 2408.12253) from its abstract: group prompts aggregation + global forward "
                     "propagation, learnable fusion, ranking loss; open choices documented in docs/methods/epsilon.md"),
        dataset_defaults=dataset_defaults, default_backbone=default_backbone,
    )]


@zslbench.hookimpl
def register_methods(register: Callable) -> None:
    """Register ``epsilon``."""
    for spec in method_specs():
        register(spec)
