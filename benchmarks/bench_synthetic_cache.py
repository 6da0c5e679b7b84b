"""Cost of verifying the synthetic dataset cache on load: the CRC-32 of every array of ``synthetic`` (v3).

Run: ``.venv/bin/python -m pytest benchmarks/bench_synthetic_cache.py --benchmark-only -s``
(``-s`` shows the line; the numbers are also stored in the benchmark's extra_info).

The cache file of ``synthetic`` (v3, 2,760 images of 96x96: pixels, segmentation,
labels, splits; written once here) is loaded warm through the real hit path
(``synthetic_v2.load_arrays``) with verification, and with the checksum step
replaced by a plain read, in interleaved rounds on the same machine state. The
overhead is the difference of the medians.
"""

from __future__ import annotations

import statistics
import time

import pytest

from zslbench.data import h5cache, synthetic_v2

ROUNDS = 7


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))
    return tmp_path


def _unverified(f, name):
    return f[name][()]


def test_verified_load_of_synthetic_v3(benchmark, cache_root, monkeypatch):
    preset = synthetic_v2.PRESETS["synthetic"]
    synthetic_v2.load_arrays(preset, 0)  # generate and write the cache file once
    path = synthetic_v2.cache_path(preset, 0)
    verified_s, plain_s = [], []
    for _ in range(ROUNDS):  # interleaved: both see the same machine load
        start = time.perf_counter()
        arrays = synthetic_v2.load_arrays(preset, 0)
        verified_s.append(time.perf_counter() - start)
        with monkeypatch.context() as patched:
            patched.setattr(h5cache, "_verified", _unverified)
            start = time.perf_counter()
            synthetic_v2.load_arrays(preset, 0)
            plain_s.append(time.perf_counter() - start)
    assert len(arrays.pixels) == preset.num_images
    benchmark.pedantic(synthetic_v2.load_arrays, args=(preset, 0), rounds=3, iterations=1)
    megabytes = sum(a.nbytes for a in (arrays.pixels, arrays.segmentation, arrays.labels)) / 1e6
    verified, plain = statistics.median(verified_s), statistics.median(plain_s)
    benchmark.extra_info.update(verified_ms=round(verified * 1e3, 1), unverified_ms=round(plain * 1e3, 1),
                                megabytes=round(megabytes, 1))
    print(f"\nsynthetic v3 cache hit ({megabytes:.0f} MB, {path.stat().st_size / 1e6:.0f} MB on disk), median of "
          f"{ROUNDS} interleaved rounds: verified {verified * 1e3:.0f} ms, unverified {plain * 1e3:.0f} ms, "
          f"overhead {(verified - plain) * 1e3:.0f} ms ({(verified / plain - 1) * 100:.0f}%)")
