"""The embedded synthetic benchmark: determinism, splits, attributes, masks and the HDF5 cache."""

from __future__ import annotations

import types

import numpy as np
import pytest

import zslbench.data.synthetic as synthetic
from zslbench.data.synthetic import (
    GENERATOR_VERSION,
    SYNTHETIC_PRESETS,
    cache_path,
    dataset_specs,
    generate,
    load_synthetic,
)
from zslbench.errors import UsageError

TINY = SYNTHETIC_PRESETS["synthetic-tiny"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def tiny_arrays():
    return generate(TINY, 0)


def test_same_seed_gives_identical_arrays_and_other_seed_differs(tiny_arrays):
    again = generate(TINY, 0)
    assert np.array_equal(tiny_arrays.pixels, again.pixels)
    assert np.array_equal(tiny_arrays.masks, again.masks)
    for name, idx in tiny_arrays.splits.items():
        assert np.array_equal(idx, again.splits[name])
    other = generate(TINY, 1)
    assert not np.array_equal(tiny_arrays.pixels, other.pixels)


def test_pixels_do_not_depend_on_thread_count():
    one, two = generate(TINY, 3, workers=1), generate(TINY, 3, workers=2)
    assert np.array_equal(one.pixels, two.pixels)
    assert np.array_equal(one.masks, two.masks)


def test_array_shapes_and_dtypes(tiny_arrays):
    n, size = TINY.num_images, TINY.image_size
    assert tiny_arrays.pixels.shape == (n, size, size, 3) and tiny_arrays.pixels.dtype == np.uint8
    assert tiny_arrays.masks.shape == (n, size, size) and tiny_arrays.masks.dtype == bool
    assert np.bincount(tiny_arrays.labels).tolist() == [TINY.images_per_class] * TINY.num_classes


def test_dataset_validates_and_has_meta(cache):
    ds = load_synthetic("synthetic-tiny", 0)
    ds.validate()
    assert ds.name == "synthetic-tiny"
    assert ds.meta == {"preset": "synthetic-tiny", "seed": 0, "generator_version": GENERATOR_VERSION,
                       "image_size": 32, "recipe": "synthetic"}
    assert ds.images.pixels.shape == (288, 32, 32, 3)
    assert ds.images.load(0).shape == (3, 32, 32)
    assert ds.num_classes == 24 and len(ds.unseen_classes) == 6


def test_splits_disjoint_and_consistent_with_seen_unseen(cache):
    ds = load_synthetic("synthetic-tiny", 0)
    trainval, test_seen, test_unseen = (set(ds.splits[k].tolist()) for k in ("trainval", "test_seen", "test_unseen"))
    assert not (trainval & test_seen) and not (trainval & test_unseen) and not (test_seen & test_unseen)
    assert len(trainval | test_seen | test_unseen) == len(ds.labels)  # every image in exactly one split
    seen, unseen = set(ds.seen_classes.tolist()), set(ds.unseen_classes.tolist())
    assert seen.isdisjoint(unseen) and seen | unseen == set(range(ds.num_classes))
    assert set(ds.split_labels("trainval").tolist()) == seen
    assert set(ds.split_labels("test_seen").tolist()) == seen  # held out per class, every class
    assert set(ds.split_labels("test_unseen").tolist()) == unseen
    # ~20% of each seen class's images are test_seen
    per_class = np.bincount(ds.split_labels("test_seen"), minlength=ds.num_classes)[ds.seen_classes]
    assert np.all(per_class == round(0.2 * TINY.images_per_class))


def test_gbu_class_lists_partition_seen_classes(cache):
    ds = load_synthetic("synthetic-tiny", 0)
    train, val = set(ds.train_classes.tolist()), set(ds.val_classes.tolist())
    assert train.isdisjoint(val) and train | val == set(ds.seen_classes.tolist())
    assert len(val) == round(0.2 * len(ds.seen_classes))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_attribute_value_among_seen_and_train_classes(seed):
    ds = synthetic.build_dataset(TINY, seed, generate(TINY, seed))
    for classes in (ds.seen_classes, ds.train_classes):
        present = ds.class_attributes[classes].max(axis=0)
        assert np.all(present == 1), [ds.attribute_names[k] for k in np.flatnonzero(present == 0)]


def test_full_preset_class_counts():
    preset = SYNTHETIC_PRESETS["synthetic-v1"]  # the old `synthetic`, loadable under its versioned name
    assert preset.num_classes == 108 and preset.num_unseen == 28 and preset.images_per_class == 60
    assert preset.image_size == 64
    values = synthetic.class_values(preset)
    rng = np.random.default_rng([0, 0])
    unseen = synthetic._hold_out_covering(values, np.arange(108), 28, rng)
    seen = np.setdiff1d(np.arange(108), unseen)
    assert len(unseen) == 28
    assert all(len(np.unique(values[seen, g])) == values[:, g].max() + 1 for g in range(3))


def test_class_attributes_match_class_names(cache):
    ds = load_synthetic("synthetic-tiny", 0)
    assert ds.class_attributes.shape == (24, 4 + 3 + 2)
    for class_id, name in enumerate(ds.class_names):
        active = {ds.attribute_names[k] for k in np.flatnonzero(ds.class_attributes[class_id])}
        assert active == set(name.split("_")), name
    # one-hot within each group
    for group in ds.attribute_groups:
        assert np.all(ds.class_attributes[:, group].sum(axis=1) == 1)
    assert [ds.attribute_names[k] for k in ds.attribute_groups[0]] == ["circle", "square", "triangle", "cross"]
    assert len(set(ds.class_names)) == ds.num_classes


def test_masks_non_empty_and_inside_image(tiny_arrays):
    masks = tiny_arrays.masks
    assert masks.reshape(len(masks), -1).sum(axis=1).min() > 10
    border = np.concatenate([masks[:, 0], masks[:, -1], masks[:, :, 0], masks[:, :, -1]], axis=1)
    assert not border.any()  # the whole object lies inside the image


def test_object_pixels_have_the_class_colour(tiny_arrays):
    """Solid objects are painted in their class colour: the mask really marks the object."""
    values = synthetic.class_values(TINY)[tiny_arrays.labels]
    solid = np.flatnonzero(values[:, 2] == TINY.patterns.index("solid"))
    for colour_index, colour in enumerate(TINY.colours):
        idx = solid[values[solid, 1] == colour_index]
        object_pixels = tiny_arrays.pixels[idx][tiny_arrays.masks[idx]].astype(float)
        dominant = np.argmax(object_pixels.mean(axis=0))
        assert dominant == {"red": 0, "green": 1, "blue": 2}[colour]


def test_cache_hit_does_not_regenerate(cache, monkeypatch):
    first = load_synthetic("synthetic-tiny", 0)
    path = cache_path(TINY, 0)
    assert path.exists() and path.parent == cache / "synthetic"
    assert f"v{GENERATOR_VERSION}" in path.name

    def fail(*args, **kwargs):
        raise AssertionError("generate() called despite a valid cache")

    monkeypatch.setattr(synthetic, "generate", fail)
    second = load_synthetic("synthetic-tiny", 0)
    assert np.array_equal(first.images.pixels, second.images.pixels)
    assert np.array_equal(first.masks, second.masks)
    assert np.array_equal(first.unseen_classes, second.unseen_classes)
    assert np.array_equal(first.val_classes, second.val_classes)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape"])
def test_corrupt_cache_is_regenerated(cache, damage, caplog):
    reference = load_synthetic("synthetic-tiny", 0)
    path = cache_path(TINY, 0)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "garbage":
        path.write_bytes(b"not an hdf5 file")
    else:
        import h5py

        with h5py.File(path, "a") as f:
            del f["pixels"]
            f.create_dataset("pixels", data=np.zeros((5, 32, 32, 3), np.uint8))
    with caplog.at_level("WARNING", logger="zslbench.data.synthetic"):
        again = load_synthetic("synthetic-tiny", 0)
    assert "regenerating" in caplog.text
    assert np.array_equal(again.images.pixels, reference.images.pixels)
    fixed = synthetic._read_cache(path, TINY, 0)  # the rewritten file is valid again
    assert fixed is not None and np.array_equal(fixed.pixels, reference.images.pixels)


def test_stale_generator_version_in_attrs_is_regenerated(cache, monkeypatch):
    import h5py

    load_synthetic("synthetic-tiny", 0)
    with h5py.File(cache_path(TINY, 0), "a") as f:
        f.attrs["generator_version"] = GENERATOR_VERSION + 100
    calls = []
    real_generate = synthetic.generate
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(a) or real_generate(*a, **k))
    load_synthetic("synthetic-tiny", 0)
    assert len(calls) == 1


def test_cache_write_leaves_no_temp_files(cache):
    load_synthetic("synthetic-tiny", 0)
    load_synthetic("synthetic-tiny", 1)
    names = sorted(p.name for p in (cache / "synthetic").iterdir())
    assert names == [f"synthetic-tiny-seed0-v{GENERATOR_VERSION}.h5", f"synthetic-tiny-seed1-v{GENERATOR_VERSION}.h5"]


def test_unknown_preset_and_bad_seed_are_usage_errors(cache):
    with pytest.raises(UsageError) as err:
        load_synthetic("synthetic-tinny")
    assert "synthetic-tiny" in str(err.value)
    with pytest.raises(UsageError):
        load_synthetic("synthetic-tiny", -1)


def test_dataset_specs_load_the_presets(cache):
    specs = {spec.name: spec for spec in dataset_specs()}
    assert set(specs) == {"synthetic-v1", "synthetic-tiny", "synthetic-tiny-v1"}  # `synthetic` is v2 now
    assert specs["synthetic-v1"].default_image_size == 64 and specs["synthetic-tiny"].default_image_size == 32
    assert not specs["synthetic-v1"].needs_download and specs["synthetic-v1"].task == "single-label"
    ds = specs["synthetic-tiny"].load(types.SimpleNamespace(synthetic_seed=2))
    assert ds.name == "synthetic-tiny" and ds.meta["seed"] == 2
