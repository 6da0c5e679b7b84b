"""Cost of the data checks: the image byte look a run makes vs the full decode of `zslbench data check`,
and the read of res101.mat's features that `data check` adds (finite values, count).

Writes NUM_IMAGES photo-like 500 x 375 JPEGs (the typical AwA2/CUB size), then
times, interleaved over ROUNDS rounds (median; warm page cache),
:func:`zslbench.data.image_files.suspect_image_files` (first 16 and last 64
bytes of each file, 4 threads) and :func:`decode_failures` (Pillow decode to
RGB, 2 threads, what ``data check`` does without ``--fast``), and prints the
seconds per 1,000 images and the projection to CUB (11,788 images) and AwA2
(37,322). Run: .venv/bin/python benchmarks/bench_image_checks.py [NUM_IMAGES]

``... bench_image_checks.py res101`` instead times
:func:`zslbench.data.xlsa17.read_res101_features` on an AwA2-sized res101.mat
(37,322 x 2048 float32, as MATLAB stores it: 2048 x N), the read ``data check``
adds to check the features.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zslbench.data.image_files import decode_failures, suspect_image_files

NUM_IMAGES = 1000
ROUNDS = 3
WIDTH, HEIGHT = 500, 375
DATASET_IMAGES = {"CUB": 11_788, "AwA2": 37_322}


def write_photos(folder: Path, n: int) -> list[Path]:
    """Smooth images with noise, which compress like photos (about 50 KB each at quality 90)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    paths = []
    for i in range(n):
        base = np.stack([(xx * (i % 7 + 1)) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"{i % 50:02d}" / f"img_{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def main(n: int = NUM_IMAGES) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), n)
        mean_kb = sum(p.stat().st_size for p in paths) / n / 1024
        times: dict[str, list[float]] = {"look": [], "decode": []}
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            assert not suspect_image_files(paths).any()
            times["look"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert not decode_failures(paths)
            times["decode"].append(time.perf_counter() - t0)
    print(f"{n} JPEGs of {WIDTH}x{HEIGHT}, {mean_kb:.0f} KB on average; median of {ROUNDS} rounds")
    for name, label in (("look", "byte look (run, data check --fast)"), ("decode", "full decode (data check)")):
        per_1000 = statistics.median(times[name]) / n * 1000
        projected = ", ".join(f"{ds} {per_1000 * count / 1000:.1f} s" for ds, count in DATASET_IMAGES.items())
        print(f"{label}: {per_1000:.2f} s per 1000 images; projected {projected}")


def res101_read(n: int = DATASET_IMAGES["AwA2"]) -> None:
    import scipy.io

    from zslbench.data.xlsa17 import read_res101_features

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "res101.mat"
        files = np.empty((n, 1), dtype=object)
        files[:, 0] = [f"/x/JPEGImages/c/img_{i}.jpg" for i in range(n)]
        features = np.random.default_rng(0).random((2048, n), dtype=np.float32)
        scipy.io.savemat(path, {"features": features, "image_files": files,
                                "labels": (np.arange(n) % 50 + 1).astype(np.float64).reshape(-1, 1)})
        del features
        seconds = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            read_res101_features(path)
            seconds.append(time.perf_counter() - t0)
        size_mb = path.stat().st_size / 2**20
    print(f"read_res101_features of a {size_mb:.0f} MB res101.mat ({n} x 2048 float32): "
          f"{statistics.median(seconds):.2f} s (median of {ROUNDS})")


if __name__ == "__main__":
    if sys.argv[1:] == ["res101"]:
        res101_read()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else NUM_IMAGES)
