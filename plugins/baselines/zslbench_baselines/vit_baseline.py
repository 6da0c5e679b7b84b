"""The ViT attribute-head baseline of SVIP's ablation (``baseline``, alias ``vit-attr-head``).

A ViT whose class token goes through one linear attribute head; classes are
scored by ``sigma * cos(a_hat, a_y)`` and trained with cross-entropy over the
seen classes (the "Baseline (ViT w/ att head)" row of SVIP's Table 2). It uses
the same backbone adapter and the same per-dataset training recipe as SVIP, so
``zslbench ablate svip`` compares like with like. The model itself is in
:mod:`zslbench_baselines.vit_baseline_model` (this module registers it without torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zslbench.methods import MethodContext, MethodSpec
from zslbench.data.budgets import TRAINING_LENGTHS
from zslbench.models.catalog import synthetic_backbone

from zslbench_baselines.options import ViTBaselineOptions

if TYPE_CHECKING:
    from zslbench_baselines.vit_baseline_model import ViTAttributeHead


SOURCE = "SVIP, ICCV 2025, Table 2"


def training_recipe(dataset_name: str) -> dict:
    """TrainConfig overrides per dataset: an exact copy of SVIP's (zslbench_svip.plugin.training_recipe).

    Plugins do not import each other; tests/test_vit_baseline.py checks the copies agree.
    """
    common = {"optimizer": "adam", "weight_decay": 0.0, "beta2": 0.999, "grad_clip_norm": 1.0, "batch_size": 64,
              "schedule": "step", "step_epochs": 5, "step_gamma": 0.8}
    scripts = {
        # heads-only warm-up = the scripts' pre_epochs + 1 (3, 5, 3): the code tests `iepoch > pre_epochs`
        "cub": {"epochs": 30, "warmup_epochs": 4, "warmup_lr": 5e-5, "lr": 3e-5, "beta1": 0.5},
        "awa2": {"epochs": 30, "warmup_epochs": 6, "warmup_lr": 1e-6, "lr": 3e-6, "beta1": 0.8},
        "sun": {"epochs": 50, "warmup_epochs": 4, "warmup_lr": 1e-4, "lr": 1e-5, "beta1": 0.5},
    }
    name = dataset_name.lower()
    if name in scripts:
        return {**common, **scripts[name]}
    scratch = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "beta1": 0.9, "beta2": 0.999,
               "schedule": "cosine", "warmup_epochs": 0, "grad_clip_norm": 1.0, "batch_size": 64}
    if name == "synthetic-v1":
        return {**scratch, "epochs": 12}
    if name in ("synthetic-tiny", "synthetic-tiny-v1"):
        return {**scratch, "epochs": 3, "batch_size": 32}
    # synthetic v3 and v2 fine-tune the pretrained tiny ViT: half the from-scratch lr (set a priori, not tuned on test)
    if name in ("synthetic", "synthetic-v2"):
        return {**scratch, "lr": 5e-4, "epochs": 5}
    if name in ("synthetic-v3-tiny", "synthetic-v2-tiny"):
        return {**scratch, "lr": 5e-4, "epochs": 2, "batch_size": 32}
    # synthetic-full: synthetic's recipe at the benchmark's own training length (epochs, and the gbu floor)
    if name in TRAINING_LENGTHS:
        return {**scratch, "lr": 5e-4, **TRAINING_LENGTHS[name].train_overrides()}
    return {}


def default_backbone(dataset_name: str) -> str:
    """Same defaults as SVIP: ViT-B/16 for real datasets, the small ViTs for synthetic data."""
    return synthetic_backbone(dataset_name, "vit_base_patch16_224")


def build_vit_baseline(context: MethodContext, options: ViTBaselineOptions) -> ViTAttributeHead:
    """Build the baseline for ``context`` (backbone, weights and image size from the context)."""
    # torch and timm are imported here, when a model is built, not when the method is registered.
    from zslbench.models.backbones import create_backbone

    from zslbench_baselines.vit_baseline_model import ViTAttributeHead

    backbone = create_backbone(context.backbone or default_backbone(context.dataset_name),
                               context.pretrained, context.image_size)
    return ViTAttributeHead(backbone, context.num_attributes, options)


_PUBLISHED = {"cub": (76.8, 59.8, 68.4, 63.8), "awa2": (61.4, 58.0, 81.6, 67.8), "sun": (62.7, 43.8, 30.6, 36.0)}


def method_specs() -> list[MethodSpec]:
    """The ViT attribute-head baseline's spec."""
    return [MethodSpec(
        name="baseline", aliases=("vit-attr-head",), build=build_vit_baseline, options_type=ViTBaselineOptions,
        kind="image",
        description="ViT with a linear attribute head on the class token (SVIP's ablation baseline)",
        dataset_defaults=lambda dataset: {"train": training_recipe(dataset), "method": {}},
        reference_results={d: {"T1": t1, "U": u, "S": s, "H": h, "source": SOURCE}
                           for d, (t1, u, s, h) in _PUBLISHED.items()},
        default_backbone=default_backbone,
    )]
