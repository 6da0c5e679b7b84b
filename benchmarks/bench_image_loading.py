"""Image loading throughput: JPEG decode + transform through ImageDataset, in images per second.

Run: .venv/bin/python -m pytest benchmarks/bench_image_loading.py --benchmark-only
The images/s of each case is stored in the benchmark's extra_info. One intra-op
thread: the throughput of one DataLoader worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zslbench.data.dataset import ArrayImages, FileImages, ZSLDataset
from zslbench.data.transforms import ImageDataset, build_transform

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision.io decode, once per image

NUM_IMAGES = 48
#: Typical AwA2/CUB photos are about 500 x 375; these are smaller to keep the run short.
JPEG_WIDTH, JPEG_HEIGHT = 320, 240


def _dataset(images, n: int) -> ZSLDataset:
    return ZSLDataset(
        name="bench", class_names=["a", "b"], attribute_names=["x"], class_attributes=np.ones((2, 1), np.float32),
        labels=np.arange(n) % 2, splits={"trainval": np.arange(n)}, seen_classes=np.array([0]),
        unseen_classes=np.array([1]), images=images,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread, as in a DataLoader worker; also steadier on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def jpeg_paths(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    # Smooth images with noise compress like photos (pure noise would decode unusually slowly).
    yy, xx = np.mgrid[0:JPEG_HEIGHT, 0:JPEG_WIDTH]
    paths = []
    for i in range(NUM_IMAGES):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:03d}.jpg"
        Image.fromarray(pixels).save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def _load_all(items: ImageDataset) -> int:
    for i in range(len(items)):
        items[i]
    return len(items)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_jpeg_decode_and_transform_224(benchmark, jpeg_paths, train):
    items = ImageDataset(_dataset(FileImages(jpeg_paths), NUM_IMAGES), np.arange(NUM_IMAGES),
                         build_transform("awa2", 224, train=train))
    count = benchmark.pedantic(_load_all, args=(items,), rounds=5, iterations=1, warmup_rounds=1)
    assert count == NUM_IMAGES
    benchmark.extra_info["images_per_s"] = NUM_IMAGES / benchmark.stats.stats.mean


def test_synthetic_arrays_batch_fetch_64px(benchmark):
    n = 512
    pixels = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    items = ImageDataset(_dataset(ArrayImages(pixels), n), np.arange(n), build_transform("synthetic", 64, train=True))

    def fetch_batches() -> int:
        return sum(len(items.__getitems__(list(range(s, min(s + 64, n))))) for s in range(0, n, 64))

    count = benchmark.pedantic(fetch_batches, rounds=5, iterations=1, warmup_rounds=1)
    assert count == n
    benchmark.extra_info["images_per_s"] = n / benchmark.stats.stats.mean
