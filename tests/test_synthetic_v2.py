"""Synthetic benchmark v2: structure of the class grid, exact family-blind ceilings, drawing, loading."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.data import synthetic_v2 as v2
from zslbench.evaluation.diagnostics import family_blind_ceilings


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


TINY = v2.PRESETS["synthetic-v2-tiny"]
FULL = v2.PRESETS["synthetic"]


@pytest.mark.parametrize("preset", [TINY, FULL], ids=lambda p: p.name)
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


@pytest.mark.parametrize("seed", [0, 3])
def test_family_blind_ceilings_are_exactly_one_over_the_block_size(seed):
    unseen, _ = v2.class_splits(FULL, seed)
    ceilings = family_blind_ceilings(v2.class_attributes(FULL), v2.attribute_groups(FULL), unseen)
    assert ceilings == [pytest.approx(1 / 10), pytest.approx(1 / 10)]
    chance = 1 / len(unseen)
    assert all(c <= chance + 0.10 for c in ceilings)  # the criterion: within 10 points of chance
    tiny_unseen, _ = v2.class_splits(TINY, seed)
    assert family_blind_ceilings(v2.class_attributes(TINY), v2.attribute_groups(TINY), tiny_unseen) == [
        pytest.approx(1 / 3), pytest.approx(1 / 3)]


def test_class_attributes_are_one_hot_per_family():
    matrix = v2.class_attributes(TINY)
    for group in v2.attribute_groups(TINY):
        assert np.all(matrix[:, group].sum(1) == 1)
    assert len(set(map(bytes, matrix.astype(np.uint8)))) == TINY.num_classes  # classes differ


def test_generation_is_deterministic_and_independent_of_threads():
    a = v2.generate(TINY, 0, workers=1)
    b = v2.generate(TINY, 0, workers=2)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.segmentation, b.segmentation)
    c = v2.generate(TINY, 1, workers=1)
    assert not np.array_equal(a.pixels, c.pixels)


def test_segmentation_marks_one_body_with_its_head_attached_and_distractors():
    arrays = v2.generate(TINY, 0)
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
    assert {"synthetic", "synthetic-v2-tiny", "synthetic-v1", "synthetic-tiny", "synthetic-tiny-v1"} <= names
    assert SYNTHETIC_PRESETS["synthetic-v1"].num_classes == 108  # the old `synthetic`
    assert SYNTHETIC_PRESETS["synthetic-tiny-v1"].image_size == SYNTHETIC_PRESETS["synthetic-tiny"].image_size
