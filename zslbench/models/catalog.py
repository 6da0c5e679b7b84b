"""The registered backbones by name, without importing torch or timm.

``zslbench list`` and config resolution only need names, descriptions and
image sizes; :mod:`zslbench.models.backbones` (torch, timm) is imported when a
backbone is built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from zslbench.registry import BackboneSpec

#: Aggregations of attention maps into one class-token row (see :class:`AttentionAggregator`).
AGGREGATIONS = ("eq4", "rollout")

#: Pretrained-weight sources besides a checkpoint path.
PRETRAINED_NONE = "none"
PRETRAINED_TIMM = "timm"

#: timm ViTs registered by name (any other timm ViT is reachable as ``timm:<name>``).
REGISTERED_TIMM_VITS = (
    "vit_base_patch16_224",
    "vit_small_patch16_224",
    "vit_tiny_patch16_224",
    "vit_large_patch16_224",
    "deit_small_patch16_224",
)


@dataclass(frozen=True)
class ViTConfig:
    """A from-scratch ViT configuration (built with timm's ``VisionTransformer``)."""

    image_size: int
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    description: str = ""


#: Small ViTs for the synthetic datasets, trained from random initialisation.
SYNTHETIC_VIT_CONFIGS: dict[str, ViTConfig] = {
    "vit-synthetic": ViTConfig(
        image_size=64, patch_size=8, embed_dim=96, depth=4, num_heads=3,
        description="from-scratch ViT for `synthetic`: 64 px, 8x8 patches (8x8 grid), 4 blocks, width 96, 3 heads",
    ),
    "vit-synthetic-tiny": ViTConfig(
        image_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3,
        description="from-scratch ViT for `synthetic-tiny` and tests: 32 px, 8x8 patches (4x4 grid), 2 blocks, width 48",
    ),
    # synthetic v2 (issue 13); pretrained by default (`zslbench pretrain`, see zslbench/training/pretrain.py)
    "vit-synthetic-v2": ViTConfig(
        image_size=96, patch_size=12, embed_dim=96, depth=4, num_heads=3,
        description="tiny ViT for `synthetic` (v3) and `synthetic-v2`: 96 px, 12x12 patches (8x8 grid), 4 blocks, width 96; "
                    "pretrained on a disjoint synthetic set by default",
    ),
    "vit-synthetic-v2-tiny": ViTConfig(
        image_size=48, patch_size=12, embed_dim=48, depth=2, num_heads=3,
        description="tiny ViT for `synthetic-v3-tiny`, `synthetic-v2-tiny` and tests: 48 px, 12x12 patches (4x4 grid), 2 blocks, width 48",
    ),
}


#: The tiny ViT each embedded benchmark is sized for (its methods' default backbone there).
SYNTHETIC_DATASET_BACKBONES: dict[str, str] = {
    "synthetic": "vit-synthetic-v2", "synthetic-v2": "vit-synthetic-v2",  # v3 and v2 share the 96 px grid
    "synthetic-full": "vit-synthetic-v2",  # v3 at full training budget
    "synthetic-v3-tiny": "vit-synthetic-v2-tiny", "synthetic-v2-tiny": "vit-synthetic-v2-tiny",
    "synthetic-v1": "vit-synthetic", "synthetic-tiny": "vit-synthetic-tiny", "synthetic-tiny-v1": "vit-synthetic-tiny",
    "synthetic-multilabel": "vit-synthetic", "synthetic-multilabel-tiny": "vit-synthetic-tiny",
}


def synthetic_backbone(dataset_name: str, otherwise: str) -> str:
    """The tiny ViT of embedded benchmark ``dataset_name`` (case-insensitive), or ``otherwise`` for other datasets."""
    return SYNTHETIC_DATASET_BACKBONES.get(dataset_name.lower(), otherwise)


def backbone_names() -> list[str]:
    """Registered backbone names (any other timm ViT is reachable as ``timm:<name>``)."""
    return [*SYNTHETIC_VIT_CONFIGS, *REGISTERED_TIMM_VITS]


def backbone_specs(create: Callable[..., Any]) -> list[BackboneSpec]:
    """Specs of the registered backbones; ``create(name, pretrained, image_size)`` builds one.

    The core registers them with a ``create`` that imports :mod:`zslbench.models.backbones`
    only when called (:mod:`zslbench.builtin`).
    """
    specs = [
        BackboneSpec(name=name, create=functools.partial(create, name),
                     description=cfg.description, image_size=cfg.image_size)
        for name, cfg in SYNTHETIC_VIT_CONFIGS.items()
    ]
    for name in REGISTERED_TIMM_VITS:
        specs.append(BackboneSpec(
            name=name, create=functools.partial(create, name),
            description=f"timm {name} (pretrained weights from the local timm/Hugging Face cache)", image_size=224,
        ))
    return specs
