"""Drawing of the version-2 synthetic images (:mod:`zslbench.data.synthetic_v2`): vocabulary and renderer.

Elements (bodies, heads, loose distractor parts) are rendered in small windows
around their centres, vectorised over a batch, and composited through flat
pixel indices: much cheaper than full-canvas rendering. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zslbench.data.synthetic import COLOUR_RGB, _interp_matrix, _shape_distance

#: The six version-1 class colours: version 2's palette (heads, free body colours, distractors).
PALETTE: dict[str, tuple[float, float, float]] = dict(COLOUR_RGB)


def _hue_wheel(names: tuple[str, ...], saturation: float = 0.85, value: float = 0.9) -> dict[str, tuple[float, ...]]:
    """Saturated colours at equal hue steps (HSV -> RGB), so every pair differs by 360/len(names) degrees of hue."""
    wheel = {}
    for i, name in enumerate(names):
        h = 6.0 * i / len(names)
        x = 1 - abs(h % 2 - 1)
        sector = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h) % 6]
        wheel[name] = tuple(round(value * (1 - saturation + saturation * c), 4) for c in sector)
    return wheel


#: Twelve hues 30 degrees apart: version 3's palette (body colours, head colours, distractors).
HUES: dict[str, tuple[float, ...]] = _hue_wheel(
    ("red", "orange", "yellow", "lime", "green", "spring", "cyan", "azure", "blue", "violet", "magenta", "rose"))

#: The palettes a preset can name (``SyntheticV2Preset.palette``).
PALETTES: dict[str, dict[str, tuple[float, ...]]] = {"v1": PALETTE, "hues": HUES}

#: A value component drawn at random per image (it carries no class information).
ANY = "any"

BODY_SHAPES = ("circle", "square", "triangle", "diamond")
PATTERNS = ("solid", "striped", "dotted")
HEAD_SHAPES = ("disc", "block")

#: Distance from a body's centre to its top edge, in units of its size parameter r.
_TOP_EXTENT = {"circle": 1.0, "square": 0.82, "triangle": 1.2, "diamond": 1.15}

#: Segmentation labels.
BACKGROUND, BODY, HEAD, DISTRACTOR = 0, 1, 2, 3



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


def _background(n: int, size: int, rng: np.random.Generator, fast: bool = False) -> np.ndarray:
    """(B, H, W, 3) grey canvas with low-frequency colour texture and pixel noise.

    ``fast`` (version 3) sums texture, grey level and noise channel-first,
    where the noise broadcasts over a leading axis, and transposes once: about
    half the cost of the original path. It rounds differently, so version-2
    presets keep the original path and their pixels stay bit-identical.
    """
    knots = 6
    grey = rng.uniform(0.35, 0.65, (n, 1, 1, 1)).astype(np.float32)
    coarse = rng.standard_normal((n, 3, knots, knots), dtype=np.float32) * np.float32(0.07)
    m = _interp_matrix(size, knots)
    if fast:
        coarse += grey - np.float32(0.04)  # the interpolation's rows sum to 1: a constant passes through
        texture = m @ coarse @ m.T  # (B, 3, H, W)
        noise = rng.random((n, 1, size, size), dtype=np.float32)  # grey pixel noise
        noise *= np.float32(0.08)
        texture += noise
        return np.ascontiguousarray(texture.transpose(0, 2, 3, 1))  # C order: painting writes through flat views
    texture = (m @ coarse @ m.T).transpose(0, 2, 3, 1)  # (B, H, W, 3)
    canvas = rng.random((n, size, size, 1), dtype=np.float32)  # grey pixel noise: a third of the draws
    canvas *= np.float32(0.08)
    canvas = np.add(canvas, texture, order="C")  # C order: painting writes through flat views
    canvas += grey - np.float32(0.04)
    return canvas


def _to_uint8(canvas: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float canvas to uint8 pixels, in place (the same values as clip(c * 255 + 0.5))."""
    canvas *= np.float32(255)
    canvas += np.float32(0.5)
    np.clip(canvas, 0, 255, out=canvas)
    return canvas.astype(np.uint8)


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
    measure = _shape_distance if el.kind == "body" else _head_distance  # bodies: the v1 outlines
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


def _windows(preset: "SyntheticV2Preset") -> tuple[int, int]:
    size = preset.image_size
    body = int(np.ceil(2 * 1.25 * preset.body_radius_range[1] * size)) + 2
    head = int(np.ceil(2 * preset.head_radius_range[1] * size)) + 3
    return min(body, size), min(head, size)


def _vocabulary(components: list[str], names: tuple[str, ...], from_values: bool) -> np.ndarray:
    """Indices into ``names`` that the values use (all of ``names`` when a value leaves the component free,
    or unless ``from_values``)."""
    if ANY in components or not from_values:
        return np.arange(len(names))
    return np.array([i for i, name in enumerate(names) if name in components])


def _ids(components: list[str], names: tuple[str, ...]) -> np.ndarray:
    """Index of each value's component in ``names``; -1 where it is :data:`ANY`."""
    return np.array([-1 if c == ANY else names.index(c) for c in components])


def _fill_free(ids: np.ndarray, vocabulary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``ids`` (B,) with the free (-1) entries drawn from ``vocabulary``; draws nothing when none is free."""
    free = ids < 0
    if not free.any():
        return ids
    return np.where(free, vocabulary[rng.integers(0, len(vocabulary), len(ids))], ids)


def draw_batch(preset: "SyntheticV2Preset", values: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (B, H, W, 3) uint8 and segmentation (B, H, W) uint8 of one batch; ``values`` (B, 2).

    Body values are (shape, pattern, colour) and head values (colour, shape);
    a component that is :data:`ANY` is drawn per image. Distractors draw every
    component from the whole vocabulary, or (``distractors_from_values``) from the
    components the values use, so that no distractor is told apart by a shape
    or pattern that no object has. The order of the random draws
    is fixed by the preset, so a preset keeps its pixels when others are added.
    """
    n, size = len(values), preset.image_size
    canvas = _background(n, size, rng, fast=preset.version >= 3)
    seg = np.zeros((n, size, size), dtype=np.uint8)
    body_window, head_window = _windows(preset)
    lo, hi = preset.body_radius_range
    hlo, hhi = preset.head_radius_range
    palette_names = tuple(PALETTES[preset.palette])
    palette = np.array(list(PALETTES[preset.palette].values()), dtype=np.float32)
    body_shapes, body_patterns, body_colours = (list(c) for c in zip(*preset.body_values))
    head_colours, head_shapes = (list(c) for c in zip(*preset.head_values))
    own = preset.distractors_from_values
    shape_vocabulary = _vocabulary(body_shapes, BODY_SHAPES, own)
    pattern_vocabulary = _vocabulary(body_patterns, PATTERNS, own)
    head_shape_vocabulary = _vocabulary(head_shapes, HEAD_SHAPES, own)

    def jitter(colours: np.ndarray) -> np.ndarray:
        return np.clip(colours * rng.uniform(0.9, 1.08, (len(colours), 1)), 0, 1).astype(np.float32)

    def draw_from(vocabulary: np.ndarray) -> np.ndarray:
        return vocabulary[rng.integers(0, len(vocabulary), n)]

    # distractors first, so the object is drawn on top of any overlap
    scale_lo, scale_hi = preset.loose_body_scale
    n_bodies = rng.integers(preset.loose_bodies[0], preset.loose_bodies[1] + 1, n)
    for slot in range(preset.loose_bodies[1]):
        radius = rng.uniform(lo * scale_lo, hi * scale_hi, n) * size
        margin = 1.25 * radius + 1
        _paint(canvas, seg, _Elements(
            "body", draw_from(shape_vocabulary), draw_from(pattern_vocabulary),
            jitter(palette[rng.integers(0, len(palette), n)]),
            rng.uniform(0, 1, (2, n)) * (size - 2 * margin) + margin, radius, slot < n_bodies, DISTRACTOR),
            body_window, rng)
    n_heads = rng.integers(preset.loose_heads[0], preset.loose_heads[1] + 1, n)
    for slot in range(preset.loose_heads[1]):
        radius = rng.uniform(hlo, hhi, n) * size
        margin = radius + 1
        _paint(canvas, seg, _Elements(
            "head", draw_from(head_shape_vocabulary), np.zeros(n, np.int64),
            jitter(palette[rng.integers(0, len(palette), n)]),
            rng.uniform(0, 1, (2, n)) * (size - 2 * margin) + margin, radius, slot < n_heads, DISTRACTOR),
            head_window, rng)

    # the object: body, then its head touching the body's top edge
    body_value, head_value = values[:, 0], values[:, 1]
    shape = _fill_free(_ids(body_shapes, BODY_SHAPES)[body_value], shape_vocabulary, rng)
    pattern = _fill_free(_ids(body_patterns, PATTERNS)[body_value], pattern_vocabulary, rng)
    head_shape = _fill_free(_ids(head_shapes, HEAD_SHAPES)[head_value], head_shape_vocabulary, rng)
    radius = rng.uniform(lo, hi, n) * size
    head_radius = rng.uniform(hlo, hhi, n) * size
    top = np.array([_TOP_EXTENT[s] for s in BODY_SHAPES])[shape] * radius
    margin_x = 1.25 * radius + 1
    cx = rng.uniform(0, 1, n) * (size - 2 * margin_x) + margin_x
    lo_y = top + 1.7 * head_radius + 1
    hi_y = size - 1.25 * radius - 1
    cy = lo_y + rng.uniform(0, 1, n) * (hi_y - lo_y)
    always = np.ones(n, dtype=bool)
    body_colour = jitter(palette[rng.integers(0, len(palette), n)])  # free colour (all presets draw it)
    colour_ids = _ids(body_colours, palette_names)[body_value]
    if (colour_ids >= 0).any():
        fixed = colour_ids >= 0
        body_colour[fixed] = jitter(palette[colour_ids[fixed]])
    _paint(canvas, seg, _Elements(
        "body", shape, pattern, body_colour, np.stack([cx, cy]), radius, always, BODY), body_window, rng)
    head_centre = np.stack([cx, cy - top - 0.7 * head_radius])
    _paint(canvas, seg, _Elements(
        "head", head_shape, np.zeros(n, np.int64), jitter(palette[_ids(head_colours, palette_names)[head_value]]),
        head_centre, head_radius, always, HEAD), head_window, rng)
    return _to_uint8(canvas), seg
