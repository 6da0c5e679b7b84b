"""The pretraining recipes by dataset, without torch: config resolution (``report``, sweep planning)
asks :func:`default_pretrained`; :mod:`zslbench.training.pretrain` trains them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zslbench.errors import UsageError

#: ``--pretrained`` value meaning "the pretrained tiny backbone of this synthetic dataset (built on first use)".
SYNTHETIC_PRETRAINED = "synthetic-pretrained"

#: Random stream of the pretraining images (the benchmark draws its images from stream 1).
PRETRAIN_STREAM = 2


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that determines a pretrained backbone (its fingerprint hashes all of it)."""

    preset: str  # the synthetic v3 or v2 preset whose train classes and generator are used
    backbone: str  # a SYNTHETIC_VIT_CONFIGS name
    num_images: int
    epochs: int
    data_seed: int = 0  # the benchmark's data.synthetic_seed (decides which classes are unseen)
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    torch_seed: int = 0
    stream: int = PRETRAIN_STREAM
    version: int = 1  # bump when the training code changes what it produces


#: preset -> recipe at data seed 0 (other data seeds replace ``data_seed``). v3 pretrains longer than v2
#: (12,288 images x 6 epochs, about 3 min on 2 cores; final body/head cross-entropy 0.07 / 0.21): v2's recipe
#: (6,144 x 4) left them at 0.25 / 0.95 on a draft of v3 with smaller heads.
RECIPES: dict[str, PretrainRecipe] = {
    "synthetic": PretrainRecipe(preset="synthetic", backbone="vit-synthetic-v2", num_images=12288, epochs=6),
    "synthetic-v2": PretrainRecipe(preset="synthetic-v2", backbone="vit-synthetic-v2", num_images=6144, epochs=4),
    "synthetic-v3-tiny": PretrainRecipe(preset="synthetic-v3-tiny", backbone="vit-synthetic-v2-tiny",
                                        num_images=96, epochs=1, batch_size=32),
    "synthetic-v2-tiny": PretrainRecipe(preset="synthetic-v2-tiny", backbone="vit-synthetic-v2-tiny",
                                        num_images=96, epochs=1, batch_size=32),
}
#: synthetic-full keeps the backbone of its base preset: the same recipe, hence the same fingerprint and file.
RECIPES["synthetic-full"] = RECIPES["synthetic"]


def recipe_for(dataset_name: str, data_seed: int = 0) -> PretrainRecipe:
    """The pretraining recipe of synthetic v2 dataset ``dataset_name``; other datasets are a usage error."""
    if dataset_name not in RECIPES:
        raise UsageError(f"--pretrained {SYNTHETIC_PRETRAINED} exists for {', '.join(RECIPES)}, not {dataset_name!r}",
                         "use --pretrained none, timm or a checkpoint path")
    return dataclasses.replace(RECIPES[dataset_name], data_seed=int(data_seed))


def default_pretrained(dataset_name: str, backbone: str | None) -> str | None:
    """The default ``--pretrained`` of a run: the pretrained tiny backbone for synthetic v2 on its own ViT, else None."""
    recipe = RECIPES.get(dataset_name)
    return SYNTHETIC_PRETRAINED if recipe is not None and backbone == recipe.backbone else None
