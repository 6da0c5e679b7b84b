"""The embedded synthetic zero-shot benchmark: procedurally drawn shapes, built in seconds.

Every image shows one object whose class is a combination of attribute values:
a shape ("circle", "square", ...), a colour ("red", "blue", ...) and a fill
pattern ("solid", "striped", "dotted"). The object sits at a random position,
scale and small rotation on a cluttered background (low-frequency colour
texture, pixel noise) with soft-edged distractor blobs. Distractors are drawn
independently of the class, from a palette that includes the class colours, so
the class can only be read from the hard-edged, fully opaque object; that is
also what the per-image object masks mark.

Some attribute combinations are held out as unseen classes; every attribute
value still appears among the seen classes, so zero-shot transfer is possible.

Data are deterministic in (preset, seed, :data:`GENERATOR_VERSION`), generated
with vectorised numpy on first use and cached as one HDF5 file under
``paths.cache_dir("synthetic")`` (``$ZSLBENCH_CACHE`` overrides the location).

This module is longer than 500 lines because the generator is one recipe: the presets, the class
design, the drawing and the array cache change together and are versioned together
(``generator_version``); split, each part would need the others' internals.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, TypeVar

import numpy as np

from zslbench.data import h5cache
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.errors import UsageError
from zslbench.registry import DatasetSpec

log = logging.getLogger(__name__)

P = TypeVar("P")  # a preset type

#: Bumped whenever the drawn pixels or splits change; part of the cache file name.
GENERATOR_VERSION = 1

#: Images drawn per vectorised batch: large enough to amortise numpy overheads,
#: small enough for the (B, 3, H, W) float32 canvas to stay cache-friendly.
_BATCH_IMAGES = 128

#: RGB (0..1) of the class colours; distinct hues so a colour word maps to one look.
COLOUR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.10, 0.10),
    "green": (0.12, 0.68, 0.18),
    "blue": (0.12, 0.28, 0.92),
    "yellow": (0.96, 0.86, 0.08),
    "purple": (0.56, 0.16, 0.74),
    "orange": (1.00, 0.52, 0.04),
}

#: Distractor palette: the class colours plus others, so blob colours say nothing about the class.
_DISTRACTOR_RGB = np.array(
    [*COLOUR_RGB.values(), (0.55, 0.35, 0.18), (0.95, 0.55, 0.70), (0.20, 0.80, 0.85),
     (0.92, 0.92, 0.92), (0.08, 0.08, 0.08), (0.50, 0.50, 0.50)],
    dtype=np.float32,
)

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
PATTERNS = ("solid", "striped", "dotted")

#: Circumscribed radius of each shape relative to its size parameter ``r``
#: (keeps the whole object inside the image).
_SHAPE_EXTENT = 1.2


@dataclass(frozen=True)
class SyntheticPreset:
    """The recipe of one synthetic benchmark; classes are all shape x colour x pattern combinations."""

    name: str
    image_size: int
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    patterns: tuple[str, ...]
    num_unseen: int
    images_per_class: int
    test_seen_fraction: float = 0.2  # share of each seen class's images held out as test_seen
    val_class_fraction: float = 0.2  # share of seen classes that become GBU validation classes
    max_distractors: int = 4
    object_radius_range: tuple[float, float] = (0.16, 0.26)  # object size, in units of image_size
    max_rotation_deg: float = 12.0  # small, so a square never turns into a diamond
    description: str = ""

    @property
    def attribute_groups_named(self) -> dict[str, tuple[str, ...]]:
        return {"shape": self.shapes, "colour": self.colours, "pattern": self.patterns}

    @property
    def num_classes(self) -> int:
        return len(self.shapes) * len(self.colours) * len(self.patterns)

    @property
    def num_images(self) -> int:
        return self.num_classes * self.images_per_class


#: Version-1 presets. ``synthetic`` itself is now version 2 (:mod:`zslbench.data.synthetic_v2`);
#: the old benchmark stays loadable as ``synthetic-v1`` so stored runs stay comparable.
SYNTHETIC_PRESETS: dict[str, SyntheticPreset] = {
    "synthetic-v1": SyntheticPreset(
        name="synthetic-v1",
        image_size=64,
        shapes=SHAPES,
        colours=tuple(COLOUR_RGB),
        patterns=PATTERNS,
        num_unseen=28,
        images_per_class=60,
        description="108 classes (6 shapes x 6 colours x 3 patterns, 28 unseen), 60 images/class, 64x64",
    ),
    "synthetic-tiny": SyntheticPreset(
        name="synthetic-tiny",
        image_size=32,
        shapes=("circle", "square", "triangle", "cross"),
        colours=("red", "green", "blue"),
        patterns=("solid", "striped"),
        num_unseen=6,
        images_per_class=12,
        description=("v1 smoke test, every method scores at chance: 24 classes (4 shapes x 3 colours x "
                     "2 patterns, 6 unseen), 12 images/class, 32x32; for tests"),
    ),
}
SYNTHETIC_PRESETS["synthetic-tiny-v1"] = dataclasses.replace(SYNTHETIC_PRESETS["synthetic-tiny"], name="synthetic-tiny-v1")


@dataclass
class SyntheticArrays:
    """Everything :func:`generate` draws: pixels, masks, labels and the class/image splits."""

    pixels: np.ndarray  # (N, H, W, 3) uint8
    masks: np.ndarray  # (N, H, W) bool, True on object pixels
    labels: np.ndarray  # (N,) int64 class ids
    unseen_classes: np.ndarray  # sorted class ids
    val_classes: np.ndarray  # sorted class ids, a subset of the seen classes
    splits: dict[str, np.ndarray]  # trainval / test_seen / test_unseen image indices


SPLIT_NAMES = ("trainval", "test_seen", "test_unseen")


# --------------------------------------------------------------------------- classes


def class_values(preset: SyntheticPreset) -> np.ndarray:
    """(C, 3) value index of (shape, colour, pattern) per class; class ids enumerate shape-major."""
    sizes = (len(preset.shapes), len(preset.colours), len(preset.patterns))
    return np.indices(sizes).reshape(3, -1).T.astype(np.int64)


def class_names(preset: SyntheticPreset) -> list[str]:
    """Names like ``red_striped_circle`` (colour, pattern, shape: how it reads in English)."""
    return [
        f"{preset.colours[c]}_{preset.patterns[p]}_{preset.shapes[s]}" for s, c, p in class_values(preset)
    ]


def attribute_names(preset: SyntheticPreset) -> list[str]:
    """Attribute column names: the shape values, then colours, then patterns."""
    return [*preset.shapes, *preset.colours, *preset.patterns]


def attribute_groups(preset: SyntheticPreset) -> list[list[int]]:
    """Column indices of each attribute group (shape, colour, pattern)."""
    groups, start = [], 0
    for values in preset.attribute_groups_named.values():
        groups.append(list(range(start, start + len(values))))
        start += len(values)
    return groups


def class_attributes(preset: SyntheticPreset) -> np.ndarray:
    """(C, K) binary float32 matrix, one-hot within each attribute group."""
    values = class_values(preset)
    offsets = np.array([g[0] for g in attribute_groups(preset)])
    matrix = np.zeros((preset.num_classes, len(attribute_names(preset))), dtype=np.float32)
    rows = np.repeat(np.arange(preset.num_classes), 3)
    matrix[rows, (values + offsets).ravel()] = 1.0
    return matrix


def _hold_out_covering(values: np.ndarray, candidates: np.ndarray, n_held: int,
                       rng: np.random.Generator, tries: int = 500) -> np.ndarray:
    """Draw ``n_held`` of ``candidates`` so the rest still covers every attribute value of the candidates.

    Random draws are retried until the remaining classes cover all values; if
    that is impossible the draw with the best coverage is kept.
    """
    needed = sum(len(np.unique(values[candidates, g])) for g in range(values.shape[1]))
    best_held, best_cover = None, -1
    for _ in range(tries):
        perm = rng.permutation(candidates)
        held, kept = perm[:n_held], perm[n_held:]
        cover = sum(len(np.unique(values[kept, g])) for g in range(values.shape[1]))
        if cover > best_cover:
            best_held, best_cover = held, cover
        if cover == needed:
            break
    return np.sort(best_held)


def _image_splits(labels: np.ndarray, unseen: np.ndarray, test_seen_fraction: float, images_per_class: int,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per seen class, a random ``test_seen_fraction`` of its images is test_seen, the rest trainval."""
    order = np.lexsort((rng.random(len(labels)), labels))  # by class, random within class
    class_start = np.searchsorted(labels[order], labels[order], side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - class_start
    n_test = int(round(test_seen_fraction * images_per_class))
    is_unseen = np.isin(labels, unseen)
    return {
        "trainval": np.flatnonzero(~is_unseen & (rank >= n_test)),
        "test_seen": np.flatnonzero(~is_unseen & (rank < n_test)),
        "test_unseen": np.flatnonzero(is_unseen),
    }


# --------------------------------------------------------------------------- drawing


def _shape_distance(shape: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to the outline of ``shape``.

    ``u, v`` are object-centred, rotated coordinates (B, H, W) with v pointing
    down; ``r`` (B, 1, 1) is the size parameter. Sizes are tuned so all shapes
    cover a similar area and stay within ``_SHAPE_EXTENT * r`` of the centre.
    """
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        return np.sqrt(u * u + v * v) - r
    if shape == "square":
        return np.maximum(au, av) - 0.82 * r
    if shape == "diamond":
        return (au + av - 1.15 * r) * np.float32(1 / np.sqrt(2))
    if shape == "triangle":  # equilateral, apex up, centroid at the origin, circumradius 1.2 r
        s3 = np.float32(np.sqrt(3) / 2)
        return np.maximum(v, s3 * au - 0.5 * v) - 0.6 * r
    if shape == "cross":  # a plus sign: two bars of half-length r and half-width 0.36 r
        w = 0.36 * r
        return np.minimum(np.maximum(au - r, av - w), np.maximum(au - w, av - r))
    if shape == "star":  # five points, one pointing up; radial distance is scaled to ~perpendicular
        rho = np.sqrt(u * u + v * v)
        turn = (np.arctan2(v, u) + np.float32(np.pi / 2)) * np.float32(5 / (2 * np.pi))
        spike = np.abs(2 * (turn - np.floor(turn)) - 1)  # 1 at a point, 0 between points
        return (rho - 1.15 * r * (0.42 + 0.58 * spike)) * np.float32(0.6)
    raise ValueError(f"unknown shape {shape!r}")


def _pattern_darkness(pattern: str, dx: np.ndarray, dy: np.ndarray, size: int,
                      rng: np.random.Generator) -> np.ndarray | None:
    """Darkness (0..1) of the fill pattern at object-centred coordinates (B, H, W); None for solid."""
    n = dx.shape[0]
    if pattern == "solid":
        return None
    if pattern == "striped":
        period = (size / 10.0) * rng.uniform(0.9, 1.1, (n, 1, 1)).astype(np.float32)
        angle = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
        wave = np.sin((dx * np.cos(angle) + dy * np.sin(angle)) * (2 * np.pi / period) + phase)
        return np.clip(wave * 2.5 + 0.5, 0, 1)
    if pattern == "dotted":
        period = np.float32(size / 9.0)
        offset = rng.uniform(0, period, (2, n, 1, 1)).astype(np.float32)
        gx = np.mod(dx + offset[0], period) - period / 2
        gy = np.mod(dy + offset[1], period) - period / 2
        return np.clip(0.3 * period + 0.5 - np.sqrt(gx * gx + gy * gy), 0, 1)
    raise ValueError(f"unknown pattern {pattern!r}")


def _interp_matrix(size: int, knots: int) -> np.ndarray:
    """(size, knots) bilinear interpolation weights from a coarse grid to pixel centres."""
    pos = (np.arange(size) + 0.5) / size * (knots - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, knots - 2)
    frac = pos - lo
    m = np.zeros((size, knots), dtype=np.float32)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _background(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(B, 3, H, W) muted grey canvas with low-frequency colour texture and pixel noise."""
    knots = 6
    grey = rng.uniform(0.3, 0.7, (n, 1, 1, 1)).astype(np.float32)
    tint = rng.uniform(-0.06, 0.06, (n, 3, 1, 1)).astype(np.float32)
    coarse = rng.standard_normal((n, 3, knots, knots), dtype=np.float32) * np.float32(0.09)
    m = _interp_matrix(size, knots)
    texture = m @ coarse @ m.T  # (B, 3, H, W), smooth blotches
    # uniform pixel noise (std 0.03): several times cheaper to draw than Gaussian noise
    canvas = rng.random((n, 3, size, size), dtype=np.float32)
    canvas *= np.float32(0.1)
    canvas += texture
    canvas += grey + tint - np.float32(0.05)
    return canvas


def _add_distractors(canvas: np.ndarray, max_blobs: int, rng: np.random.Generator) -> None:
    """Blend 1..``max_blobs`` soft, semi-transparent elliptical blobs into ``canvas`` in place.

    Blobs are axis-aligned Gaussians (separable, so cheap), flattened at the top
    and capped at 75% opacity: never a hard-edged opaque patterned shape.
    """
    n, _, size, _ = canvas.shape
    coords = np.arange(size, dtype=np.float32) + 0.5
    count = rng.integers(1, max_blobs + 1, n)
    alpha = np.empty((n, 1, size, size), dtype=np.float32)
    blend = np.empty_like(canvas)  # reused buffers: this loop dominates without them
    for slot in range(max_blobs):
        centre = rng.uniform(0, size, (2, n, 1)).astype(np.float32)
        sigma = rng.uniform(0.05 * size, 0.12 * size, (2, n, 1)).astype(np.float32)
        opacity = rng.uniform(0.45, 0.75, (n, 1)).astype(np.float32) * (slot < count)[:, None]
        gx = np.exp(-0.5 * ((coords - centre[0]) / sigma[0]) ** 2) * 1.5  # (B, W)
        gy = np.exp(-0.5 * ((coords - centre[1]) / sigma[1]) ** 2)  # (B, H)
        np.multiply(gy[:, None, :, None], gx[:, None, None, :], out=alpha)
        np.minimum(alpha, opacity[:, :, None, None], out=alpha)  # flat top at full opacity
        colour = _DISTRACTOR_RGB[rng.integers(0, len(_DISTRACTOR_RGB), n)][:, :, None, None]
        np.subtract(colour, canvas, out=blend)
        blend *= alpha
        canvas += blend


def _draw_batch(preset: SyntheticPreset, values: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one batch of images; ``values`` (B, 3) are (shape, colour, pattern) indices.

    Returns pixels (B, H, W, 3) uint8 and masks (B, H, W) bool.
    """
    n, size = len(values), preset.image_size
    canvas = _background(n, size, rng)
    _add_distractors(canvas, preset.max_distractors, rng)

    lo, hi = preset.object_radius_range
    radius = (rng.uniform(lo, hi, n) * size).astype(np.float32)
    margin = _SHAPE_EXTENT * radius + 1.0
    centre = rng.uniform(0, 1, (2, n)).astype(np.float32) * (size - 2 * margin) + margin
    angle = np.deg2rad(rng.uniform(-preset.max_rotation_deg, preset.max_rotation_deg, n)).astype(np.float32)
    coords = np.arange(size, dtype=np.float32) + 0.5
    dx = coords[None, None, :] - centre[0][:, None, None]  # (B, 1, W)
    dy = coords[None, :, None] - centre[1][:, None, None]  # (B, H, 1)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, cos * dy - sin * dx  # (B, H, W) rotated object frame
    r = radius[:, None, None]

    distance = np.empty((n, size, size), dtype=np.float32)
    for s, shape in enumerate(preset.shapes):  # one vectorised pass per shape, not per image
        idx = np.flatnonzero(values[:, 0] == s)
        if len(idx):
            distance[idx] = _shape_distance(shape, u[idx], v[idx], r[idx])
    alpha = np.clip(0.5 - distance, 0.0, 1.0)  # one pixel of anti-aliasing
    masks = distance <= 0

    palette = np.array([COLOUR_RGB[c] for c in preset.colours], dtype=np.float32)
    brightness = rng.uniform(0.88, 1.08, (n, 1)).astype(np.float32)
    colour = np.clip(palette[values[:, 1]] * brightness, 0, 1)[:, :, None, None]  # (B, 3, 1, 1)
    shade = np.ones((n, size, size), dtype=np.float32)
    dx_full, dy_full = np.broadcast_to(dx, u.shape), np.broadcast_to(dy, u.shape)
    for p, pattern in enumerate(preset.patterns):
        idx = np.flatnonzero(values[:, 2] == p)
        if len(idx):
            dark = _pattern_darkness(pattern, dx_full[idx], dy_full[idx], size, rng)
            if dark is not None:
                shade[idx] = 1 - 0.68 * dark
    target = colour * shade[:, None]
    target -= canvas
    target *= alpha[:, None]
    canvas += target
    pixels = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return pixels, masks


def draw_in_batches(draw: Callable[[int, slice], None], total: int, batch_size: int,
                    workers: int | None = None) -> None:
    """Call ``draw(batch, rows)`` for each batch of ``batch_size`` consecutive rows of ``total``.

    Batches run in up to ``workers`` threads (numpy releases the GIL; default:
    up to 4 CPU cores). Each call must write only its own ``rows`` and draw
    from a random stream of its own (seeded with ``batch``), so the result
    does not depend on the number of threads.
    """
    num_batches = -(-total // batch_size)
    batches = [(b, slice(b * batch_size, min((b + 1) * batch_size, total))) for b in range(num_batches)]
    workers = min(workers or os.cpu_count() or 1, 4, num_batches)
    if workers <= 1:
        for batch, rows in batches:
            draw(batch, rows)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda item: draw(*item), batches))  # list() re-raises a worker's exception


def generate(preset: SyntheticPreset, seed: int, workers: int | None = None) -> SyntheticArrays:
    """Draw a whole synthetic benchmark deterministically from ``seed`` (pure: no I/O).

    Class splits come from one random stream, each batch of images from its
    own stream (``[seed, 1, batch]``), so the pixels depend only on the preset,
    the seed and :data:`GENERATOR_VERSION`, not on ``workers`` (threads drawing
    batches in parallel; numpy releases the GIL; default: up to 4 CPU cores).
    """
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    split_rng = np.random.default_rng([seed, 0])
    values = class_values(preset)
    all_classes = np.arange(preset.num_classes)
    unseen = _hold_out_covering(values, all_classes, preset.num_unseen, split_rng)
    seen = np.setdiff1d(all_classes, unseen)
    n_val = max(1, int(round(preset.val_class_fraction * len(seen))))
    val = _hold_out_covering(values, seen, n_val, split_rng)
    labels = np.repeat(all_classes, preset.images_per_class)
    splits = _image_splits(labels, unseen, preset.test_seen_fraction, preset.images_per_class, split_rng)

    size = preset.image_size
    pixels = np.empty((len(labels), size, size, 3), dtype=np.uint8)
    masks = np.empty((len(labels), size, size), dtype=bool)

    def draw(batch: int, rows: slice) -> None:
        rng = np.random.default_rng([seed, 1, batch])
        pixels[rows], masks[rows] = _draw_batch(preset, values[labels[rows]], rng)

    draw_in_batches(draw, len(labels), _BATCH_IMAGES, workers)
    return SyntheticArrays(pixels=pixels, masks=masks, labels=labels, unseen_classes=unseen,
                           val_classes=val, splits=splits)


# --------------------------------------------------------------------------- cache


def cache_path(preset: SyntheticPreset, seed: int) -> Path:
    """The HDF5 cache file of (preset, seed) for the current generator version."""
    return h5cache.preset_cache_path(preset, seed, GENERATOR_VERSION)


#: What a cache file stores of :class:`SyntheticArrays`.
_CACHE_LAYOUT = h5cache.CacheLayout(arrays=("pixels", "masks", "labels", "unseen_classes", "val_classes"),
                                    split_names=SPLIT_NAMES, compress_lzf=frozenset({"masks"}))


def _cache_attrs(preset: SyntheticPreset, seed: int) -> dict[str, object]:
    """The attributes a cache file of (preset, seed) carries and must match on reading."""
    return h5cache.preset_cache_attrs(preset, seed, GENERATOR_VERSION)


def _write_cache(path: Path, arrays: SyntheticArrays, preset: SyntheticPreset, seed: int) -> None:
    """Write atomically: a unique temp file in the same folder, then ``os.replace``."""
    h5cache.write_record(path, _CACHE_LAYOUT, arrays, _cache_attrs(preset, seed))


def _shapes_ok(arrays: SyntheticArrays, preset: SyntheticPreset) -> bool:
    """Whether cached arrays have the shapes and sizes ``preset`` implies."""
    n, size = preset.num_images, preset.image_size
    return (
        arrays.pixels.shape == (n, size, size, 3) and arrays.pixels.dtype == np.uint8
        and arrays.masks.shape == (n, size, size) and arrays.labels.shape == (n,)
        and len(arrays.unseen_classes) == preset.num_unseen
        and sum(len(v) for v in arrays.splits.values()) == n
    )


def _read_cache(path: Path, preset: SyntheticPreset, seed: int) -> SyntheticArrays | None:
    """The cached arrays, or None when the file is unreadable or does not match (preset, seed, version)."""
    return h5cache.read_record(path, _CACHE_LAYOUT, SyntheticArrays, _cache_attrs(preset, seed), log,
                               shapes_ok=lambda arrays: _shapes_ok(arrays, preset))


# --------------------------------------------------------------------------- public loading


def preset_named(name: str, presets: Mapping[str, P], kind: str) -> P:
    """``presets[name]``; an unknown name is a usage error ("unknown <kind> preset") with suggestions."""
    if name not in presets:
        close = difflib.get_close_matches(name, list(presets), n=2)
        hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else (
            "known presets: " + ", ".join(presets))
        raise UsageError(f"unknown {kind} preset {name!r}", hint)
    return presets[name]


def get_preset(name: str) -> SyntheticPreset:
    """The preset called ``name``; an unknown name is a usage error with suggestions."""
    return preset_named(name, SYNTHETIC_PRESETS, "synthetic")


def build_dataset(preset: SyntheticPreset, seed: int, arrays: SyntheticArrays) -> ZSLDataset:
    """Wrap generated (or cached) arrays as a :class:`ZSLDataset`."""
    seen = np.setdiff1d(np.arange(preset.num_classes), arrays.unseen_classes)
    dataset = ZSLDataset(
        name=preset.name,
        class_names=class_names(preset),
        attribute_names=attribute_names(preset),
        class_attributes=class_attributes(preset),
        labels=np.asarray(arrays.labels, dtype=np.int64),
        splits={k: np.asarray(v, dtype=np.int64) for k, v in arrays.splits.items()},
        seen_classes=seen,
        unseen_classes=np.asarray(arrays.unseen_classes, dtype=np.int64),
        images=ArrayImages(arrays.pixels),
        train_classes=np.setdiff1d(seen, arrays.val_classes),
        val_classes=np.asarray(arrays.val_classes, dtype=np.int64),
        masks=arrays.masks,
        attribute_groups=attribute_groups(preset),
        meta={"preset": preset.name, "seed": seed, "generator_version": GENERATOR_VERSION,
              "image_size": preset.image_size, "recipe": "synthetic"},
    )
    return h5cache.validated(dataset, preset.name, cache_path(preset, seed))


def load_synthetic(preset: str, seed: int = 0) -> ZSLDataset:
    """Load synthetic benchmark ``preset`` for ``seed``: from the cache, or generated and cached.

    A missing, corrupt or stale cache file is regenerated; when the cache
    cannot be written (read-only folder) the data are still returned.
    """
    config = get_preset(preset)
    if seed < 0:
        raise UsageError(f"synthetic seed must be >= 0, got {seed}", "set data.synthetic_seed to 0 or more")
    arrays = h5cache.load_or_generate(
        cache_path(config, seed), read=lambda path: _read_cache(path, config, seed),
        generate=lambda: generate(config, seed), write=lambda path, new: _write_cache(path, new, config, seed), log=log)
    return build_dataset(config, seed, arrays)


def dataset_specs() -> list[DatasetSpec]:
    """Dataset registrations for the version-1 presets (the core plugin registers these)."""
    return [
        DatasetSpec(
            name=name,
            load=lambda data_cfg, _name=name: load_synthetic(_name, data_cfg.synthetic_seed),
            task="single-label",
            default_image_size=preset.image_size,
            needs_download=False,
            description=f"embedded synthetic shapes benchmark: {preset.description}",
            data_version=GENERATOR_VERSION,
        )
        for name, preset in SYNTHETIC_PRESETS.items()
    ]
