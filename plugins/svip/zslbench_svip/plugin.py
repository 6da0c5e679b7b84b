"""zslbench plugin: SVIP (Chen et al., ICCV 2025), its reference-code preset and its ablation variants.

Registered methods:

* ``svip`` - the paper (Sec. 3, Eq. 4-14);
* ``svip-reference`` - the authors' public code (uqzhichen/SVIP): every
  behaviour of its training and inference path as an option set to the code's
  value (docs/methods/svip.md has the table); with the same weights and batch
  its forward pass, loss terms and gradients are the code's;
* ``svip-no-ssps``, ``svip-no-psc``, ``svip-no-jsd``, ``svip-no-w2p``,
  ``svip-no-p2a`` - the rows of the paper's ablation (Table 2), each ``svip``
  with one switch changed (``zslbench ablate svip`` runs them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import zslbench
from zslbench.errors import UsageError
from zslbench.methods import MethodContext, MethodSpec
from zslbench.data.budgets import TRAINING_LENGTHS
from zslbench.models.catalog import synthetic_backbone

from zslbench_svip.attribute_groups import reference_attribute_groups
from zslbench_svip.options import SVIPOptions

if TYPE_CHECKING:
    from zslbench_svip.model import SVIPModel


PAPER = "SVIP, ICCV 2025"
REAL_DATASETS = ("cub", "awa2", "sun")


# ----------------------------------------------------------------------------- presets and variants


@dataclass
class SVIPReferenceOptions(SVIPOptions):
    """SVIP as the authors' public code runs it (see docs/methods/svip.md)."""

    aggregation: str = "rollout"
    pseudo_labels: str = "topm"
    pooling: str = "mean"
    consistency: str = "code-kl"
    consistency_temperature: float = 20.0
    consistency_scores: str = "unscaled"
    decorrelation_weight: float = 0.3
    decorrelation_weight_twice: bool = True
    selection_in_training: str = "attention"
    p2a_groups: str = "reference"
    group_score: str = "raster"
    fill_layout: str = "interleaved"
    scoring: str = "dot"
    patch_logit: str = "fill"


@dataclass
class SVIPNoSSPSOptions(SVIPOptions):
    """w/o SSPS: no patch selection; e goes to every group; no patch classifier or patch loss."""

    use_ssps: bool = False


@dataclass
class SVIPNoPSCOptions(SVIPOptions):
    """w/o PSC: unselected groups are removed from the sequence instead of contextualised."""

    use_psc: bool = False


@dataclass
class SVIPNoJSDOptions(SVIPOptions):
    """w/o JSD: lambda1 = 0."""

    lambda_jsd: float = 0.0


@dataclass
class SVIPNoW2POptions(SVIPOptions):
    """w/o W2P: e is a randomly initialised learnable embedding."""

    use_w2p: bool = False


@dataclass
class SVIPNoP2AOptions(SVIPOptions):
    """w/o P2A: attributes are predicted from the class token."""

    use_p2a: bool = False


@dataclass(frozen=True)
class Variant:
    """An ablation row: svip with ``fixed`` options (enforced: a variant is a configuration)."""

    name: str
    options_type: type
    fixed: dict
    table_row: str
    description: str


VARIANTS: tuple[Variant, ...] = (
    Variant("svip-no-ssps", SVIPNoSSPSOptions, {"use_ssps": False}, "SVIP w/o SSPS",
            "SVIP without self-supervised patch selection: e is added to every patch group, no patch loss"),
    Variant("svip-no-psc", SVIPNoPSCOptions, {"use_psc": False}, "SVIP w/o PSC",
            "SVIP without patch semantic contextualisation: unselected groups are dropped from the sequence"),
    Variant("svip-no-jsd", SVIPNoJSDOptions, {"lambda_jsd": 0.0}, "SVIP w/o JSD",
            "SVIP without the consistency term (lambda1 = 0)"),
    Variant("svip-no-w2p", SVIPNoW2POptions, {"use_w2p": False}, "SVIP w/o W2P",
            "SVIP whose fill embedding e is learned from a random init, not projected from word vectors"),
    Variant("svip-no-p2a", SVIPNoP2AOptions, {"use_p2a": False}, "SVIP w/o P2A",
            "SVIP predicting attributes from the class token instead of patch-to-attribute mapping"),
)


# ----------------------------------------------------------------------------- per-dataset settings


def training_recipe(dataset_name: str) -> dict:
    """TrainConfig overrides per dataset (the authors' scripts for cub/awa2/sun; ours for synthetic data).

    The baselines plugin keeps an identical copy (plugins never import each
    other); tests check the two stay equal.
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
    # from-scratch ViTs on the synthetic data (not tuned on test data: see docs/methods/svip.md)
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


#: How the public code's training loop differs from the engine's defaults (main.py), for cub / awa2 / sun.
CODE_TRAINING_LOOP = {"warmup_grads": "accumulate", "schedule_origin": "first_epoch", "reset_optimizer": "every_epoch",
                      "shuffle": False}


def reference_defaults(dataset_name: str) -> dict:
    """svip-reference's per-dataset config: the scripts' recipe, and on the real datasets the code's loop and input."""
    # The public code trains and scores in fp32 (no autocast): bf16 moves published U by up to 1.5 points and
    # S by 2.9 in an emulation, so AMP is off unless the user asks for it (--set train.amp=true).
    out = {"train": {**training_recipe(dataset_name), "amp": False},
           "method": method_defaults(dataset_name, reference=True)}
    if dataset_name.lower() in REAL_DATASETS:
        out["train"].update(CODE_TRAINING_LOOP)
        out["data"] = {"normalize": "imagenet"}  # dataset.py normalises with ImageNet mean/std
    return out


def method_defaults(dataset_name: str, reference: bool = False) -> dict:
    """SVIPOptions overrides per dataset: M and the patch-loss weight (and the decorrelation weight of the code)."""
    name = dataset_name.lower()
    table = {  # (M, patch loss weight, decorrelation weight, patch-classifier width)
        # the authors' scripts, M of 49 groups, PatchCls 3072 -> 512 -> 1
        "cub": (40, 3.0, 0.3, 512),
        "awa2": (45, 4.0, 1.0, 512),
        "sun": (45, 3.0, 0.3, 512),
        # ours: 4x4 = 16 groups (vit-synthetic), 2x2 = 4 groups (vit-synthetic-tiny); M kept at ~80% of the
        # groups like 40/49, PatchCls width at 1/6 of the grouped token width like 512/3072; lambda_patch 1
        # chosen over 3 on synthetic validation classes (docs/methods/svip.md, "Tuning on synthetic-v1")
        "synthetic-v1": (12, 1.0, 0.3, 64),
        "synthetic-tiny": (3, 1.0, 0.3, 32),
        "synthetic-tiny-v1": (3, 1.0, 0.3, 32),
    }
    # synthetic v3 and v2: group_size 1 on the 8x8 grid of vit-synthetic-v2 (64 groups, a finer grid than v1's 16);
    # M = 26 keeps ~40% of the groups (objects cover ~16%); PatchCls width 1/3 of the 96-d token
    v2 = {"synthetic": (26, 1.0, 0.3, 32), "synthetic-v2": (26, 1.0, 0.3, 32), "synthetic-full": (26, 1.0, 0.3, 32),
          "synthetic-v3-tiny": (6, 1.0, 0.3, 16), "synthetic-v2-tiny": (6, 1.0, 0.3, 16)}
    if name in v2:
        kept, patch_weight, decorrelation, hidden = v2[name]
        out = {"num_kept": kept, "lambda_patch": patch_weight, "patch_classifier_hidden": hidden, "group_size": 1}
        return {**out, "decorrelation_weight": decorrelation} if reference else out
    if name not in table:
        return {}
    kept, patch_weight, decorrelation, hidden = table[name]
    out = {"num_kept": kept, "lambda_patch": patch_weight, "patch_classifier_hidden": hidden}
    if reference:
        out["decorrelation_weight"] = decorrelation
    return out


def kept_for_grid(options: SVIPOptions, dataset_name: str, grid: tuple[int, int]) -> SVIPOptions:
    """``options`` with M rescaled from the dataset's default backbone grid to ``grid`` (the built backbone's).

    The per-dataset M (40 of CUB's 49 groups of ViT-B/16 at 224) is a share of
    the groups; on another grid (DINOv2 at 224: 16x16 patches, 8x8 groups of 2x2)
    the same share is kept: round(M * groups / reference groups), at least 1.
    ``num_kept_follows_grid=false`` keeps ``num_kept`` as given.
    """
    from zslbench.models.catalog import SYNTHETIC_VIT_CONFIGS

    g = options.group_size
    default = SYNTHETIC_VIT_CONFIGS.get(default_backbone(dataset_name))
    side = default.image_size // default.patch_size if default is not None else 224 // 16  # ViT-B/16 at 224
    reference, groups = (side // g) ** 2, (grid[0] // g) * (grid[1] // g)
    if not options.num_kept_follows_grid or reference < 1 or groups == reference:
        return options
    return dataclasses.replace(options, num_kept=max(1, round(options.num_kept * groups / reference)))


def default_backbone(dataset_name: str) -> str:
    """ViT-B/16 at 224 for real datasets (paper Sec. 4.1); the small from-scratch ViTs for synthetic data."""
    return synthetic_backbone(dataset_name, "vit_base_patch16_224")


_PUBLISHED = {  # paper Tables 1 and 2: T1, U, S, H per dataset
    "Baseline (ViT w/ att head)": {"cub": (76.8, 59.8, 68.4, 63.8), "awa2": (61.4, 58.0, 81.6, 67.8),
                                   "sun": (62.7, 43.8, 30.6, 36.0)},
    "SVIP w/o SSPS": {"cub": (78.9, 68.8, 75.3, 71.9), "awa2": (66.8, 64.7, 82.6, 72.6), "sun": (67.6, 48.8, 45.9, 47.3)},
    "SVIP w/o PSC": {"cub": (78.1, 69.3, 76.2, 72.6), "awa2": (67.6, 64.2, 83.1, 72.4), "sun": (67.9, 49.2, 46.8, 48.0)},
    "SVIP w/o JSD": {"cub": (79.5, 71.9, 78.1, 74.9), "awa2": (69.1, 65.3, 86.7, 74.5), "sun": (71.2, 53.2, 47.9, 50.4)},
    "SVIP w/o W2P": {"cub": (79.1, 70.8, 78.6, 74.5), "awa2": (69.8, 64.9, 87.3, 74.4), "sun": (71.5, 53.1, 47.5, 50.1)},
    "SVIP w/o P2A": {"cub": (78.5, 69.4, 76.8, 72.9), "awa2": (69.5, 65.0, 88.1, 74.8), "sun": (70.1, 53.8, 47.5, 50.5)},
    "SVIP": {"cub": (79.8, 72.1, 78.1, 75.0), "awa2": (69.8, 65.4, 87.7, 74.9), "sun": (71.6, 53.7, 48.0, 50.7)},
}


def published_results(row: str, table: str) -> dict:
    """``{dataset: {"T1", "U", "S", "H", "source"}}`` for one row of the paper's tables."""
    return {dataset: {"T1": t1, "U": u, "S": s, "H": h, "source": f"{PAPER}, {table}"}
            for dataset, (t1, u, s, h) in _PUBLISHED[row].items()}


# ----------------------------------------------------------------------------- building


def build_svip(context: MethodContext, options: SVIPOptions) -> SVIPModel:
    """Build SVIP (any preset or variant) for ``context``."""
    # The model (torch, timm) is imported here, not at registration: `zslbench list` must stay light.
    from zslbench.models.backbones import create_backbone

    from zslbench_svip.model import SVIPModel

    backbone = create_backbone(context.backbone or default_backbone(context.dataset_name),
                               context.pretrained, context.image_size)
    if not getattr(backbone, "has_class_token", True):  # refused here, before a run directory exists
        raise UsageError(f"svip needs a backbone with a class token (its attention selects the patches); "
                         f"{backbone.name} pools its tokens instead", "use a CLIP or DINOv2 backbone")
    options = kept_for_grid(options, context.dataset_name, backbone.grid)
    word_vectors = None
    if options.use_w2p:
        if context.attribute_vectors is None:
            raise UsageError("SVIP's W2P needs word vectors of the attribute names and none are configured",
                             "set data.text_encoder, or run svip-no-w2p")
        word_vectors = context.attribute_vectors()
    groups = None
    if options.decorrelation_weight > 0:
        groups = reference_attribute_groups(context.dataset_name, context.num_attributes) or context.attribute_groups
    masks = getattr(context, "object_masks", None)
    from zslbench_svip.selection import check_masks

    check_masks(options.selection, masks, context.dataset_name)
    return SVIPModel(backbone, context.num_attributes, options, word_vectors=word_vectors, attribute_groups=groups,
                     object_masks=masks if options.selection == "mask-oracle" else None)


def _variant_builder(variant: Variant) -> Callable[[MethodContext, SVIPOptions], SVIPModel]:
    def build(context: MethodContext, options: SVIPOptions) -> SVIPModel:
        for key, value in variant.fixed.items():
            if getattr(options, key) != value:
                raise UsageError(f"{variant.name} is svip with {key}={value!r}; it cannot set method.{key}",
                                 f"use method svip to change {key}")
        return build_svip(context, options)

    return build


def _dataset_defaults(fixed: dict | None = None) -> Callable[[str], dict]:
    def defaults(dataset_name: str) -> dict:
        return {"train": training_recipe(dataset_name), "method": {**method_defaults(dataset_name), **(fixed or {})}}

    return defaults


def method_specs() -> list[MethodSpec]:
    """The MethodSpecs this plugin registers."""
    specs = [
        MethodSpec(
            name="svip", build=build_svip, options_type=SVIPOptions, kind="image",
            description="SVIP (ICCV 2025): self-supervised patch selection + semantic contextualisation of patches",
            dataset_defaults=_dataset_defaults(), reference_results=published_results("SVIP", "Table 1"),
            default_backbone=default_backbone, ablation_baseline="baseline",
        ),
        MethodSpec(
            name="svip-reference", build=build_svip, options_type=SVIPReferenceOptions, kind="image",
            description=("SVIP as the authors' public code runs it (uqzhichen/SVIP): rollout, raster-4 group scores, "
                         "code KL, decorrelation of predictions, dot-product scores, its training loop"),
            dataset_defaults=reference_defaults, default_backbone=default_backbone,
        ),
    ]
    for variant in VARIANTS:
        specs.append(MethodSpec(
            name=variant.name, build=_variant_builder(variant), options_type=variant.options_type, kind="image",
            description=variant.description, variant_of="svip",
            dataset_defaults=_dataset_defaults(fixed=variant.fixed),
            reference_results=published_results(variant.table_row, "Table 2"), default_backbone=default_backbone,
        ))
    return specs


@zslbench.hookimpl
def register_methods(register: Callable) -> None:
    """Register svip, svip-reference and the ablation variants."""
    for spec in method_specs():
        register(spec)


def options_diff(options: SVIPOptions, base: SVIPOptions | None = None) -> dict:
    """Fields of ``options`` that differ from ``base`` (default: the paper's SVIPOptions())."""
    base = base or SVIPOptions()
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(SVIPOptions)
            if getattr(options, f.name) != getattr(base, f.name)}
