"""The pretrained tiny backbone: a pretraining set disjoint from the benchmark, fingerprints, the cache."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from zslbench.training import pretrain
from zslbench.data import synthetic_v2 as v2
from zslbench.errors import UsageError


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


TINY = pretrain.recipe_for("synthetic-v2-tiny")
TINY_V3 = pretrain.recipe_for("synthetic-v3-tiny")


@pytest.mark.parametrize("tiny", [TINY_V3, TINY], ids=lambda r: r.preset)
@pytest.mark.parametrize("data_seed", [0, 1])
def test_pretraining_classes_are_train_classes_only(data_seed, tiny):
    recipe = dataclasses.replace(tiny, data_seed=data_seed, num_images=40)
    data = pretrain.pretraining_set(recipe)
    unseen, val = v2.class_splits(v2.PRESETS[recipe.preset], data_seed)
    used = set(np.unique(data.labels).tolist())
    assert used == set(data.classes.tolist())
    assert not used & set(unseen.tolist())  # never an unseen class
    assert not used & set(val.tolist())  # nor a GBU validation class
    assert used | set(unseen.tolist()) | set(val.tolist()) == set(range(v2.PRESETS[recipe.preset].num_classes))


@pytest.mark.parametrize("tiny", [TINY_V3, TINY], ids=lambda r: r.preset)
def test_no_pretraining_image_is_a_benchmark_image(tiny):
    data = pretrain.pretraining_set(dataclasses.replace(tiny, num_images=200))
    bench = v2.generate(v2.PRESETS[tiny.preset], tiny.data_seed)

    def digests(pixels: np.ndarray) -> set[str]:
        return {hashlib.sha256(np.ascontiguousarray(p).tobytes()).hexdigest() for p in pixels}

    test_images = np.concatenate([bench.splits["test_seen"], bench.splits["test_unseen"]])
    assert not digests(data.pixels) & digests(bench.pixels[test_images])
    assert not digests(data.pixels) & digests(bench.pixels)  # nor any other benchmark image


def test_fingerprint_changes_with_every_recipe_field():
    base = pretrain.fingerprint(TINY)
    assert pretrain.fingerprint(dataclasses.replace(TINY)) == base
    for field, value in (("num_images", 97), ("epochs", 2), ("data_seed", 1), ("lr", 2e-3), ("batch_size", 16),
                         ("weight_decay", 0.0), ("torch_seed", 1), ("stream", 5), ("version", 99),
                         ("backbone", "vit-synthetic-v2")):
        changed = dataclasses.replace(TINY, **{field: value})
        assert pretrain.fingerprint(changed) != base, field
        assert pretrain.checkpoint_path(changed) != pretrain.checkpoint_path(TINY)


def test_fingerprint_follows_the_generator_version_and_the_preset(monkeypatch):
    base = pretrain.fingerprint(TINY)
    preset = v2.PRESETS[TINY.preset]
    monkeypatch.setitem(v2.PRESETS, TINY.preset, dataclasses.replace(preset, version=preset.version + 1))
    assert pretrain.fingerprint(TINY) != base
    monkeypatch.setitem(v2.PRESETS, TINY.preset, dataclasses.replace(preset, head_radius_range=(0.07, 0.08)))
    assert pretrain.fingerprint(TINY) != base


def test_pretrain_builds_a_cached_checkpoint_that_the_backbone_loads():
    from zslbench.models.backbones import create_backbone

    recipe = dataclasses.replace(TINY, num_images=32)
    path = pretrain.pretrain(recipe, progress=False)
    assert path.exists() and path.with_suffix(".json").exists()
    assert path.stat().st_mode & 0o777 == 0o666 & ~_process_umask()  # as the run store's files, not 0600
    assert not list(path.parent.glob("*.tmp"))  # the temporary file was renamed into place
    mtime = path.stat().st_mtime_ns
    assert pretrain.pretrain(recipe, progress=False) == path and path.stat().st_mtime_ns == mtime  # cached
    loaded = create_backbone(recipe.backbone, str(path))
    fresh = create_backbone(recipe.backbone, "none")
    assert any(not np.allclose(a.detach(), b.detach()) for a, b in zip(loaded.parameters(), fresh.parameters()))


def test_default_pretrained_only_for_v3_and_v2_on_their_own_backbone():
    assert pretrain.default_pretrained("synthetic", "vit-synthetic-v2") == pretrain.SYNTHETIC_PRETRAINED
    assert pretrain.default_pretrained("synthetic-v2", "vit-synthetic-v2") == pretrain.SYNTHETIC_PRETRAINED
    assert pretrain.recipe_for("synthetic").preset == "synthetic" != pretrain.recipe_for("synthetic-v2").preset
    assert pretrain.default_pretrained("synthetic", "vit-synthetic") is None
    assert pretrain.default_pretrained("synthetic-v1", "vit-synthetic") is None
    with pytest.raises(UsageError):
        pretrain.recipe_for("cub")


def _process_umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask
