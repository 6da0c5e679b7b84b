"""``synthetic-full``: the version-3 benchmark with more training images, for the training budget of the real
datasets (issue 33; docs/synthetic.md, "synthetic-full").

A full preset is its base preset (same generator, classes, unseen block,
validation classes, test images and pretrained backbone) plus extra
*trainval* images per seen class. The base's images are read from the base's
own cache file, bit for bit the same; only the extra images are drawn, from a
random stream nothing else uses (the base draws from stream 1, the
pretraining set from stream 2), and cached in the full preset's file.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from zslbench.data import h5cache, synthetic_v2
from zslbench.data.dataset import ZSLDataset
from zslbench.errors import UsageError
from zslbench.registry import DatasetSpec

log = logging.getLogger(__name__)

#: Random stream of the extra images (stream 1: the base's images; 2: the pretraining set).
EXTRA_STREAM = 3


@dataclass(frozen=True)
class FullPreset:
    """A base preset of :data:`zslbench.data.synthetic_v2.PRESETS` plus extra trainval images per seen class."""

    name: str
    base: str
    extra_trainval_per_seen_class: int
    description: str = ""

    @property
    def base_preset(self) -> synthetic_v2.SyntheticV2Preset:
        return synthetic_v2.PRESETS[self.base]

    @property
    def num_extra(self) -> int:
        base = self.base_preset
        return (base.num_classes - base.num_unseen) * self.extra_trainval_per_seen_class

    @property
    def trainval_per_seen_class(self) -> int:
        base = self.base_preset
        return base.images_per_seen_class - int(round(base.test_seen_fraction * base.images_per_seen_class)) \
            + self.extra_trainval_per_seen_class

    @property
    def num_trainval(self) -> int:
        base = self.base_preset
        return (base.num_classes - base.num_unseen) * self.trainval_per_seen_class


PRESETS: dict[str, FullPreset] = {
    "synthetic-full": FullPreset(
        name="synthetic-full", base="synthetic", extra_trainval_per_seen_class=120,
        description=("v3 at full training budget: `synthetic` (its classes, split, test images and backbone) "
                     "with 120 more trainval images per seen class (152 in all); see docs/synthetic.md"),
    ),
}


@dataclass
class ExtraImages:
    """The images a full preset adds to its base (all trainval)."""

    pixels: np.ndarray
    segmentation: np.ndarray
    labels: np.ndarray
    splits: dict[str, np.ndarray]


_EXTRA_LAYOUT = h5cache.CacheLayout(arrays=("pixels", "segmentation", "labels"), split_names=(),
                                    compress_lzf=frozenset({"segmentation"}))


def extra_labels(preset: FullPreset, unseen: np.ndarray) -> np.ndarray:
    """Each seen class ``extra_trainval_per_seen_class`` times, in class order."""
    base = preset.base_preset
    seen = np.setdiff1d(np.arange(base.num_classes), unseen)
    return np.repeat(seen, preset.extra_trainval_per_seen_class).astype(np.int64)


def generate_extra(preset: FullPreset, seed: int, unseen: np.ndarray, workers: int | None = None) -> ExtraImages:
    """Draw the extra images of (preset, seed) from stream :data:`EXTRA_STREAM` (pure)."""
    labels = extra_labels(preset, unseen)
    values = synthetic_v2.class_values(preset.base_preset)
    pixels, segmentation = synthetic_v2.draw_images(preset.base_preset, values[labels], seed, stream=EXTRA_STREAM,
                                                    workers=workers)
    return ExtraImages(pixels=pixels, segmentation=segmentation, labels=labels, splits={})


def _extra_path(preset: FullPreset, seed: int):
    return h5cache.preset_cache_path(preset, seed, preset.base_preset.version)


def _extra_attrs(preset: FullPreset, seed: int) -> dict[str, object]:
    return dict(preset=preset.name, base=preset.base, seed=seed, generator_version=preset.base_preset.version,
                image_size=preset.base_preset.image_size, num_images=preset.num_extra, stream=EXTRA_STREAM)


def load_extra(preset: FullPreset, seed: int, unseen: np.ndarray) -> ExtraImages:
    """The extra images of (preset, seed): cached, or drawn and cached."""
    size, n = preset.base_preset.image_size, preset.num_extra

    def shapes_ok(extra: ExtraImages) -> bool:
        return extra.pixels.shape == (n, size, size, 3) and extra.segmentation.shape == (n, size, size) \
            and np.array_equal(extra.labels, extra_labels(preset, unseen))

    attrs = _extra_attrs(preset, seed)
    return h5cache.load_or_generate(
        _extra_path(preset, seed),
        read=lambda path: h5cache.read_record(path, _EXTRA_LAYOUT, ExtraImages, attrs, log, shapes_ok=shapes_ok),
        generate=lambda: generate_extra(preset, seed, unseen),
        write=lambda path, new: h5cache.write_record(path, _EXTRA_LAYOUT, new, attrs), log=log)


def combine(base: synthetic_v2.SyntheticV2Arrays, extra: ExtraImages) -> synthetic_v2.SyntheticV2Arrays:
    """The base's arrays with the extra images appended to trainval (the test splits stay the base's)."""
    appended = len(base.labels) + np.arange(len(extra.labels), dtype=np.int64)
    splits = {name: np.asarray(index, dtype=np.int64) for name, index in base.splits.items()}
    splits["trainval"] = np.concatenate([splits["trainval"], appended])
    return synthetic_v2.SyntheticV2Arrays(
        pixels=np.concatenate([base.pixels, extra.pixels]),
        segmentation=np.concatenate([base.segmentation, extra.segmentation]),
        labels=np.concatenate([np.asarray(base.labels, dtype=np.int64), extra.labels]),
        unseen_classes=base.unseen_classes, val_classes=base.val_classes, splits=splits)


def load_full(preset: FullPreset, seed: int = 0) -> ZSLDataset:
    """The dataset of ``preset``: the base's cached images (its own cache file) plus the extra ones."""
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    base_preset = preset.base_preset
    base = synthetic_v2.load_arrays(base_preset, seed)
    arrays = combine(base, load_extra(preset, seed, np.asarray(base.unseen_classes)))
    named = dataclasses.replace(base_preset, name=preset.name, description=preset.description)
    dataset = synthetic_v2.build_dataset(named, seed, arrays)
    dataset.meta["base_preset"] = preset.base
    dataset.meta["extra_trainval_per_seen_class"] = preset.extra_trainval_per_seen_class
    return dataset


def dataset_specs() -> list[DatasetSpec]:
    """Dataset registrations of the full presets (the core plugin registers these)."""
    return [
        DatasetSpec(
            name=name, load=lambda data_cfg, _p=preset: load_full(_p, data_cfg.synthetic_seed),
            task="single-label", default_image_size=preset.base_preset.image_size, needs_download=False,
            description=f"embedded synthetic benchmark {preset.description}", data_version=preset.base_preset.version,
        )
        for name, preset in PRESETS.items()
    ]
