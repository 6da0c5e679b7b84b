"""Registers the ``pixel-attr`` method and the ``example-bars`` dataset.

This module is imported whenever zslbench loads its plugins (``zslbench list``,
``compare``...), so it imports no torch: the model lives in
:mod:`zslbench_example.model`, imported by :func:`build` when a run needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import zslbench
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.methods import MethodContext, MethodSpec
from zslbench.registry import DatasetSpec

if TYPE_CHECKING:
    from zslbench_example.model import PixelAttr


@dataclass
class PixelAttrOptions:
    """Hyper-parameters of ``pixel-attr`` (settable as ``method.<field>``)."""

    pooled_size: int = 4  # images are average-pooled to pooled_size x pooled_size
    temperature: float = 10.0  # cosine-softmax scale


def build(context: MethodContext, options: PixelAttrOptions) -> PixelAttr:
    from zslbench_example.model import PixelAttr  # torch loads here, when a run builds the model

    return PixelAttr(context.num_attributes, options)


def make_bars(data_cfg) -> ZSLDataset:
    """12 classes = 4 colours x 3 bar orientations, 3 unseen; 16x16 images, 20 per class."""
    rng = np.random.default_rng(data_cfg.synthetic_seed)
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (220, 220, 30)}
    orientations = ["horizontal", "vertical", "diagonal"]
    classes = [(c, o) for c in colours for o in orientations]
    attribute_names = list(colours) + orientations
    attributes = np.zeros((len(classes), len(attribute_names)), dtype=np.float32)
    for i, (c, o) in enumerate(classes):
        attributes[i, attribute_names.index(c)] = attributes[i, attribute_names.index(o)] = 1
    per_class, size = 20, 16
    labels = np.repeat(np.arange(len(classes)), per_class)
    pixels = rng.integers(0, 60, size=(len(labels), size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    bars = {"horizontal": abs(yy - size // 2) < 3, "vertical": abs(xx - size // 2) < 3, "diagonal": abs(yy - xx) < 3}
    for i, (c, o) in enumerate(classes):
        rows = np.flatnonzero(labels == i)
        colour = np.array(colours[c], dtype=np.uint8)
        pixels[rows] = np.where(bars[o][None, :, :, None], colour, pixels[rows])
    unseen = np.array([1, 5, 9])  # red-vertical, green-diagonal, yellow-horizontal: every value stays seen
    seen = np.setdiff1d(np.arange(len(classes)), unseen)
    order = rng.permutation(len(labels))
    is_seen = np.isin(labels, seen)
    seen_idx = order[is_seen[order]]
    test_seen = np.sort(seen_idx[: len(seen_idx) // 5])
    trainval = np.sort(seen_idx[len(seen_idx) // 5:])
    test_unseen = np.sort(np.flatnonzero(~is_seen))
    return ZSLDataset(name="example-bars", class_names=[f"{c} {o}" for c, o in classes],
                      attribute_names=attribute_names, class_attributes=attributes, labels=labels,
                      splits={"trainval": trainval, "test_seen": test_seen, "test_unseen": test_unseen},
                      seen_classes=seen, unseen_classes=unseen, images=ArrayImages(pixels),
                      meta={"recipe": "synthetic"})


@zslbench.hookimpl
def register_methods(register) -> None:
    register(MethodSpec(name="pixel-attr", build=build, options_type=PixelAttrOptions,
                        description="Example plugin: linear attributes from pooled pixels"))


@zslbench.hookimpl
def register_datasets(register) -> None:
    register(DatasetSpec(name="example-bars", load=make_bars, description="Example plugin: coloured bars",
                         default_image_size=16, needs_download=False))


@zslbench.hookimpl
def register_commands(register) -> None:
    import click

    @click.command("example-bars-summary")
    @click.option("--seed", type=int, default=0, show_default=True, help="The dataset's generator seed.")
    def summary(seed: int) -> None:
        """Example plugin: the classes and split sizes of the example-bars dataset."""
        from zslbench.config import DataConfig

        dataset = make_bars(DataConfig(synthetic_seed=seed))
        click.echo(f"example-bars: {len(dataset.class_names)} classes ({len(dataset.seen_classes)} seen, "
                   f"{len(dataset.unseen_classes)} unseen); "
                   + ", ".join(f"{name} {len(ids)}" for name, ids in dataset.splits.items()))

    register(summary)
