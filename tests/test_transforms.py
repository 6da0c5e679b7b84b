"""Transform recipes, ImageDataset, the in-memory fast paths and the bad-image scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from zslbench.data.dataset import ArrayImages, FileImages, ZSLDataset
from zslbench.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDataset,
    SyntheticTransform,
    batches_from_arrays,
    build_transform,
)
from zslbench.data.image_files import decode_failures
from zslbench.errors import DataError, UsageError

try:
    from tests.fixtures_xlsa17 import write_jpeg
except ImportError:
    from fixtures_xlsa17 import write_jpeg


def _dataset(images, n: int) -> ZSLDataset:
    labels = np.arange(n) % 3
    return ZSLDataset(
        name="tiny", class_names=["a", "b", "c"], attribute_names=["x"], class_attributes=np.ones((3, 1), np.float32),
        labels=labels, splits={"trainval": np.arange(n)}, seen_classes=np.array([0, 1]), unseen_classes=np.array([2]),
        images=images,
    )


def _array_dataset(n: int = 6, size: int = 8) -> ZSLDataset:
    pixels = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return _dataset(ArrayImages(pixels), n)


@pytest.mark.parametrize("recipe", ["imagenet", "awa2", "cub", "sun", "imagenet-rrc", "svip-reference"])
@pytest.mark.parametrize("train", [True, False])
def test_real_recipes_output_shape_and_dtype(recipe, train):
    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    out = build_transform(recipe, 32, train)(image)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


def test_eval_recipe_is_deterministic_and_imagenet_normalised():
    image = torch.full((3, 40, 60), 255, dtype=torch.uint8)
    transform = build_transform("cub", 16, train=False)
    out = transform(image)
    assert torch.equal(out, transform(image))
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out.mean(dim=(1, 2)), expected, rtol=1e-4, atol=1e-4)


def test_train_recipe_is_random():
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    transform = build_transform("awa2", 32, train=True)
    outs = [transform(image) for _ in range(6)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_synthetic_recipe_values_resize_and_flip():
    image = torch.zeros((3, 8, 8), dtype=torch.uint8)
    image[:, :, 0] = 255
    out = build_transform("synthetic", 8, train=False)(image)
    assert out[0, 0, 0].item() == pytest.approx(1.0) and out[0, 0, 1].item() == pytest.approx(-1.0)
    assert build_transform("synthetic", 16, train=False)(image).shape == (3, 16, 16)
    batch = image.unsqueeze(0).repeat(64, 1, 1, 1)
    torch.manual_seed(0)
    flipped = build_transform("synthetic", 8, train=True)(batch)
    left_bright = flipped[:, 0, 0, 0] > 0
    assert 0 < int(left_bright.sum()) < 64  # each image decides its own flip
    assert torch.all(flipped[~left_bright, 0, 0, -1] > 0)


def test_synthetic_transform_does_not_modify_input():
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    copy = image.clone()
    SyntheticTransform(8, train=True)(image)
    assert torch.equal(image, copy)


def test_unknown_recipe_and_bad_size():
    with pytest.raises(UsageError, match="unknown transform recipe") as err:
        build_transform("synthetc", 8, True)
    assert "synthetic" in err.value.hint
    with pytest.raises(UsageError):
        build_transform("synthetic", 0, True)


def test_image_dataset_items_and_targets():
    ds = _array_dataset()
    indices = np.array([4, 1])
    items = ImageDataset(ds, indices, build_transform("synthetic", 8, False))
    image, target, index = items[0]
    assert image.shape == (3, 8, 8) and target == 4 % 3 and index == 4
    remapped = ImageDataset(ds, indices, build_transform("synthetic", 8, False), targets=np.array([7, 9]))
    assert remapped[1][1] == 9 and len(remapped) == 2


def test_dataloader_batch_fetch_matches_item_fetch_for_arrays():
    ds = _array_dataset(n=10)
    items = ImageDataset(ds, np.arange(10), build_transform("synthetic", 8, False))
    images, targets, indices = next(iter(DataLoader(items, batch_size=4)))
    expected = torch.stack([items[i][0] for i in range(4)])
    torch.testing.assert_close(images, expected)
    assert targets.tolist() == ds.labels[:4].tolist() and indices.tolist() == [0, 1, 2, 3]
    # a transform without batch support goes image by image
    eval_items = ImageDataset(ds, np.arange(10), build_transform("imagenet", 8, False))
    batch = eval_items.__getitems__([0, 3])
    torch.testing.assert_close(batch[1][0], eval_items[3][0])


def test_batches_from_arrays_covers_every_index_once():
    ds = _array_dataset(n=10)
    items = ImageDataset(ds, np.arange(2, 9), build_transform("synthetic", 8, False))
    seen = []
    for images, targets, indices in batches_from_arrays(items, 3, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert images.shape[1:] == (3, 8, 8) and len(images) == len(targets) == len(indices)
        seen.extend(indices.tolist())
    assert sorted(seen) == list(range(2, 9))
    file_items = ImageDataset(_dataset(FileImages([]), 0), np.zeros(0, np.int64), build_transform("synthetic", 8, False))
    with pytest.raises(TypeError):
        next(batches_from_arrays(file_items, 2))


def test_file_images_bad_file_raises_data_error_naming_path(tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    write_jpeg(good, 20, 30)
    bad.write_bytes(b"\xff\xd8 broken")
    ds = _dataset(FileImages([good, bad, tmp_path / "gone.jpg"]), 3)
    items = ImageDataset(ds, np.arange(3), build_transform("imagenet", 16, True))
    assert items[0][0].shape == (3, 16, 16)
    with pytest.raises(DataError) as err:
        items[1]
    assert str(bad) in err.value.message and "skip_bad_images" in err.value.hint
    assert sorted(decode_failures(ds.images.paths)) == [1, 2]  # what data.skip_bad_images drops


def test_mean_std_override_changes_photo_recipes_only():
    import torch

    from zslbench.data.transforms import build_transform

    image = torch.full((3, 40, 40), 255, dtype=torch.uint8)
    half = build_transform("imagenet", 32, train=False, mean_std=((0.5,) * 3, (0.5,) * 3))(image)
    default = build_transform("imagenet", 32, train=False)(image)
    assert torch.allclose(half, torch.ones_like(half))  # (1 - 0.5) / 0.5
    assert not torch.allclose(default, half)
    synthetic = build_transform("synthetic", 40, train=False, mean_std=((0.0,) * 3, (1.0,) * 3))(image)
    assert torch.allclose(synthetic, torch.ones_like(synthetic))  # synthetic keeps its own 0.5/0.5
