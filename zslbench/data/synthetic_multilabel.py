"""The embedded multi-label zero-shot benchmarks ``synthetic-multilabel`` and ``synthetic-multilabel-tiny``.

Every image shows 2-4 objects (tiny: 2-3), one per quadrant of the image (so
objects never overlap), on the cluttered background of the single-label
synthetic data (:mod:`zslbench.data.synthetic`, whose drawing code is reused).
An object's **label** is a colour and a shape, named like ``"red circle"``;
the fill pattern (solid, striped, dotted) is a nuisance drawn at random. An
image carries each label at most once.

Some labels are unseen; every colour and every shape still occurs among the
seen labels, so a label's word vector (the average of its words' vectors, from
the configured text encoder) lets a model transfer to unseen combinations.
``trainval`` images hold seen-label objects only; every ``test`` image holds at
least one unseen-label object, the others drawn from all labels. Annotations
are complete (+1 present, -1 absent), in every column.

The label word vectors are the dataset's ``class_attributes`` (L, D), L2
normalised, computed at load time with ``data.text_encoder`` (cached by
:mod:`zslbench.models.text_encoders`); ``attribute_names`` name their dimensions.
Object masks are stored: ``masks`` (N, H, W) bool marks every object pixel,
``meta["object_map"]`` (N, H, W) uint8 the object slot (1..4, 0 = background)
and ``meta["object_labels"]`` (N, 4) the label of each slot (-1 = no object).

Pixels are deterministic in (preset, ``data.synthetic_seed``,
:data:`GENERATOR_VERSION`) and cached as one HDF5 file under
``paths.cache_dir("synthetic")``, written atomically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data import h5cache
from zslbench.data import synthetic as single
from zslbench.data.dataset import MULTI_LABEL, ArrayImages, ZSLDataset
from zslbench.errors import UsageError

log = logging.getLogger(__name__)

#: Bumped whenever the drawn pixels, labels or splits change; part of the cache file name.
GENERATOR_VERSION = 1

#: Images drawn per vectorised batch (each batch has its own random stream).
_BATCH_IMAGES = 128

#: Objects sit in the four quadrants of the image, so at most four per image.
MAX_OBJECTS = 4


@dataclass(frozen=True)
class MultiLabelPreset:
    """The recipe of one multi-label synthetic benchmark; labels are all colour x shape pairs."""

    name: str
    image_size: int
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    num_unseen: int
    trainval_images: int
    test_images: int
    objects_per_image: tuple[int, int] = (2, 4)  # inclusive range
    object_radius_range: tuple[float, float] = (0.09, 0.13)  # in units of image_size
    max_distractors: int = 3
    max_rotation_deg: float = 12.0
    top_k: tuple[int, ...] = (3, 5)
    description: str = ""

    @property
    def num_labels(self) -> int:
        return len(self.shapes) * len(self.colours)

    @property
    def num_images(self) -> int:
        return self.trainval_images + self.test_images


MULTILABEL_PRESETS: dict[str, MultiLabelPreset] = {
    "synthetic-multilabel": MultiLabelPreset(
        name="synthetic-multilabel",
        image_size=64,
        shapes=single.SHAPES,
        colours=tuple(single.COLOUR_RGB),
        num_unseen=10,
        trainval_images=3000,
        test_images=1000,
        description="36 colour-shape labels (10 unseen), 2-4 objects per image, 3000 trainval + 1000 test, 64x64",
    ),
    "synthetic-multilabel-tiny": MultiLabelPreset(
        name="synthetic-multilabel-tiny",
        image_size=32,
        shapes=("circle", "square", "triangle", "cross"),
        colours=("red", "green", "blue", "yellow"),
        num_unseen=6,
        trainval_images=192,
        test_images=64,
        objects_per_image=(2, 3),
        object_radius_range=(0.12, 0.16),
        max_distractors=2,
        description="16 colour-shape labels (6 unseen), 2-3 objects per image, 192 trainval + 64 test, 32x32; for tests",
    ),
}


@dataclass
class MultiLabelArrays:
    """Everything :func:`generate` draws."""

    pixels: np.ndarray  # (N, H, W, 3) uint8
    object_map: np.ndarray  # (N, H, W) uint8: object slot 1..4, 0 = background
    object_labels: np.ndarray  # (N, MAX_OBJECTS) int16 label id per slot, -1 = empty slot
    labels: np.ndarray  # (N, L) int8 +1 / -1
    unseen_labels: np.ndarray  # sorted label ids
    splits: dict[str, np.ndarray]  # trainval / test image indices


SPLIT_NAMES = ("trainval", "test")


# --------------------------------------------------------------------------- labels


def label_values(preset: MultiLabelPreset) -> np.ndarray:
    """(L, 2) (shape, colour) value index per label; label ids enumerate shape-major."""
    return np.indices((len(preset.shapes), len(preset.colours))).reshape(2, -1).T.astype(np.int64)


def label_names(preset: MultiLabelPreset) -> list[str]:
    """Names like ``"red circle"``: the words a text encoder averages into the label's vector."""
    return [f"{preset.colours[c]} {preset.shapes[s]}" for s, c in label_values(preset)]


def _choose_unseen(preset: MultiLabelPreset, seed: int) -> np.ndarray:
    """Unseen labels such that the seen ones still cover every shape and colour."""
    rng = np.random.default_rng([seed, 0])
    return single._hold_out_covering(label_values(preset), np.arange(preset.num_labels), preset.num_unseen, rng)


def _draw_object_labels(preset: MultiLabelPreset, count: int, seen: np.ndarray, unseen: np.ndarray, test: bool,
                        rng: np.random.Generator) -> np.ndarray:
    """(count, MAX_OBJECTS) distinct label ids per image, -1 in the unused slots.

    Train images draw from the seen labels; test images put one unseen label
    first and draw the rest from all labels (excluding it).
    """
    low, high = preset.objects_per_image
    per_image = rng.integers(low, high + 1, count)
    if test:
        first = unseen[rng.integers(0, len(unseen), count)]
        keys = rng.random((count, preset.num_labels))
        keys[np.arange(count), first] = np.inf  # never drawn twice
        rest = np.argsort(keys, axis=1)[:, :MAX_OBJECTS - 1]
        chosen = np.concatenate([first[:, None], rest], axis=1)
    else:
        chosen = seen[np.argsort(rng.random((count, len(seen))), axis=1)[:, :MAX_OBJECTS]]
    chosen = chosen.astype(np.int16)
    chosen[np.arange(MAX_OBJECTS)[None, :] >= per_image[:, None]] = -1
    return chosen


def annotation_matrix(object_labels: np.ndarray, num_labels: int) -> np.ndarray:
    """(N, L) int8: +1 for each label among an image's objects, -1 otherwise."""
    labels = np.full((len(object_labels), num_labels), -1, dtype=np.int8)
    rows, slots = np.nonzero(object_labels >= 0)
    labels[rows, object_labels[rows, slots]] = 1
    return labels


# --------------------------------------------------------------------------- drawing


def _draw_batch(preset: MultiLabelPreset, object_labels: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw images with the objects ``object_labels`` (B, MAX_OBJECTS); returns pixels and the object map."""
    n, size = len(object_labels), preset.image_size
    canvas = single._background(n, size, rng)
    single._add_distractors(canvas, preset.max_distractors, rng)
    values = label_values(preset)
    palette = np.array([single.COLOUR_RGB[c] for c in preset.colours], dtype=np.float32)
    quadrant = np.argsort(rng.random((n, MAX_OBJECTS)), axis=1)  # slot -> quadrant, a permutation per image
    half = size / 2.0
    coords = np.arange(size, dtype=np.float32) + 0.5
    object_map = np.zeros((n, size, size), dtype=np.uint8)
    lo, hi = preset.object_radius_range
    for slot in range(MAX_OBJECTS):  # a handful of slots; each slot is drawn for the whole batch at once
        active = np.flatnonzero(object_labels[:, slot] >= 0)
        if active.size == 0:
            continue
        m = active.size
        shape_idx, colour_idx = values[object_labels[active, slot]].T
        radius = (rng.uniform(lo, hi, m) * size).astype(np.float32)
        margin = single._SHAPE_EXTENT * radius + 1.0
        cell = quadrant[active, slot]
        origin = np.stack([(cell % 2) * half, (cell // 2) * half]).astype(np.float32)  # (2, m) x, y
        centre = origin + margin + rng.uniform(0, 1, (2, m)).astype(np.float32) * np.maximum(half - 2 * margin, 0)
        angle = np.deg2rad(rng.uniform(-preset.max_rotation_deg, preset.max_rotation_deg, m)).astype(np.float32)
        dx = coords[None, None, :] - centre[0][:, None, None]
        dy = coords[None, :, None] - centre[1][:, None, None]
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        u, v = cos * dx + sin * dy, cos * dy - sin * dx
        r = radius[:, None, None]
        distance = np.empty((m, size, size), dtype=np.float32)
        for s, shape in enumerate(preset.shapes):
            idx = np.flatnonzero(shape_idx == s)
            if idx.size:
                distance[idx] = single._shape_distance(shape, u[idx], v[idx], r[idx])
        alpha = np.clip(0.5 - distance, 0.0, 1.0)
        brightness = rng.uniform(0.88, 1.08, (m, 1)).astype(np.float32)
        colour = np.clip(palette[colour_idx] * brightness, 0, 1)[:, :, None, None]
        pattern_idx = rng.integers(0, len(single.PATTERNS), m)  # nuisance: not part of the label
        shade = np.ones((m, size, size), dtype=np.float32)
        dx_full, dy_full = np.broadcast_to(dx, u.shape), np.broadcast_to(dy, u.shape)
        for p, pattern in enumerate(single.PATTERNS):
            idx = np.flatnonzero(pattern_idx == p)
            if idx.size:
                dark = single._pattern_darkness(pattern, dx_full[idx], dy_full[idx], size, rng)
                if dark is not None:
                    shade[idx] = 1 - 0.68 * dark
        target = colour * shade[:, None] - canvas[active]
        canvas[active] += target * alpha[:, None]
        object_map[active] = np.where(distance <= 0, np.uint8(slot + 1), object_map[active])
    pixels = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return pixels, object_map


def generate(preset: MultiLabelPreset, seed: int, workers: int | None = None) -> MultiLabelArrays:
    """Draw a whole multi-label benchmark deterministically from ``seed`` (pure: no I/O).

    Labels come from one stream, each batch of pixels from its own stream, so
    the result does not depend on ``workers`` (threads; default up to 4).
    """
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    unseen = _choose_unseen(preset, seed)
    seen = np.setdiff1d(np.arange(preset.num_labels), unseen)
    label_rng = np.random.default_rng([seed, 2])
    object_labels = np.concatenate([
        _draw_object_labels(preset, preset.trainval_images, seen, unseen, test=False, rng=label_rng),
        _draw_object_labels(preset, preset.test_images, seen, unseen, test=True, rng=label_rng),
    ])
    splits = {"trainval": np.arange(preset.trainval_images, dtype=np.int64),
              "test": np.arange(preset.trainval_images, preset.num_images, dtype=np.int64)}
    size, total = preset.image_size, preset.num_images
    pixels = np.empty((total, size, size, 3), dtype=np.uint8)
    object_map = np.empty((total, size, size), dtype=np.uint8)

    def draw(batch: int, rows: slice) -> None:
        rng = np.random.default_rng([seed, 3, batch])
        pixels[rows], object_map[rows] = _draw_batch(preset, object_labels[rows], rng)

    single.draw_in_batches(draw, total, _BATCH_IMAGES, workers)
    return MultiLabelArrays(pixels=pixels, object_map=object_map, object_labels=object_labels,
                            labels=annotation_matrix(object_labels, preset.num_labels), unseen_labels=unseen,
                            splits=splits)


# --------------------------------------------------------------------------- cache


def cache_path(preset: MultiLabelPreset, seed: int) -> Path:
    """The HDF5 cache file of (preset, seed) for the current generator version."""
    return h5cache.preset_cache_path(preset, seed, GENERATOR_VERSION)


#: What a cache file stores of :class:`MultiLabelArrays`.
_CACHE_LAYOUT = h5cache.CacheLayout(arrays=("pixels", "object_map", "object_labels", "labels", "unseen_labels"),
                                    split_names=SPLIT_NAMES, compress_lzf=frozenset({"object_map"}))


def _cache_attrs(preset: MultiLabelPreset, seed: int) -> dict[str, object]:
    """The attributes a cache file of (preset, seed) carries and must match on reading."""
    return h5cache.preset_cache_attrs(preset, seed, GENERATOR_VERSION, num_labels=preset.num_labels)


def _write_cache(path: Path, arrays: MultiLabelArrays, preset: MultiLabelPreset, seed: int) -> None:
    """Write atomically: a unique temporary file in the same folder, then ``os.replace``."""
    h5cache.write_record(path, _CACHE_LAYOUT, arrays, _cache_attrs(preset, seed))


def _shapes_ok(arrays: MultiLabelArrays, preset: MultiLabelPreset) -> bool:
    """Whether cached arrays have the shapes ``preset`` implies."""
    n, size = preset.num_images, preset.image_size
    return (arrays.pixels.shape == (n, size, size, 3) and arrays.object_map.shape == (n, size, size)
            and arrays.labels.shape == (n, preset.num_labels) and arrays.object_labels.shape == (n, MAX_OBJECTS)
            and len(arrays.unseen_labels) == preset.num_unseen)


def _read_cache(path: Path, preset: MultiLabelPreset, seed: int) -> MultiLabelArrays | None:
    """The cached arrays, or None when the file is unreadable or stale."""
    return h5cache.read_record(path, _CACHE_LAYOUT, MultiLabelArrays, _cache_attrs(preset, seed), log,
                               shapes_ok=lambda arrays: _shapes_ok(arrays, preset))


# --------------------------------------------------------------------------- label vectors


def label_word_vectors(dataset_name: str, names: list[str], data_cfg: Any) -> np.ndarray:
    """L2-normalised word vectors (L, D) of label names from ``data_cfg.text_encoder`` (cached on disk).

    A multi-word name is the average of its words' vectors (see
    :mod:`zslbench.models.text_encoders`); a name without any known word keeps a
    zero vector (and the encoder warns).
    """
    from zslbench.data.multilabel_files import encoder_label_vectors

    return encoder_label_vectors(dataset_name, names, data_cfg)


# --------------------------------------------------------------------------- public loading


def get_preset(name: str) -> MultiLabelPreset:
    """The preset called ``name``; an unknown name is a usage error with suggestions."""
    return single.preset_named(name, MULTILABEL_PRESETS, "multi-label synthetic")


def build_dataset(preset: MultiLabelPreset, seed: int, arrays: MultiLabelArrays, label_vectors: np.ndarray,
                  encoder: str) -> ZSLDataset:
    """Wrap generated (or cached) arrays and label vectors as a multi-label :class:`ZSLDataset`."""
    unseen = np.asarray(arrays.unseen_labels, dtype=np.int64)
    dataset = ZSLDataset(
        name=preset.name,
        class_names=label_names(preset),
        attribute_names=[f"{encoder}[{i}]" for i in range(label_vectors.shape[1])],
        class_attributes=label_vectors,
        labels=np.asarray(arrays.labels, dtype=np.int8),
        splits={k: np.asarray(v, dtype=np.int64) for k, v in arrays.splits.items()},
        seen_classes=np.setdiff1d(np.arange(preset.num_labels), unseen),
        unseen_classes=unseen,
        images=ArrayImages(arrays.pixels),
        masks=arrays.object_map > 0,
        task=MULTI_LABEL,
        meta={"preset": preset.name, "seed": seed, "generator_version": GENERATOR_VERSION,
              "image_size": preset.image_size, "recipe": "synthetic", "top_k": tuple(preset.top_k),
              "text_encoder": encoder, "label_vectors": f"text-encoder:{encoder}", "object_map": arrays.object_map, "object_labels": arrays.object_labels},
    )
    return h5cache.validated(dataset, preset.name, cache_path(preset, seed))


def load_arrays(preset: MultiLabelPreset, seed: int) -> MultiLabelArrays:
    """The arrays of (preset, seed): from the cache, or generated and cached (a read-only cache is tolerated)."""
    return h5cache.load_or_generate(
        cache_path(preset, seed), read=lambda path: _read_cache(path, preset, seed),
        generate=lambda: generate(preset, seed), write=lambda path, new: _write_cache(path, new, preset, seed), log=log)


def load_synthetic_multilabel(preset: str, data_cfg: Any) -> ZSLDataset:
    """Load multi-label preset ``preset`` for ``data_cfg.synthetic_seed`` with ``data_cfg.text_encoder`` vectors."""
    config = get_preset(preset)
    seed = int(getattr(data_cfg, "synthetic_seed", 0))
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    arrays = load_arrays(config, seed)
    encoder = getattr(data_cfg, "text_encoder", None) or "glove-6b-50d"
    vectors = label_word_vectors(config.name, label_names(config), data_cfg)
    return build_dataset(config, seed, arrays, vectors, encoder)
