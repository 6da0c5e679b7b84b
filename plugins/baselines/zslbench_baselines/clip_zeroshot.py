"""CLIP's own zero-shot classifier (``clip-zeroshot``): a training-free method under the GZSL protocol.

Class embeddings come from the text tower of a registered CLIP-family backbone
(open_clip): with ``method.classes_from = "names"`` each class name (cleaned
from the split file, ``002.Laysan_Albatross`` -> ``Laysan Albatross``) is put
into prompt templates and the class embedding is the mean of the
L2-normalised template embeddings, normalised again (the prompt ensemble of
Radford et al., 2021, as in OpenAI's ImageNet notebook); with ``"attributes"``
each attribute name is embedded the same way and a class is the normalised
sum of its attribute embeddings weighted by its (non-negative) attribute
values. Scores are ``logit_scale * cos(image, class)`` (plus SigLIP's logit
bias, a constant shift). No training; under ``--protocol gbu`` the runner
chooses the calibration gamma on validation classes like for any method.

The model is in :mod:`zslbench_baselines.clip_zeroshot_model` (torch, imported on build).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zslbench.errors import UsageError
from zslbench.methods import MethodContext, MethodSpec

if TYPE_CHECKING:
    from zslbench_baselines.clip_zeroshot_model import ClipZeroShot

#: The backbone when none is given.
DEFAULT_BACKBONE = "clip-vit-b16-openai"

#: The 7 templates OpenAI selected for ImageNet zero-shot (CLIP repository, notebooks/Prompt_Engineering_for_ImageNet.ipynb).
ENSEMBLE_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

#: Per-dataset templates: CUB uses CLIP's Birdsnap template and SUN CLIP's SUN397 templates (CLIP repository,
#: data/prompts.md); AwA2 has no CLIP template, this one follows CLIP's "a type of pet." pattern (ours).
DATASET_TEMPLATES: dict[str, tuple[str, ...]] = {
    "cub": ("a photo of a {}, a type of bird.",),
    "awa2": ("a photo of a {}, a type of animal.",),
    "sun": ("a photo of a {}.", "a photo of the {}."),
}

#: Templates of attribute descriptions (``classes_from = "attributes"``).
ATTRIBUTE_TEMPLATES = ("a photo of something with {}.", "a photo of something that is {}.")

CLASSES_FROM = ("names", "attributes")
TEMPLATE_CHOICES = ("auto", "dataset", "ensemble", "simple")


@dataclass
class ClipZeroShotOptions:
    """``--set method.<field>=...`` options of ``clip-zeroshot``."""

    classes_from: str = "names"  # names | attributes
    # auto: the dataset's templates where it has some, else the ensemble | dataset | ensemble | simple ("a photo of a {}.")
    templates: str = "auto"
    text_batch_size: int = 256
    cache_text: bool = True  # text embeddings cached on disk (keyed by weights digest, prompts and names)

    def __post_init__(self) -> None:
        if self.classes_from not in CLASSES_FROM:
            raise UsageError(f"unknown method.classes_from {self.classes_from!r}", f"choose {' or '.join(CLASSES_FROM)}")
        if self.templates not in TEMPLATE_CHOICES:
            raise UsageError(f"unknown method.templates {self.templates!r}", f"choose one of {', '.join(TEMPLATE_CHOICES)}")
        if self.text_batch_size < 1:
            raise UsageError("method.text_batch_size must be at least 1")


def clean_class_name(name: str) -> str:
    """A split file's class name as words: ``002.Laysan_Albatross`` -> ``Laysan Albatross``, ``grizzly+bear`` -> ``grizzly bear``."""
    name = re.sub(r"^\d+[.\s_-]+", "", name.strip())
    return re.sub(r"\s+", " ", re.sub(r"[_+]", " ", name)).strip()


def clean_attribute_name(name: str) -> str:
    """An attribute name as words: ``has_bill_shape::curved_(up_or_down)`` -> ``bill shape curved (up or down)``."""
    name = re.sub(r"^has_", "", name.strip())
    return re.sub(r"\s+", " ", re.sub(r"::|[_+]", " ", name)).strip()


def templates_for(dataset_name: str, choice: str) -> tuple[str, ...]:
    """The prompt templates of ``choice`` for ``dataset_name``."""
    own = DATASET_TEMPLATES.get(dataset_name.lower())
    if choice == "simple":
        return ("a photo of a {}.",)
    if choice == "ensemble" or (choice == "auto" and own is None):
        return ENSEMBLE_TEMPLATES
    if own is None:
        raise UsageError(f"dataset {dataset_name!r} has no prompt templates of its own",
                         "use method.templates=auto, ensemble or simple")
    return own


def build_clip_zeroshot(context: MethodContext, options: ClipZeroShotOptions) -> ClipZeroShot:
    """Load the backbone's open_clip model and encode the class (or attribute) prompts."""
    from zslbench.models.vision_language import clip_tower, load_clip

    from zslbench_baselines.clip_zeroshot_model import ClipZeroShot

    tower = clip_tower(context.backbone or DEFAULT_BACKBONE)
    if context.image_size != tower.image_size:
        raise UsageError(f"clip-zeroshot on {context.backbone} needs {tower.image_size} px images, "
                         f"not data.image_size={context.image_size}", f"set data.image_size={tower.image_size}")
    clip = load_clip(context.backbone or DEFAULT_BACKBONE, context.pretrained)
    if options.classes_from == "names":
        if not context.class_names:
            raise UsageError("clip-zeroshot with classes_from=names needs the dataset's class names")
        words = [clean_class_name(n) for n in context.class_names]
        templates = templates_for(context.dataset_name, options.templates)
    else:
        words = [clean_attribute_name(n) for n in context.attribute_names]
        templates = ATTRIBUTE_TEMPLATES
    return ClipZeroShot(clip, words, templates, options.classes_from, options.text_batch_size, options.cache_text,
                        backbone=context.backbone or DEFAULT_BACKBONE, pretrained=context.pretrained)


def method_specs() -> list[MethodSpec]:
    """The spec of ``clip-zeroshot``."""
    return [MethodSpec(
        name="clip-zeroshot", build=build_clip_zeroshot, options_type=ClipZeroShotOptions, kind="training-free",
        description="CLIP's zero-shot classifier (text tower over prompt templates of class names or attributes); "
                    "no training",
        default_backbone=lambda dataset: DEFAULT_BACKBONE,
    )]
