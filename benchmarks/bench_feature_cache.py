"""Feature cache throughput and the cost of a feature-level run with a cold vs a warm cache.

Run: ``.venv/bin/python -m pytest benchmarks/bench_feature_cache.py --benchmark-only -s``
(``-s`` shows the MB/s lines; they are also stored in the benchmark's extra_info).

* write / read: an AwA2-sized entry, 37,322 x 768 float16 class tokens (random
  data), AwA2's split sizes, written through the regular build path (chunks,
  checksums, flushes) and read back with verification of every array.
* read vs np.load: in one test (same machine state), warm reads of the entry
  (verified, stored dtype; verified, as float32 as runs get it) against
  ``np.load`` of the same array saved as .npy; printed as ratios.
* cold / warm: ESZSL fitted and scored on a small synthetic dataset whose
  features come from a tiny stand-in backbone: cold = empty cache (the backbone
  is built and every image encoded), warm = cache hit (no backbone).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from zslbench import features as F
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench_baselines.classic import ESZSL, ESZSLOptions

AWA2_SPLITS = {"trainval": 23_527, "test_seen": 5_882, "test_unseen": 7_913}  # 37,322 images
VIT_B_DIM = 768


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))
    return tmp_path


def awa2_sized_dataset() -> ZSLDataset:
    n = sum(AWA2_SPLITS.values())
    starts = np.cumsum([0, *AWA2_SPLITS.values()])
    labels = np.arange(n) % 40  # 40 seen classes ...
    labels[starts[2]:] = 40 + np.arange(AWA2_SPLITS["test_unseen"]) % 10  # ... and 10 unseen ones
    return ZSLDataset(
        name="awa2-sized", class_names=[f"c{i}" for i in range(50)], attribute_names=[f"a{i}" for i in range(85)],
        class_attributes=np.zeros((50, 85)), labels=labels,
        splits={name: np.arange(starts[i], starts[i + 1]) for i, name in enumerate(AWA2_SPLITS)},
        seen_classes=np.arange(40), unseen_classes=np.arange(40, 50),
        images=ArrayImages(np.zeros((n, 1, 1, 3), np.uint8)), meta={"recipe": "bench"},
    )


def _report(benchmark, label: str, megabytes: float) -> None:
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update({"megabytes": round(megabytes, 1), "MB_per_s": round(megabytes / seconds, 1)})
    print(f"\n{label}: {megabytes:.1f} MB in {seconds * 1e3:.0f} ms -> {megabytes / seconds:.0f} MB/s")


def test_write_throughput_awa2_sized(benchmark, cache_root):
    ds = awa2_sized_dataset()
    tokens = np.random.default_rng(0).normal(size=(len(ds.labels), VIT_B_DIM)).astype(np.float16)
    key = F.make_key(ds, "bench-vit", "w", "bench", 224, dtype="float16")
    cache = F.FeatureCache()

    def clear():
        cache.path_for(key).unlink(missing_ok=True)

    benchmark.pedantic(lambda: cache.build_from_source(ds, F.ArraySource(tokens), key, chunk_rows=256),
                       setup=clear, rounds=3, iterations=1)
    _report(benchmark, "write float16 37,322 x 768", tokens.nbytes / 1e6)


def test_read_throughput_awa2_sized(benchmark, cache_root):
    ds = awa2_sized_dataset()
    tokens = np.random.default_rng(0).normal(size=(len(ds.labels), VIT_B_DIM)).astype(np.float16)
    key = F.make_key(ds, "bench-vit", "w", "bench", 224, dtype="float16")
    cache = F.FeatureCache()
    entry = cache.build_from_source(ds, F.ArraySource(tokens), key, chunk_rows=256)

    def read_all():
        return {split: cache.read(entry, split) for split in AWA2_SPLITS}

    out = benchmark.pedantic(read_all, rounds=5, iterations=1)
    assert sum(len(s) for s in out.values()) == len(ds.labels)
    _report(benchmark, "read+verify float16 37,322 x 768", tokens.nbytes / 1e6)


def _best_seconds(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def test_verified_read_vs_np_load(benchmark, cache_root, tmp_path):
    """Ratios from one run: warm read + verify of the whole entry over np.load of the same float16 array."""
    ds = awa2_sized_dataset()
    tokens = np.random.default_rng(0).normal(size=(len(ds.labels), VIT_B_DIM)).astype(np.float16)
    key = F.make_key(ds, "bench-vit", "w", "bench", 224, dtype="float16")
    cache = F.FeatureCache()
    entry = cache.build_from_source(ds, F.ArraySource(tokens), key, chunk_rows=256)
    npy = tmp_path / "tokens.npy"
    np.save(npy, tokens)

    def read(dtype):
        return lambda: {split: cache.read(entry, split, dtype=dtype) for split in AWA2_SPLITS}

    for fn in (read(None), read("float32"), lambda: np.load(npy)):  # warm the page cache
        fn()
    rounds = 9
    seconds = {"np_load": [], "read_verify_stored": [], "read_verify_float32": []}
    for _ in range(rounds):  # interleaved, so a busy moment of the machine hits all three alike
        seconds["np_load"].append(_best_seconds(lambda: np.load(npy), 1))
        seconds["read_verify_stored"].append(_best_seconds(read(None), 1))
        seconds["read_verify_float32"].append(_best_seconds(read("float32"), 1))
    megabytes = tokens.nbytes / 1e6
    rates = {name: megabytes / float(np.median(values)) for name, values in seconds.items()}
    ratios = {name: rates[name] / rates["np_load"] for name in ("read_verify_stored", "read_verify_float32")}
    benchmark.extra_info.update({f"{k}_MB_per_s": round(v, 1) for k, v in rates.items()})
    benchmark.extra_info.update({f"{k}_over_np_load": round(v, 3) for k, v in ratios.items()})
    benchmark.pedantic(read(None), rounds=3, iterations=1)
    print(f"\nAwA2-sized float16 entry ({megabytes:.1f} MB), median of {rounds} interleaved rounds:")
    print(f"  np.load (.npy, same array):          {rates['np_load']:.0f} MB/s")
    print(f"  read + verify (stored float16):      {rates['read_verify_stored']:.0f} MB/s "
          f"= {ratios['read_verify_stored']:.0%} of np.load")
    print(f"  read + verify + float32 (run path):  {rates['read_verify_float32']:.0f} MB/s "
          f"= {ratios['read_verify_float32']:.0%} of np.load")


# --------------------------------------------------------------------------- cold vs warm feature-level run


class TinyBackbone(nn.Module):
    """A small conv stem + linear layer with a ViT-style encode (class token, patch tokens)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 64, kernel_size=4, stride=4)
        self.mix = nn.Linear(64, 64)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.mix(torch.relu(self.stem(images)).flatten(2).transpose(1, 2))
        return tokens.mean(1), tokens

    def group_patches(self, tokens: torch.Tensor, group: int = 2) -> torch.Tensor:  # pragma: no cover - unused
        raise NotImplementedError


def synthetic_feature_dataset(num_classes: int = 30, per_class: int = 40, size: int = 32) -> ZSLDataset:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(num_classes), per_class)
    colours = rng.integers(0, 256, (num_classes, 3))
    pixels = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 30, (len(labels), size, size, 3)), 0, 255)
    unseen = np.arange(num_classes - 8, num_classes)
    seen_idx = np.flatnonzero(labels < num_classes - 8)
    return ZSLDataset(
        name="bench-synthetic", class_names=[f"c{i}" for i in range(num_classes)], attribute_names=["r", "g", "b"],
        class_attributes=colours / 255.0, labels=labels,
        splits={"trainval": seen_idx[seen_idx % 5 != 0], "test_seen": seen_idx[seen_idx % 5 == 0],
                "test_unseen": np.flatnonzero(np.isin(labels, unseen))},
        seen_classes=np.arange(num_classes - 8), unseen_classes=unseen,
        images=ArrayImages(pixels.astype(np.uint8)), meta={"recipe": "bench", "image_size": size},
    )


def eszsl_run(ds: ZSLDataset) -> float:
    feats = F.get_features(ds, "tiny-backbone", None, "bench-weights", "cpu", batch_size=128, progress=False,
                           backbone_factory=lambda name, pretrained, size: TinyBackbone(),
                           transform_factory=lambda recipe, size, train: (lambda img: img.float() / 255.0))
    seen = ds.seen_classes
    remap = np.full(ds.num_classes, -1)
    remap[seen] = np.arange(len(seen))
    model = ESZSL(ESZSLOptions(gamma_exp=-1, lambda_exp=-1))
    model.fit(feats["trainval"].features, remap[feats["trainval"].labels], ds.class_attributes[seen])
    scores = model.class_scores(feats["test_unseen"].features, ds.class_attributes[ds.unseen_classes])
    return float(np.mean(ds.unseen_classes[scores.argmax(1)] == feats["test_unseen"].labels))


def test_eszsl_run_cold_cache(benchmark, cache_root):
    ds = synthetic_feature_dataset()

    def clear():
        for info in F.FeatureCache().ls():
            info.path.unlink()

    accuracy = benchmark.pedantic(lambda: eszsl_run(ds), setup=clear, rounds=3, iterations=1)
    benchmark.extra_info["images"] = len(ds.labels)
    print(f"\ncold ESZSL run ({len(ds.labels)} images): {benchmark.stats.stats.mean * 1e3:.0f} ms, unseen acc {accuracy:.2f}")


def test_eszsl_run_warm_cache(benchmark, cache_root):
    ds = synthetic_feature_dataset()
    eszsl_run(ds)  # fill the cache
    accuracy = benchmark.pedantic(lambda: eszsl_run(ds), rounds=5, iterations=1)
    print(f"\nwarm ESZSL run ({len(ds.labels)} images): {benchmark.stats.stats.mean * 1e3:.0f} ms, unseen acc {accuracy:.2f}")


NUS_WIDE_LABEL_MATRIX = (269_648, 1_006)  # images x (81 + 925) labels, +1 / -1 / 0 as int8


def test_split_fingerprint_of_a_nus_wide_sized_label_matrix(benchmark):
    """Peak memory and time of the split fingerprint of an int8 multi-label matrix, against widening it whole."""
    import hashlib
    import tracemalloc
    from types import SimpleNamespace

    labels = np.random.default_rng(0).choice(np.array([-1, 0, 1], dtype=np.int8), size=NUS_WIDE_LABEL_MATRIX)
    dataset = SimpleNamespace(labels=labels, splits={"trainval": np.arange(labels.shape[0])})

    def measured(fn) -> tuple[float, float]:
        tracemalloc.start()
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return seconds, peak / 2**20

    whole_seconds, whole_mb = measured(lambda: hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest())
    block_seconds, block_mb = benchmark.pedantic(measured, args=(lambda: F.split_fingerprint(dataset),),
                                                 rounds=1, iterations=1)
    benchmark.extra_info.update(whole_seconds=whole_seconds, whole_peak_mib=whole_mb,
                                block_seconds=block_seconds, block_peak_mib=block_mb)
    print(f"\nsplit fingerprint of {labels.shape} int8 labels ({labels.nbytes / 2**20:.0f} MiB): "
          f"in blocks {block_seconds:.2f} s, peak {block_mb:.0f} MiB; widened whole {whole_seconds:.2f} s, "
          f"peak {whole_mb:.0f} MiB (memory ratio {whole_mb / block_mb:.0f}x, time ratio "
          f"{whole_seconds / block_seconds:.2f})")
    assert block_mb < whole_mb / 10
