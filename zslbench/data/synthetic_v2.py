"""Synthetic benchmark, version 2: two-part objects among distractors from the same vocabulary.

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
  (:func:`zslbench.diagnostics.family_blind_ceilings` computes it exactly from
  the class-attribute matrix). The remaining classes are seen; every value
  still appears among them, so zero-shot transfer is possible.
* Per-pixel segmentation (0 background, 1 body, 2 head, 3 distractor); the
  dataset's ``masks`` are body + head.

Elements are rendered in small windows (not over the full canvas), vectorised
over a batch, so generation stays fast. Deterministic in (preset, seed,
:data:`GENERATOR_VERSION`); cached as HDF5 under ``paths.cache_dir("synthetic")``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zslbench.data import h5cache
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.data.synthetic import _hold_out_covering, _image_splits, _interp_matrix, draw_in_batches
from zslbench.errors import DataError, UsageError
from zslbench.paths import cache_dir

log = logging.getLogger(__name__)

#: Bumped whenever drawn pixels or splits change; part of the cache file name.
GENERATOR_VERSION = 2

_BATCH_IMAGES = 128

#: Colours of heads, object bodies and distractors (RGB, 0..1).
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.10, 0.10),
    "green": (0.12, 0.68, 0.18),
    "blue": (0.12, 0.28, 0.92),
    "yellow": (0.96, 0.86, 0.08),
    "purple": (0.56, 0.16, 0.74),
    "orange": (1.00, 0.52, 0.04),
}
_PALETTE_RGB = np.array(list(PALETTE.values()), dtype=np.float32)

BODY_SHAPES = ("circle", "square", "triangle", "diamond")
PATTERNS = ("solid", "striped", "dotted")
HEAD_SHAPES = ("disc", "block")

#: Distance from a body's centre to its top edge, in units of its size parameter r.
_TOP_EXTENT = {"circle": 1.0, "square": 0.82, "triangle": 1.2, "diamond": 1.15}

#: Segmentation labels.
BACKGROUND, BODY, HEAD, DISTRACTOR = 0, 1, 2, 3


@dataclass(frozen=True)
class SyntheticV2Preset:
    """The recipe of one version-2 benchmark.

    Body values are (shape, pattern) pairs, head values (colour, head shape)
    pairs; the first ``len(body_values)`` x ``len(head_values)`` grid is the
    class set, of which a ``unseen_block`` x ``unseen_block`` block is unseen.
    """

    name: str
    image_size: int
    body_values: tuple[tuple[str, str], ...]
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
    description: str = ""

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


PRESETS: dict[str, SyntheticV2Preset] = {
    "synthetic": SyntheticV2Preset(
        name="synthetic", image_size=96,
        body_values=_grid(BODY_SHAPES, PATTERNS), head_values=_grid(tuple(PALETTE), HEAD_SHAPES),
        unseen_block=10, images_per_seen_class=40, images_per_unseen_class=10,
        description=("v2: 144 classes = 12 body types (shape x pattern) x 12 heads (colour x shape), "
                     "a 10x10 block of 100 unseen classes; two-part objects among loose parts; 96x96"),
    ),
    "synthetic-v2-tiny": SyntheticV2Preset(
        name="synthetic-v2-tiny", image_size=48,
        body_values=_grid(("circle", "square"), ("solid", "striped")),
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


def _value_name(value: tuple[str, str]) -> str:
    return f"{value[0]}_{value[1]}"


def attribute_names(preset: SyntheticV2Preset) -> list[str]:
    """``body_<shape>_<pattern>`` columns, then ``head_<colour>_<shape>`` columns."""
    return ([f"body_{_value_name(v)}" for v in preset.body_values]
            + [f"head_{_value_name(v)}" for v in preset.head_values])


def attribute_groups(preset: SyntheticV2Preset) -> list[list[int]]:
    """The two families: body columns, head columns."""
    nb = len(preset.body_values)
    return [list(range(nb)), list(range(nb, nb + len(preset.head_values)))]


def class_names(preset: SyntheticV2Preset) -> list[str]:
    return [f"{_value_name(preset.body_values[b])}_body_{_value_name(preset.head_values[h])}_head"
            for b, h in class_values(preset)]


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


# --------------------------------------------------------------------------- drawing


def _body_distance(shape: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) to a body outline; v points down."""
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        return np.sqrt(u * u + v * v) - r
    if shape == "square":
        return np.maximum(au, av) - 0.82 * r
    if shape == "diamond":
        return (au + av - 1.15 * r) * np.float32(1 / np.sqrt(2))
    if shape == "triangle":  # apex up, circumradius 1.2 r
        return np.maximum(v, np.float32(np.sqrt(3) / 2) * au - 0.5 * v) - 0.6 * r
    raise ValueError(f"unknown body shape {shape!r}")


def _head_distance(shape: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    if shape == "disc":
        return np.sqrt(u * u + v * v) - r
    if shape == "block":
        return np.maximum(np.abs(u), np.abs(v)) - 0.85 * r
    raise ValueError(f"unknown head shape {shape!r}")


def _pattern_shade(pattern: str, u: np.ndarray, v: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray | None:
    """Multiplicative shade (B, w, w) of a fill pattern, or None for solid."""
    n = u.shape[0]
    if pattern == "solid":
        return None
    if pattern == "striped":
        period = np.float32(size / 14.0)
        angle = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
        wave = np.sin((u * np.cos(angle) + v * np.sin(angle)) * (2 * np.pi / period))
        dark = np.clip(wave * 2.5 + 0.5, 0, 1)
    elif pattern == "dotted":
        period = np.float32(size / 13.0)
        gx = np.mod(u, period) - period / 2
        gy = np.mod(v, period) - period / 2
        dark = np.clip(0.32 * period + 0.5 - np.sqrt(gx * gx + gy * gy), 0, 1)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return 1 - 0.7 * dark


def _background(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(B, H, W, 3) grey canvas with low-frequency colour texture and pixel noise."""
    knots = 6
    grey = rng.uniform(0.35, 0.65, (n, 1, 1, 1)).astype(np.float32)
    coarse = rng.standard_normal((n, 3, knots, knots), dtype=np.float32) * np.float32(0.07)
    m = _interp_matrix(size, knots)
    texture = (m @ coarse @ m.T).transpose(0, 2, 3, 1)  # (B, H, W, 3)
    canvas = rng.random((n, size, size, 1), dtype=np.float32)  # grey pixel noise: a third of the draws
    canvas *= np.float32(0.08)
    canvas = np.add(canvas, texture, order="C")  # C order: painting writes through flat views
    canvas += grey - np.float32(0.04)
    return canvas


@dataclass
class _Elements:
    """One kind of element for every image of a batch (inactive ones have ``active`` False)."""

    kind: str  # "body" or "head"
    shape: np.ndarray  # (B,) index into BODY_SHAPES or HEAD_SHAPES
    pattern: np.ndarray  # (B,) index into PATTERNS (bodies only)
    colour: np.ndarray  # (B, 3) RGB
    centre: np.ndarray  # (2, B) x, y in pixels
    radius: np.ndarray  # (B,)
    active: np.ndarray  # (B,) bool
    label: int  # segmentation label written where the element is drawn


def _paint(canvas: np.ndarray, seg: np.ndarray, el: _Elements, window: int, rng: np.random.Generator) -> None:
    """Composite the active elements into ``canvas`` (B, H, W, 3) and ``seg`` (B, H, W) in place.

    Each element is rendered in a ``window`` x ``window`` box around its centre
    and gathered / scattered through flat pixel indices (much cheaper than
    full-canvas rendering or three-array fancy indexing).
    """
    n, size = canvas.shape[0], canvas.shape[1]
    active = np.flatnonzero(el.active)
    if not len(active):
        return
    m = len(active)
    cx, cy = el.centre[0][active], el.centre[1][active]
    x0 = np.clip(np.round(cx).astype(np.int64) - window // 2, 0, size - window)
    y0 = np.clip(np.round(cy).astype(np.int64) - window // 2, 0, size - window)
    offs = np.arange(window)
    rows = (y0[:, None] + offs)[:, :, None]  # (m, w, 1)
    cols = (x0[:, None] + offs)[:, None, :]  # (m, 1, w)
    flat = (active[:, None, None] * size + rows) * size + cols  # (m, w, w) into (B*H*W)
    u = np.broadcast_to((cols + 0.5 - cx[:, None, None]).astype(np.float32), (m, window, window))
    v = np.broadcast_to((rows + 0.5 - cy[:, None, None]).astype(np.float32), (m, window, window))
    r = el.radius[active][:, None, None].astype(np.float32)
    shapes, patterns = el.shape[active], el.pattern[active]
    distance = np.empty((m, window, window), dtype=np.float32)
    names = BODY_SHAPES if el.kind == "body" else HEAD_SHAPES
    measure = _body_distance if el.kind == "body" else _head_distance
    for s, shape in enumerate(names):
        idx = np.flatnonzero(shapes == s)
        if len(idx):
            distance[idx] = measure(shape, u[idx], v[idx], r[idx])
    covered = distance < 0.5  # only pixels the element touches are read and written
    alpha = np.clip(0.5 - distance[covered], 0.0, 1.0)[:, None]  # hard edge, one pixel of anti-aliasing
    colour = np.broadcast_to(el.colour[active][:, None, None, :], (m, window, window, 3))[covered]
    if el.kind == "body":
        shade = np.ones((m, window, window), dtype=np.float32)
        for p, pattern in enumerate(PATTERNS):
            idx = np.flatnonzero(patterns == p)
            if len(idx):
                pattern_shade = _pattern_shade(pattern, u[idx], v[idx], size, rng)
                if pattern_shade is not None:
                    shade[idx] = pattern_shade
        colour = colour * shade[covered][:, None]
    pixels = canvas.reshape(-1, 3)  # a view: canvas is C-contiguous
    where = flat[covered]
    old = pixels[where]
    pixels[where] = old + (colour - old) * alpha
    seg.reshape(-1)[flat[distance <= 0]] = el.label


def _windows(preset: SyntheticV2Preset) -> tuple[int, int]:
    size = preset.image_size
    body = int(np.ceil(2 * 1.25 * preset.body_radius_range[1] * size)) + 2
    head = int(np.ceil(2 * preset.head_radius_range[1] * size)) + 3
    return min(body, size), min(head, size)


def _draw_batch(preset: SyntheticV2Preset, values: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (B, H, W, 3) uint8 and segmentation (B, H, W) uint8 of one batch; ``values`` (B, 2)."""
    n, size = len(values), preset.image_size
    canvas = _background(n, size, rng)
    seg = np.zeros((n, size, size), dtype=np.uint8)
    body_window, head_window = _windows(preset)
    lo, hi = preset.body_radius_range
    hlo, hhi = preset.head_radius_range
    palette = _PALETTE_RGB
    head_colour_ids = np.array([list(PALETTE).index(c) for c, _ in preset.head_values])
    head_shape_ids = np.array([HEAD_SHAPES.index(s) for _, s in preset.head_values])
    body_shape_ids = np.array([BODY_SHAPES.index(s) for s, _ in preset.body_values])
    body_pattern_ids = np.array([PATTERNS.index(p) for _, p in preset.body_values])

    def jitter(colours: np.ndarray) -> np.ndarray:
        return np.clip(colours * rng.uniform(0.9, 1.08, (len(colours), 1)), 0, 1).astype(np.float32)

    # distractors first, so the object is drawn on top of any overlap
    scale_lo, scale_hi = preset.loose_body_scale
    n_bodies = rng.integers(preset.loose_bodies[0], preset.loose_bodies[1] + 1, n)
    for slot in range(preset.loose_bodies[1]):
        radius = rng.uniform(lo * scale_lo, hi * scale_hi, n) * size
        margin = 1.25 * radius + 1
        _paint(canvas, seg, _Elements(
            "body", rng.integers(0, len(BODY_SHAPES), n), rng.integers(0, len(PATTERNS), n),
            jitter(palette[rng.integers(0, len(palette), n)]),
            rng.uniform(0, 1, (2, n)) * (size - 2 * margin) + margin, radius, slot < n_bodies, DISTRACTOR),
            body_window, rng)
    n_heads = rng.integers(preset.loose_heads[0], preset.loose_heads[1] + 1, n)
    for slot in range(preset.loose_heads[1]):
        radius = rng.uniform(hlo, hhi, n) * size
        margin = radius + 1
        _paint(canvas, seg, _Elements(
            "head", rng.integers(0, len(HEAD_SHAPES), n), np.zeros(n, np.int64),
            jitter(palette[rng.integers(0, len(palette), n)]),
            rng.uniform(0, 1, (2, n)) * (size - 2 * margin) + margin, radius, slot < n_heads, DISTRACTOR),
            head_window, rng)

    # the object: body, then its head touching the body's top edge
    body_value, head_value = values[:, 0], values[:, 1]
    radius = rng.uniform(lo, hi, n) * size
    head_radius = rng.uniform(hlo, hhi, n) * size
    top = np.array([_TOP_EXTENT[s] for s in BODY_SHAPES])[body_shape_ids[body_value]] * radius
    margin_x = 1.25 * radius + 1
    cx = rng.uniform(0, 1, n) * (size - 2 * margin_x) + margin_x
    lo_y = top + 1.7 * head_radius + 1
    hi_y = size - 1.25 * radius - 1
    cy = lo_y + rng.uniform(0, 1, n) * (hi_y - lo_y)
    always = np.ones(n, dtype=bool)
    _paint(canvas, seg, _Elements(
        "body", body_shape_ids[body_value], body_pattern_ids[body_value],
        jitter(palette[rng.integers(0, len(palette), n)]), np.stack([cx, cy]), radius, always, BODY),
        body_window, rng)
    head_centre = np.stack([cx, cy - top - 0.7 * head_radius])
    _paint(canvas, seg, _Elements(
        "head", head_shape_ids[head_value], np.zeros(n, np.int64), jitter(palette[head_colour_ids[head_value]]),
        head_centre, head_radius, always, HEAD), head_window, rng)
    pixels = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    return pixels, seg


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

    The benchmark uses stream 1; the pretraining set (:mod:`zslbench.pretrain`)
    another one, so no random stream, hence no image, is shared.
    """
    size = preset.image_size
    pixels = np.empty((len(values), size, size, 3), dtype=np.uint8)
    segmentation = np.empty((len(values), size, size), dtype=np.uint8)

    def draw(batch: int, rows: slice) -> None:
        rng = np.random.default_rng([seed, stream, batch])
        pixels[rows], segmentation[rows] = _draw_batch(preset, values[rows], rng)

    draw_in_batches(draw, len(values), _BATCH_IMAGES, workers)
    return pixels, segmentation


# --------------------------------------------------------------------------- cache and loading


def cache_path(preset: SyntheticV2Preset, seed: int) -> Path:
    return cache_dir("synthetic") / f"{preset.name}-seed{seed}-v{GENERATOR_VERSION}.h5"


_CACHE_LAYOUT = h5cache.CacheLayout(arrays=("pixels", "segmentation", "labels", "unseen_classes", "val_classes"),
                                    split_names=SPLIT_NAMES, compress_lzf=frozenset({"segmentation"}))


def _cache_attrs(preset: SyntheticV2Preset, seed: int) -> dict[str, object]:
    return dict(preset=preset.name, seed=seed, generator_version=GENERATOR_VERSION,
                image_size=preset.image_size, num_images=preset.num_images)


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
        meta={"preset": preset.name, "seed": seed, "generator_version": GENERATOR_VERSION,
              "image_size": preset.image_size, "recipe": "synthetic-fixed", "family_names": ["body", "head"],
              "pretraining": "synthetic-v2"},
    )
    try:
        dataset.validate()
    except ValueError as exc:  # only reachable through a generator bug
        raise DataError(f"synthetic dataset {preset.name} is inconsistent: {exc}",
                        f"delete {cache_path(preset, seed)} and report a bug") from exc
    return dataset


def load_synthetic_v2(name: str, seed: int = 0) -> ZSLDataset:
    from zslbench.data.synthetic import preset_named

    preset = preset_named(name, PRESETS, "synthetic")
    return build_dataset(preset, seed, load_arrays(preset, seed))
