"""The pretrained tiny backbone of the synthetic benchmark (v3, and v2): what ImageNet is for the real datasets.

SVIP's patch selection learns from the attention of a *pretrained* ViT; the
attention of a ViT trained from scratch for a few epochs is noise. This module
pretrains the tiny ViT of ``synthetic`` on a **disjoint** pretraining set:

* classes: only the benchmark's GBU *train* classes (seen classes minus the
  validation classes), never an unseen or a validation class;
* images: freshly drawn from a random stream the benchmark never uses
  (``[data seed, 2, batch]`` against the benchmark's ``[data seed, 1, batch]``),
  so no test image (no image at all) of the benchmark is in it;
* task: predict the object's body value and head value (two linear heads on
  the class token) amid the distractors, so the class token learns to attend
  to the object.

The result is cached under ``cache_dir("pretrained")`` as safetensors, named by
a fingerprint of its whole recipe (like the feature cache): change any field
of :class:`PretrainRecipe`, the generator version or the backbone
configuration and a new file is built. ``zslbench pretrain synthetic`` builds
it; a run on ``synthetic`` builds it on first use (``--pretrained
synthetic-pretrained``, the default for that dataset).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel
from zslbench.paths import cache_dir

log = logging.getLogger(__name__)

from zslbench.training.pretrain_recipes import (PRETRAIN_STREAM, RECIPES, SYNTHETIC_PRETRAINED,  # noqa: F401
                                                PretrainRecipe, default_pretrained, recipe_for)


def weights_path(cfg) -> str | None:
    """A run config's ``pretrained``, with ``synthetic-pretrained`` replaced by its cached checkpoint (built on first use)."""
    if cfg.pretrained == SYNTHETIC_PRETRAINED:
        return str(ensure_pretrained(cfg.dataset, cfg.data.synthetic_seed))
    return cfg.pretrained


def fingerprint(recipe: PretrainRecipe) -> str:
    """16 hex digits over the recipe, the generator version and the backbone configuration."""
    from zslbench.models.backbones import SYNTHETIC_VIT_CONFIGS
    from zslbench.data.synthetic_v2 import PRESETS

    payload = {"recipe": dataclasses.asdict(recipe), "generator_version": PRESETS[recipe.preset].version,
               "preset": dataclasses.asdict(PRESETS[recipe.preset]),
               "backbone": dataclasses.asdict(SYNTHETIC_VIT_CONFIGS[recipe.backbone])}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def checkpoint_path(recipe: PretrainRecipe) -> Path:
    return cache_dir("pretrained") / f"{recipe.backbone}-{recipe.preset}-seed{recipe.data_seed}-{fingerprint(recipe)}.safetensors"


# --------------------------------------------------------------------------- the pretraining set


@dataclass
class PretrainingSet:
    """Pixels (N, H, W, 3) uint8 and class ids (N,) of the pretraining images."""

    pixels: np.ndarray
    labels: np.ndarray
    classes: np.ndarray  # the class ids used (the benchmark's train classes)


def pretraining_classes(recipe: PretrainRecipe) -> np.ndarray:
    """The benchmark's GBU train classes: seen, not validation, never unseen."""
    from zslbench.data.synthetic_v2 import PRESETS, class_splits

    preset = PRESETS[recipe.preset]
    unseen, val = class_splits(preset, recipe.data_seed)
    return np.setdiff1d(np.arange(preset.num_classes), np.union1d(unseen, val))


def pretraining_set(recipe: PretrainRecipe) -> PretrainingSet:
    """Draw the pretraining images: the train classes in turn, from the pretraining random stream."""
    from zslbench.data.synthetic_v2 import PRESETS, class_values, draw_images

    preset = PRESETS[recipe.preset]
    classes = pretraining_classes(recipe)
    labels = np.resize(classes, recipe.num_images)
    pixels, _ = draw_images(preset, class_values(preset)[labels], recipe.data_seed, stream=recipe.stream)
    return PretrainingSet(pixels=pixels, labels=labels, classes=classes)


# --------------------------------------------------------------------------- training


class FamilyHeads(ImageZSLModel):
    """The backbone plus one linear head per attribute family on the class token (CE on each family's value)."""

    def __init__(self, backbone: nn.Module, family_sizes: list[int]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList(nn.Linear(backbone.dim, n) for n in family_sizes)
        self.family_values: torch.Tensor | None = None  # (C, F) value of each family per class

    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        cls = self.backbone(images)
        values = self.family_values.to(targets.device)[targets]
        per_family = [F.cross_entropy(head(cls), values[:, f]) for f, head in enumerate(self.heads)]
        return {"loss": sum(per_family), **{f"family{f}": v for f, v in enumerate(per_family)}}

    def head_parameters(self):
        return self.heads.parameters()

    @torch.no_grad()
    def family_predictions(self, images: torch.Tensor) -> torch.Tensor:
        cls = self.backbone(images)
        return torch.stack([head(cls).argmax(-1) for head in self.heads], dim=1)


def _umask() -> int:
    """The process umask (there is no getter: set and restore it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def pretrain(recipe: PretrainRecipe, progress: bool = True) -> Path:
    """Pretrain the backbone of ``recipe`` and cache it; returns the checkpoint path (kept if already there)."""
    from safetensors.torch import save_file

    from zslbench.models.backbones import create_backbone
    from zslbench.config import TrainConfig
    from zslbench.data.dataset import ArrayImages
    from zslbench.data.synthetic_v2 import PRESETS, class_values
    from zslbench.data.transforms import ImageDataset, build_transform
    from zslbench.training.engine import seed_everything, train

    path = checkpoint_path(recipe)
    if path.exists():
        return path
    preset = PRESETS[recipe.preset]
    t0 = time.perf_counter()
    data = pretraining_set(recipe)
    seconds_data = time.perf_counter() - t0
    seed_everything(recipe.torch_seed)
    backbone = create_backbone(recipe.backbone, "none", preset.image_size)
    values = class_values(preset)
    model = FamilyHeads(backbone, [len(preset.body_values), len(preset.head_values)])
    model.family_values = torch.as_tensor(values)
    source = SimpleNamespace(images=ArrayImages(data.pixels), labels=data.labels)
    train_set = ImageDataset(source, np.arange(len(data.labels)),  # type: ignore[arg-type]
                             build_transform("synthetic-fixed", preset.image_size, train=False),
                             targets=data.labels)
    cfg = TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                      weight_decay=recipe.weight_decay, optimizer="adamw", schedule="cosine", device="cpu")
    result = train(model, train_set, torch.zeros(preset.num_classes, 1), cfg, torch.device("cpu"),
                   recipe.torch_seed, progress=progress, label=f"pretrain {recipe.backbone}")
    state = {k: v.contiguous() for k, v in backbone.vit.state_dict().items()}
    # a temporary name of this process's own (two runs may pretrain at once), readable as the umask says
    # (safetensors writes 0600), then renamed into place whole
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(state, str(temporary), metadata={"fingerprint": fingerprint(recipe)})
    os.chmod(temporary, 0o666 & ~_umask())
    temporary.replace(path)
    record = {"fingerprint": fingerprint(recipe), "recipe": dataclasses.asdict(recipe),
              "classes": data.classes.tolist(), "data_seconds": seconds_data, "train_seconds": result.train_seconds,
              "history": [dataclasses.asdict(h) for h in result.history]}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return path


def ensure_pretrained(dataset_name: str, data_seed: int, progress: bool = True) -> Path:
    """The cached pretrained backbone of ``dataset_name`` (built now when missing, with a progress bar)."""
    recipe = recipe_for(dataset_name, data_seed)
    path = checkpoint_path(recipe)
    if not path.exists():
        log.info("pretraining %s for %s (data seed %d): once, cached in %s", recipe.backbone, dataset_name,
                 data_seed, path.parent)
        pretrain(recipe, progress=progress)
    return path
