"""The method interface: what a plugin registers and what the engine calls.

Three kinds of methods are hosted:

* image methods (``kind="image"``): an ``ImageZSLModel`` (a ``torch.nn.Module``)
  trained end to end by the core engine on image batches;
* feature methods (``kind="feature"``): a ``FeatureZSLModel`` fitted once on
  frozen backbone features (closed forms, or their own small optimisation);
* training-free methods (``kind="training-free"``): a model that scores image
  batches as built (e.g. CLIP's zero-shot classifier); the run flow skips the
  engine and evaluates it like a trained image method.

All produce class-compatibility scores for any set of class attribute
vectors, which is all the evaluation protocol needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from zslbench.data.dataset import SINGLE_LABEL

if TYPE_CHECKING:
    import numpy as np


@dataclass
class MethodContext:
    """What a method factory may know about the benchmark it is built for.

    ``attribute_vectors`` returns the word vectors of the attribute names
    (K, D) from the configured text encoder; it is computed on first call.
    """

    dataset_name: str
    attribute_names: list[str]
    num_attributes: int
    image_size: int
    attribute_groups: list[list[int]] | None = None
    backbone: str | None = None
    pretrained: str | None = None
    device: str = "cpu"
    attribute_vectors: Callable[[], np.ndarray] | None = None
    seed: int = 0
    extras: dict = field(default_factory=dict)
    object_masks: np.ndarray | None = None  # (N, H, W) bool per dataset image, where the dataset has masks
    class_names: list[str] = field(default_factory=list)  # the dataset's class names, row order of class_attributes


#: The method kinds (``MethodSpec.kind``).
METHOD_KINDS = ("image", "feature", "training-free")


@runtime_checkable
class FeatureZSLModel(Protocol):
    """A method fitted on frozen features (N, D) of the training images."""

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        """Fit on features of seen-class images; ``targets`` index rows of ``class_attributes``."""
        ...

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        """Compatibility scores (N, C)."""
        ...


@runtime_checkable
class TrainingFreeZSLModel(Protocol):
    """A method that needs no training: it scores normalised image batches (B, 3, S, S) as built.

    ``class_scores`` returns a (B, C) tensor over the C rows of
    ``class_attributes`` (the dataset's classes, in ``MethodContext.class_names``
    order). It is a ``torch.nn.Module`` so the core can move it to the device
    and put it in eval mode.
    """

    def class_scores(self, images: Any, class_attributes: Any) -> Any:
        """Compatibility scores (B, C) of image batch ``images``."""
        ...


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    ``build(context, options)`` returns the model; ``options`` is an instance of
    ``options_type`` (a dataclass of the method's hyper-parameters, settable as
    ``method.<field>`` in configs and ``--set``). ``dataset_defaults(dataset)``
    returns per-dataset overrides as a nested dict (``{"train": {...},
    "method": {...}}``) applied before the user's config. ``variant_of`` names
    the method an ablation variant belongs to (``zslbench ablate`` finds
    variants through it). ``reference_results`` holds published numbers keyed
    by dataset, each a dict of metric -> value (percent), with a ``source``.
    """

    name: str
    build: Callable[[MethodContext, Any], Any]
    options_type: type
    kind: str = "image"
    tasks: tuple[str, ...] = (SINGLE_LABEL,)
    description: str = ""
    aliases: tuple[str, ...] = ()
    variant_of: str | None = None
    dataset_defaults: Callable[[str], dict] | None = None
    reference_results: dict = field(default_factory=dict)
    default_backbone: Callable[[str], str] | None = None
    ablation_baseline: str | None = None  # method shown as the "baseline" row by `zslbench ablate`

    def __post_init__(self) -> None:
        if self.kind not in METHOD_KINDS:
            raise ValueError(f"method {self.name!r}: kind must be one of {', '.join(METHOD_KINDS)}, not {self.kind!r}")


def __getattr__(name: str) -> Any:
    """``ImageZSLModel`` is a ``torch.nn.Module``: defined in :mod:`zslbench.image_model` and
    imported on first use, so registering methods (``zslbench list``) never imports torch."""
    if name == "ImageZSLModel":
        from zslbench.image_model import ImageZSLModel

        return ImageZSLModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
