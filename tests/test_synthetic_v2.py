"""The generator of synthetic v3 (``synthetic``) and v2 (``synthetic-v2``): class grid, exact family-blind
ceilings, drawing, loading."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.data import synthetic_v2 as v2
from zslbench.evaluation.diagnostics import family_blind_ceilings


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


TINY = v2.PRESETS["synthetic-v2-tiny"]
TINY_V3 = v2.PRESETS["synthetic-v3-tiny"]
FULL = v2.PRESETS["synthetic"]
FULL_V2 = v2.PRESETS["synthetic-v2"]


@pytest.mark.parametrize("preset", [TINY, TINY_V3, FULL, FULL_V2], ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_unseen_classes_form_a_block_and_every_value_stays_seen(preset, seed):
    unseen, val = v2.class_splits(preset, seed)
    values = v2.class_values(preset)
    k = preset.unseen_block
    assert len(unseen) == k * k
    bodies, heads = np.unique(values[unseen, 0]), np.unique(values[unseen, 1])
    assert len(bodies) == len(heads) == k  # a full k x k block
    train = np.setdiff1d(np.arange(preset.num_classes), np.union1d(unseen, val))
    assert len(np.unique(values[train, 0])) == len(preset.body_values)
    assert len(np.unique(values[train, 1])) == len(preset.head_values)
    assert not set(val) & set(unseen)


@pytest.mark.parametrize("full", [FULL, FULL_V2], ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [0, 3])
def test_family_blind_ceilings_are_exactly_one_over_the_block_size(seed, full):
    unseen, _ = v2.class_splits(full, seed)
    ceilings = family_blind_ceilings(v2.class_attributes(full), v2.attribute_groups(full), unseen)
    assert ceilings == [pytest.approx(1 / 10), pytest.approx(1 / 10)]
    chance = 1 / len(unseen)
    assert all(c <= chance + 0.10 for c in ceilings)  # the criterion: within 10 points of chance
    tiny_unseen, _ = v2.class_splits(TINY, seed)
    assert family_blind_ceilings(v2.class_attributes(TINY), v2.attribute_groups(TINY), tiny_unseen) == [
        pytest.approx(1 / 3), pytest.approx(1 / 3)]


@pytest.mark.parametrize("preset", [TINY, TINY_V3], ids=lambda p: p.name)
def test_class_attributes_are_one_hot_per_family(preset):
    matrix = v2.class_attributes(preset)
    for group in v2.attribute_groups(preset):
        assert np.all(matrix[:, group].sum(1) == 1)
    assert len(set(map(bytes, matrix.astype(np.uint8)))) == preset.num_classes  # classes differ


def test_attribute_names_name_what_varies_in_each_family():
    assert v2.attribute_names(FULL)[:2] == ["body_red", "body_orange"] and v2.attribute_names(FULL)[12] == "head_red"
    assert v2.attribute_names(FULL_V2)[:2] == ["body_circle_solid", "body_circle_striped"]
    assert v2.attribute_names(FULL_V2)[12] == "head_red_disc"


@pytest.mark.parametrize("preset", [TINY, TINY_V3], ids=lambda p: p.name)
def test_generation_is_deterministic_and_independent_of_threads(preset):
    a = v2.generate(preset, 0, workers=1)
    b = v2.generate(preset, 0, workers=2)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.segmentation, b.segmentation)
    c = v2.generate(preset, 1, workers=1)
    assert not np.array_equal(a.pixels, c.pixels)


@pytest.mark.parametrize("preset", [TINY, TINY_V3], ids=lambda p: p.name)
def test_segmentation_marks_one_body_with_its_head_attached_and_distractors(preset):
    arrays = v2.generate(preset, 0)
    seg = arrays.segmentation
    assert set(np.unique(seg)) <= {v2.BACKGROUND, v2.BODY, v2.HEAD, v2.DISTRACTOR}
    for image in seg[:20]:
        assert (image == v2.BODY).any() and (image == v2.HEAD).any() and (image == v2.DISTRACTOR).any()
        body_rows = np.flatnonzero((image == v2.BODY).any(1))
        head_rows = np.flatnonzero((image == v2.HEAD).any(1))
        assert head_rows.mean() < body_rows.mean()  # the head sits on top of the body
        assert head_rows.max() >= body_rows.min() - 1  # and touches it


def test_object_pixels_carry_the_head_colour():
    arrays = v2.generate(TINY, 0)
    values = v2.class_values(TINY)[arrays.labels]
    palette = np.array([v2.PALETTE[c] for c, _ in TINY.head_values]) * 255
    for i in range(10):
        head = arrays.pixels[i][arrays.segmentation[i] == v2.HEAD].astype(float)
        distances = np.linalg.norm(palette - np.median(head, axis=0), axis=1)
        assert np.argmin(distances) == values[i, 1] or TINY.head_values[np.argmin(distances)][0] == \
            TINY.head_values[values[i, 1]][0]


def _nearest_hue(pixels: np.ndarray) -> str:
    """The HUES name nearest in chromaticity to the mean of the brighter half of ``pixels`` (stripes are dark)."""
    brightness = pixels.sum(1)
    mean = pixels[brightness >= np.median(brightness)].mean(0)
    names = list(v2.HUES)
    wheel = np.array([v2.HUES[n] for n in names])
    cosine = (wheel @ mean) / np.linalg.norm(wheel, axis=1) / np.linalg.norm(mean)
    return names[int(np.argmax(cosine))]


def test_v3_body_and_head_pixels_carry_the_class_colours():
    arrays = v2.generate(TINY_V3, 0)
    values = v2.class_values(TINY_V3)[arrays.labels]
    for i in range(0, len(arrays.labels), 7):
        body = arrays.pixels[i][arrays.segmentation[i] == v2.BODY].astype(float)
        head = arrays.pixels[i][arrays.segmentation[i] == v2.HEAD].astype(float)
        assert _nearest_hue(body) == TINY_V3.body_values[values[i, 0]][2]
        assert _nearest_hue(head) == TINY_V3.head_values[values[i, 1]][0]


def test_v3_distractor_bodies_are_smaller_than_every_object_body():
    from scipy import ndimage

    arrays = v2.generate(TINY_V3, 0)
    for i in range(0, len(arrays.labels), 5):
        seg = arrays.segmentation[i]
        body_area = int((seg == v2.BODY).sum())
        parts, count = ndimage.label(seg == v2.DISTRACTOR)
        areas = np.bincount(parts.ravel())[1:]
        # loose bodies are drawn at most 0.7x the smallest object radius: under half its area, even merged
        # with a loose head or partly hidden by the object
        assert count >= 1 and areas.max() < body_area, i


def test_loaded_dataset_has_masks_groups_and_a_no_flip_recipe():
    ds = v2.load_synthetic_v2("synthetic-v2-tiny", 0)
    assert ds.masks.shape == (TINY.num_images, 48, 48) and ds.masks.dtype == bool
    assert ds.attribute_groups == v2.attribute_groups(TINY)
    assert ds.meta["recipe"] == "synthetic-fixed"
    assert set(ds.split_labels("test_unseen")) == set(ds.unseen_classes)
    assert not set(ds.split_labels("trainval")) & set(ds.unseen_classes)
    again = v2.load_synthetic_v2("synthetic-v2-tiny", 0)  # from the cache
    np.testing.assert_array_equal(again.images.pixels, ds.images.pixels)


def test_registered_names_keep_the_old_presets_under_versioned_names():
    from zslbench.data.synthetic import SYNTHETIC_PRESETS, dataset_specs

    names = {spec.name for spec in [*dataset_specs(), *v2.dataset_specs()]}
    assert {"synthetic", "synthetic-v2", "synthetic-v3-tiny", "synthetic-v2-tiny", "synthetic-v1", "synthetic-tiny",
            "synthetic-tiny-v1"} <= names
    assert FULL.version == 3 and FULL_V2.version == 2 == TINY.version
    assert v2.cache_path(FULL, 0).name == "synthetic-seed0-v3.h5"  # never a stored v2 `synthetic` file
    assert v2.load_synthetic_v2("synthetic-v3-tiny", 0).meta["generator_version"] == 3
    assert SYNTHETIC_PRESETS["synthetic-v1"].num_classes == 108  # the old `synthetic`
    assert SYNTHETIC_PRESETS["synthetic-tiny-v1"].image_size == SYNTHETIC_PRESETS["synthetic-tiny"].image_size
