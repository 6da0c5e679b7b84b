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


CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HALF_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class PretrainedViT:
    """A registered foundation-model image tower, built through timm, and its text tower (open_clip) if any.

    ``mean``/``std``, ``image_size`` and ``patch_size`` are what the weights were
    trained with (timm's and open_clip's pretrained configs agree on them);
    ``model_args`` are timm constructor overrides (empty for the published
    architectures; tests register tiny widths). ``open_clip_name`` and
    ``open_clip_hub_id`` locate the whole CLIP/SigLIP model (image and text
    towers) in the Hugging Face cache for training-free methods.
    """

    timm_name: str
    family: str  # clip | siglip | dinov2
    image_size: int
    patch_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str
    open_clip_name: str | None = None
    open_clip_hub_id: str | None = None
    model_args: tuple[tuple[str, Any], ...] = ()

    @property
    def grid(self) -> tuple[int, int]:
        """The patch grid (rows, cols) at :attr:`image_size`."""
        side = self.image_size // self.patch_size
        return side, side

    @property
    def hf_hub_id(self) -> str:
        """The Hugging Face repository of timm's weights for the image tower (quickgelu variants share it)."""
        return "timm/" + self.timm_name.replace("_quickgelu", "")


def describe_pretrained_vit(name: str | None) -> dict | None:
    """What a run records of foundation backbone ``name`` (timm name, image size, patch grid, normalisation); None
    for other backbones."""
    vit = PRETRAINED_VITS.get(name or "")
    if vit is None:
        return None
    return {"name": name, "timm_name": vit.timm_name, "family": vit.family, "image_size": vit.image_size,
            "patch_size": vit.patch_size, "grid": list(vit.grid), "mean": list(vit.mean), "std": list(vit.std),
            "open_clip": vit.open_clip_name}


def _pretrained(timm_name: str, family: str, patch: int, mean_std: tuple, what: str, open_clip: tuple | None = None,
                image_size: int = 224) -> PretrainedViT:
    grid = image_size // patch
    name, hub = open_clip or (None, None)
    return PretrainedViT(timm_name, family, image_size, patch, *mean_std,
                         description=f"{what} (timm {timm_name}; {image_size} px, {patch}x{patch} patches, "
                                     f"{grid}x{grid} grid" + ("; with its open_clip text tower)" if name else ")"),
                         open_clip_name=name, open_clip_hub_id=hub)


#: Foundation-model backbones by name: CLIP, SigLIP and DINOv2 image towers (weights from the HF cache).
PRETRAINED_VITS: dict[str, PretrainedViT] = {
    "clip-vit-b16-openai": _pretrained("vit_base_patch16_clip_quickgelu_224.openai", "clip", 16, CLIP_MEAN_STD,
                                       "CLIP ViT-B/16, OpenAI weights",
                                       ("ViT-B-16-quickgelu", "timm/vit_base_patch16_clip_224.openai")),
    "clip-vit-l14-openai": _pretrained("vit_large_patch14_clip_quickgelu_224.openai", "clip", 14, CLIP_MEAN_STD,
                                       "CLIP ViT-L/14, OpenAI weights",
                                       ("ViT-L-14-quickgelu", "timm/vit_large_patch14_clip_224.openai")),
    "clip-vit-b16-laion2b": _pretrained("vit_base_patch16_clip_224.laion2b", "clip", 16, CLIP_MEAN_STD,
                                        "CLIP ViT-B/16, LAION-2B weights",
                                        ("ViT-B-16", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K")),
    "clip-vit-l14-laion2b": _pretrained("vit_large_patch14_clip_224.laion2b", "clip", 14, HALF_MEAN_STD,
                                        "CLIP ViT-L/14, LAION-2B weights",
                                        ("ViT-L-14", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K")),
    "siglip-vit-b16": _pretrained("vit_base_patch16_siglip_224.webli", "siglip", 16, HALF_MEAN_STD,
                                  "SigLIP ViT-B/16, WebLI weights (no class token: attention-pool features)",
                                  ("ViT-B-16-SigLIP", "timm/ViT-B-16-SigLIP")),
    "dinov2-vit-b14": _pretrained("vit_base_patch14_dinov2.lvd142m", "dinov2", 14, IMAGENET_MEAN_STD,
                                  "DINOv2 ViT-B/14, LVD-142M weights, at 224 px"),
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
    return [*SYNTHETIC_VIT_CONFIGS, *REGISTERED_TIMM_VITS, *PRETRAINED_VITS]


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
    for name, vit in PRETRAINED_VITS.items():
        specs.append(BackboneSpec(name=name, create=functools.partial(create, name), description=vit.description,
                                  image_size=vit.image_size))
    return specs
