"""The example grid PNG of ``zslbench data show``."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import image as mpimg

from zslbench.data.show import save_example_grid
from zslbench.data.synthetic import load_synthetic
from zslbench.errors import UsageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))
    return load_synthetic("synthetic-tiny", 0)


@pytest.mark.parametrize("per_class,show_masks", [(1, False), (2, True)])
def test_grid_is_a_valid_png(tiny, tmp_path, per_class, show_masks):
    out = save_example_grid(tiny, tmp_path / "sub" / "grid.png", per_class=per_class, max_classes=8,
                            show_masks=show_masks)
    assert out == tmp_path / "sub" / "grid.png"
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(out)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.std(pixels[..., :3]) > 0.05  # images were drawn, not a blank canvas


def test_grid_is_deterministic_and_seed_dependent(tiny, tmp_path):
    a = save_example_grid(tiny, tmp_path / "a.png", max_classes=6, seed=0).read_bytes()
    b = save_example_grid(tiny, tmp_path / "b.png", max_classes=6, seed=0).read_bytes()
    c = save_example_grid(tiny, tmp_path / "c.png", max_classes=6, seed=1).read_bytes()
    assert a == b and a != c


def test_masks_requested_without_masks_is_a_usage_error(tiny, tmp_path):
    from dataclasses import replace

    with pytest.raises(UsageError):
        save_example_grid(replace(tiny, masks=None), tmp_path / "x.png", show_masks=True)
    with pytest.raises(UsageError):
        save_example_grid(tiny, tmp_path / "x.png", per_class=0)


def test_class_pick_mixes_seen_and_unseen(tiny):
    from zslbench.data.show import _pick_classes

    picked = _pick_classes(tiny, 8, np.random.default_rng(0))
    assert len(picked) == len(set(picked.tolist())) == 8
    n_unseen = np.isin(picked, tiny.unseen_classes).sum()
    assert n_unseen == round(8 * 6 / 24)  # unseen in proportion (6 of 24 classes)
    everything = _pick_classes(tiny, 100, np.random.default_rng(0))
    assert sorted(everything.tolist()) == list(range(24))


def test_title_counts_the_classes_shown(tiny, tmp_path):
    from zslbench.data.show import plan_example_grid

    grid = plan_example_grid(tiny, max_classes=8)
    assert grid.title.startswith("synthetic-tiny: 8 of 24 classes (6 seen, 2 unseen")


def test_multilabel_tiles_list_every_label_and_no_image_repeats(tmp_path, monkeypatch):
    from zslbench.data.show import plan_example_grid
    from zslbench.data.synthetic_multilabel import load_synthetic_multilabel

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))
    from zslbench.config import DataConfig

    dataset = load_synthetic_multilabel("synthetic-multilabel-tiny", DataConfig(text_encoder="hashing"))
    grid = plan_example_grid(dataset, per_class=2, max_classes=10)
    shown = [t.index for t in grid.tiles if t.index >= 0]
    assert len(shown) == len(set(shown))  # no image twice
    labels = np.asarray(dataset.labels)
    for tile in grid.tiles:
        if tile.index < 0:
            continue
        expected = {dataset.class_names[c].replace("_", " ") for c in np.flatnonzero(labels[tile.index] > 0)}
        assert set(tile.labels) == expected and len(expected) >= 1
        assert tile.labels[0] == dataset.class_names[tile.class_id].replace("_", " ")  # its own label first
    assert "labels" in grid.title and "all labels of its image" in grid.title
    out = save_example_grid(dataset, tmp_path / "ml.png", per_class=2, max_classes=10)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
