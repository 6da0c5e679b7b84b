"""Synthetic benchmark, versions 2 (``synthetic-v2``) and 3 (``synthetic``): two-part objects among
distractors from the same vocabulary. Version 3 makes both families part colours (body hue, head hue) and
its distractors smaller; see docs/synthetic.md. What follows describes the design both share.

Why a second version (issue 13): in version 1 (``synthetic-v1``) a predictor
that ignores shape already reached most of the T1 and soft, translucent
distractors never fooled anything, so good and bad patch selection scored the
same. Version 2 contains, by construction, the problem SVIP addresses:

* **Two-part objects.** Every object is a *body* (a shape with a fill pattern,
  in a colour that carries no class information) with a *head* attached on
  top (a small disc or square in a colour). A class is one (body, head) pair:
  two attribute families, each located in its own part of the object.
* **Misleading distractors.** Opaque, hard-edged loose bodies and loose heads
  drawn from the same vocabulary (the values of other classes) are scattered in
  the background. Only the attached pair is the object; the rest is clutter
  that a model pooling over every patch reads as evidence for wrong classes.
* **Every family is needed.** The unseen classes are a full ``k x k`` block of
  the class grid (``k`` body values x ``k`` head values), so a predictor blind
  to either family can tell at most ``k`` of the ``k^2`` unseen classes apart:
  its best T1 is ``1/k`` (10% for ``k = 10``), against chance ``1/k^2``
  (:func:`zslbench.evaluation.diagnostics.family_blind_ceilings` computes it exactly from
  the class-attribute matrix). The remaining classes are seen; every value
  still appears among them, so zero-shot transfer is possible.
* Per-pixel segmentation (0 background, 1 body, 2 head, 3 distractor); the
  dataset's ``masks`` are body + head.

Elements are rendered in small windows (not over the full canvas), vectorised
over a batch, so generation stays fast. Deterministic in (preset, seed, the
preset's ``version``); cached as HDF5 under ``paths.cache_dir("synthetic")``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zslbench.data import h5cache
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.data.synthetic import _hold_out_covering, _image_splits, draw_in_batches
from zslbench.data.synthetic_v2_draw import (ANY, BACKGROUND, BODY, BODY_SHAPES, DISTRACTOR, HEAD,  # noqa: F401
                                            HEAD_SHAPES, HUES, PALETTE, PALETTES, PATTERNS, draw_batch)
from zslbench.errors import UsageError
from zslbench.registry import DatasetSpec

log = logging.getLogger(__name__)

#: The versions that were once generated under the name ``synthetic``.
EARLIER_SYNTHETIC_VERSIONS = (1, 2)

_BATCH_IMAGES = 128

@dataclass(frozen=True)
class SyntheticV2Preset:
    """The recipe of one benchmark of this generator (versions 2 and 3).

    Body values are (shape, pattern, colour) triples, head values (colour,
    head shape) pairs; a component that is :data:`ANY` is drawn per image and
    carries no class information. The ``len(body_values)`` x
    ``len(head_values)`` grid is the class set, of which a ``unseen_block`` x
    ``unseen_block`` block is unseen. Colours are names in ``PALETTES[palette]``,
    which also colours the distractors.
    """

    name: str
    image_size: int
    body_values: tuple[tuple[str, str, str], ...]
    head_values: tuple[tuple[str, str], ...]
    unseen_block: int
    images_per_seen_class: int
    images_per_unseen_class: int
    test_seen_fraction: float = 0.2
    val_class_fraction: float = 0.2
    body_radius_range: tuple[float, float] = (0.13, 0.16)  # in units of image_size
    head_radius_range: tuple[float, float] = (0.055, 0.065)
    loose_bodies: tuple[int, int] = (1, 3)  # distractor bodies per image, inclusive range
    loose_heads: tuple[int, int] = (1, 3)
    loose_body_scale: tuple[float, float] = (0.75, 1.0)  # relative to the object's body range
    palette: str = "v1"
    distractors_from_values: bool = False  # distractor shapes/patterns: those the values use (v3) | all (v2)
    version: int = 2  # of the drawing recipe: part of the cache file name
    description: str = ""

    def __post_init__(self) -> None:
        colours = PALETTES[self.palette]
        named = [b[2] for b in self.body_values if b[2] != ANY] + [h[0] for h in self.head_values]
        if any(c not in colours for c in named):  # a preset-table bug, not user input
            raise ValueError(f"preset {self.name}: colours outside palette {self.palette!r}")

    @property
    def num_classes(self) -> int:
        return len(self.body_values) * len(self.head_values)

    @property
    def num_unseen(self) -> int:
        return self.unseen_block ** 2

    @property
    def num_images(self) -> int:
        seen = self.num_classes - self.num_unseen
        return seen * self.images_per_seen_class + self.num_unseen * self.images_per_unseen_class


def _grid(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a in first for b in second)


def _free_colour(bodies: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str], ...]:
    return tuple((shape, pattern, ANY) for shape, pattern in bodies)


_HUE_NAMES = tuple(HUES)

PRESETS: dict[str, SyntheticV2Preset] = {
    "synthetic": SyntheticV2Preset(
        name="synthetic", image_size=96, palette="hues", version=3,
        body_values=tuple((ANY, "striped", c) for c in _HUE_NAMES), head_values=tuple((c, "disc") for c in _HUE_NAMES),
        unseen_block=10, images_per_seen_class=40, images_per_unseen_class=10, loose_body_scale=(0.5, 0.7),
        head_radius_range=(0.065, 0.075), distractors_from_values=True,
        description=("v3: 144 classes = 12 body colours x 12 head colours (part colours, as CUB's attributes), "
                     "a 10x10 block of 100 unseen classes; striped bodies with a disc head among smaller "
                     "loose parts of the same vocabulary; 96x96"),
    ),
    "synthetic-v3-tiny": SyntheticV2Preset(
        name="synthetic-v3-tiny", image_size=48, palette="hues", version=3,
        body_values=tuple((ANY, "striped", c) for c in ("red", "green", "blue", "violet")),
        head_values=tuple((c, "disc") for c in ("yellow", "cyan", "magenta", "orange")),
        unseen_block=3, images_per_seen_class=8, images_per_unseen_class=4,
        loose_bodies=(1, 1), loose_heads=(1, 2), loose_body_scale=(0.5, 0.7), distractors_from_values=True,
        description="v3 smoke test: 16 classes (4 body colours x 4 head colours, 3x3 unseen block), 48x48; for tests",
    ),
    "synthetic-v2": SyntheticV2Preset(
        name="synthetic-v2", image_size=96,
        body_values=_free_colour(_grid(BODY_SHAPES, PATTERNS)), head_values=_grid(tuple(PALETTE), HEAD_SHAPES),
        unseen_block=10, images_per_seen_class=40, images_per_unseen_class=10,
        description=("v2: 144 classes = 12 body types (shape x pattern) x 12 heads (colour x shape), "
                     "a 10x10 block of 100 unseen classes; two-part objects among loose parts; 96x96"),
    ),
    "synthetic-v2-tiny": SyntheticV2Preset(
        name="synthetic-v2-tiny", image_size=48,
        body_values=_free_colour(_grid(("circle", "square"), ("solid", "striped"))),
        head_values=_grid(("red", "blue"), HEAD_SHAPES),
        unseen_block=3, images_per_seen_class=8, images_per_unseen_class=4,
        loose_bodies=(1, 1), loose_heads=(1, 2),
        description="v2 smoke test: 16 classes (4 bodies x 4 heads, 3x3 unseen block), 48x48; for tests",
    ),
}


@dataclass
class SyntheticV2Arrays:
    """Everything :func:`generate` draws."""

    pixels: np.ndarray  # (N, H, W, 3) uint8
    segmentation: np.ndarray  # (N, H, W) uint8: BACKGROUND, BODY, HEAD or DISTRACTOR
    labels: np.ndarray  # (N,) int64
    unseen_classes: np.ndarray
    val_classes: np.ndarray
    splits: dict[str, np.ndarray]


SPLIT_NAMES = ("trainval", "test_seen", "test_unseen")


# --------------------------------------------------------------------------- classes


def class_values(preset: SyntheticV2Preset) -> np.ndarray:
    """(C, 2) (body value, head value) index per class, body-major."""
    return np.indices((len(preset.body_values), len(preset.head_values))).reshape(2, -1).T.astype(np.int64)


def _value_names(values: tuple[tuple[str, ...], ...]) -> list[str]:
    """Each value named by the components that differ between the family's values (``circle_solid``, ``red``)."""
    varying = [i for i in range(len(values[0])) if len({v[i] for v in values}) > 1]
    return ["_".join(v[i] for i in varying) for v in values]


def attribute_names(preset: SyntheticV2Preset) -> list[str]:
    """``body_<value>`` columns, then ``head_<value>`` columns (v2: ``body_circle_solid``, v3: ``body_red``)."""
    return ([f"body_{name}" for name in _value_names(preset.body_values)]
            + [f"head_{name}" for name in _value_names(preset.head_values)])


def attribute_groups(preset: SyntheticV2Preset) -> list[list[int]]:
    """The two families: body columns, head columns."""
    nb = len(preset.body_values)
    return [list(range(nb)), list(range(nb, nb + len(preset.head_values)))]


def class_names(preset: SyntheticV2Preset) -> list[str]:
    bodies, heads = _value_names(preset.body_values), _value_names(preset.head_values)
    return [f"{bodies[b]}_body_{heads[h]}_head" for b, h in class_values(preset)]


def class_attributes(preset: SyntheticV2Preset) -> np.ndarray:
    """(C, K) binary: one-hot body value, one-hot head value."""
    values = class_values(preset)
    matrix = np.zeros((preset.num_classes, len(attribute_names(preset))), dtype=np.float32)
    rows = np.arange(preset.num_classes)
    matrix[rows, values[:, 0]] = 1.0
    matrix[rows, len(preset.body_values) + values[:, 1]] = 1.0
    return matrix


def unseen_block(preset: SyntheticV2Preset, rng: np.random.Generator) -> np.ndarray:
    """Sorted class ids of a random ``k x k`` block (k body values x k head values)."""
    k = preset.unseen_block
    if not 1 <= k < min(len(preset.body_values), len(preset.head_values)):
        raise UsageError(f"preset {preset.name}: unseen_block {k} must leave a seen value in each family")
    bodies = rng.permutation(len(preset.body_values))[:k]
    heads = rng.permutation(len(preset.head_values))[:k]
    return np.sort((bodies[:, None] * len(preset.head_values) + heads[None, :]).ravel())


def draw_labels(preset: SyntheticV2Preset, unseen: np.ndarray) -> np.ndarray:
    """Image labels: each seen class ``images_per_seen_class`` times, each unseen class fewer (test only)."""
    counts = np.where(np.isin(np.arange(preset.num_classes), unseen),
                      preset.images_per_unseen_class, preset.images_per_seen_class)
    return np.repeat(np.arange(preset.num_classes), counts)


def _class_splits(preset: SyntheticV2Preset, split_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    unseen = unseen_block(preset, split_rng)
    seen = np.setdiff1d(np.arange(preset.num_classes), unseen)
    n_val = max(1, int(round(preset.val_class_fraction * len(seen))))
    return unseen, _hold_out_covering(class_values(preset), seen, n_val, split_rng)


def class_splits(preset: SyntheticV2Preset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(unseen classes, GBU validation classes) of (preset, seed), as :func:`generate` draws them, without images."""
    return _class_splits(preset, np.random.default_rng([seed, 0]))


def generate(preset: SyntheticV2Preset, seed: int, workers: int | None = None) -> SyntheticV2Arrays:
    """Draw a whole benchmark from ``seed`` (pure). Splits use stream ``[seed, 0]``, image batch b ``[seed, 1, b]``."""
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    split_rng = np.random.default_rng([seed, 0])
    unseen, val = _class_splits(preset, split_rng)
    values = class_values(preset)
    labels = draw_labels(preset, unseen)
    splits = _image_splits(labels, unseen, preset.test_seen_fraction, preset.images_per_seen_class, split_rng)
    pixels, segmentation = draw_images(preset, values[labels], seed, stream=1, workers=workers)
    return SyntheticV2Arrays(pixels=pixels, segmentation=segmentation, labels=labels, unseen_classes=unseen,
                             val_classes=val, splits=splits)


def draw_images(preset: SyntheticV2Preset, values: np.ndarray, seed: int, stream: int,
                workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and segmentation of images with (body, head) ``values`` (N, 2); batch b draws from ``[seed, stream, b]``.

    The benchmark uses stream 1; the pretraining set (:mod:`zslbench.training.pretrain`)
    another one, so no random stream, hence no image, is shared.
    """
    size = preset.image_size
    pixels = np.empty((len(values), size, size, 3), dtype=np.uint8)
    segmentation = np.empty((len(values), size, size), dtype=np.uint8)

    def draw(batch: int, rows: slice) -> None:
        rng = np.random.default_rng([seed, stream, batch])
        pixels[rows], segmentation[rows] = draw_batch(preset, values[rows], rng)

    draw_in_batches(draw, len(values), _BATCH_IMAGES, workers)
    return pixels, segmentation


# --------------------------------------------------------------------------- cache and loading


def cache_path(preset: SyntheticV2Preset, seed: int) -> Path:
    return h5cache.preset_cache_path(preset, seed, preset.version)


_CACHE_LAYOUT = h5cache.CacheLayout(arrays=("pixels", "segmentation", "labels", "unseen_classes", "val_classes"),
                                    split_names=SPLIT_NAMES, compress_lzf=frozenset({"segmentation"}))


def _cache_attrs(preset: SyntheticV2Preset, seed: int) -> dict[str, object]:
    return h5cache.preset_cache_attrs(preset, seed, preset.version)


def _shapes_ok(arrays: SyntheticV2Arrays, preset: SyntheticV2Preset) -> bool:
    n, size = preset.num_images, preset.image_size
    return (arrays.pixels.shape == (n, size, size, 3) and arrays.segmentation.shape == (n, size, size)
            and arrays.labels.shape == (n,) and len(arrays.unseen_classes) == preset.num_unseen
            and sum(len(v) for v in arrays.splits.values()) == n)


def load_arrays(preset: SyntheticV2Preset, seed: int) -> SyntheticV2Arrays:
    """The arrays of (preset, seed): cached, or generated and cached."""
    attrs = _cache_attrs(preset, seed)
    return h5cache.load_or_generate(
        cache_path(preset, seed),
        read=lambda path: h5cache.read_record(path, _CACHE_LAYOUT, SyntheticV2Arrays, attrs, log,
                                              shapes_ok=lambda a: _shapes_ok(a, preset)),
        generate=lambda: generate(preset, seed),
        write=lambda path, new: h5cache.write_record(path, _CACHE_LAYOUT, new, attrs), log=log)


def build_dataset(preset: SyntheticV2Preset, seed: int, arrays: SyntheticV2Arrays) -> ZSLDataset:
    seen = np.setdiff1d(np.arange(preset.num_classes), arrays.unseen_classes)
    segmentation = np.asarray(arrays.segmentation)
    dataset = ZSLDataset(
        name=preset.name, class_names=class_names(preset), attribute_names=attribute_names(preset),
        class_attributes=class_attributes(preset), labels=np.asarray(arrays.labels, dtype=np.int64),
        splits={k: np.asarray(v, dtype=np.int64) for k, v in arrays.splits.items()}, seen_classes=seen,
        unseen_classes=np.asarray(arrays.unseen_classes, dtype=np.int64), images=ArrayImages(arrays.pixels),
        train_classes=np.setdiff1d(seen, arrays.val_classes), val_classes=np.asarray(arrays.val_classes, dtype=np.int64),
        masks=(segmentation == BODY) | (segmentation == HEAD), attribute_groups=attribute_groups(preset),
        # "synthetic-fixed": no flip augmentation, so object masks stay aligned with the pixels a model sees
        meta={"preset": preset.name, "seed": seed, "generator_version": preset.version,
              "image_size": preset.image_size, "recipe": "synthetic-fixed", "family_names": ["body", "head"],
              "pretraining": f"{preset.name} (train classes, its own random stream)"},
    )
    return h5cache.validated(dataset, preset.name, cache_path(preset, seed))


def load_synthetic_v2(name: str, seed: int = 0) -> ZSLDataset:
    from zslbench.data.synthetic import preset_named

    preset = preset_named(name, PRESETS, "synthetic")
    return build_dataset(preset, seed, load_arrays(preset, seed))


def dataset_specs() -> list[DatasetSpec]:
    """Dataset registrations for the version-3 and version-2 presets (the core plugin registers these)."""
    return [
        DatasetSpec(
            name=name,
            load=lambda data_cfg, _name=name: load_synthetic_v2(_name, data_cfg.synthetic_seed),
            task="single-label", default_image_size=preset.image_size, needs_download=False,
            description=f"embedded synthetic benchmark {preset.description}", data_version=preset.version,
            # `synthetic` was version 1, then 2: runs that recorded no version may be either
            earlier_data_versions=EARLIER_SYNTHETIC_VERSIONS if name == "synthetic" else (),
        )
        for name, preset in PRESETS.items()
    ]
