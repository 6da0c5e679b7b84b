"""The HDF5 feature cache: keys, hits without a backbone, resume, verification, locking, res101 import, CLI."""

from __future__ import annotations

import errno
import hashlib
import threading
import time
import warnings
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from zslbench import features as F
from zslbench.features import extract, fileformat
from zslbench.data.dataset import ArrayImages, FileImages, ZSLDataset
from zslbench.errors import DataError, UsageError

PATCH = 4  # pixels per patch side of the fake backbone


class FakeViT(nn.Module):
    """A ViT-shaped stand-in: patch tokens are a linear map of 4x4 patches, the class token their mean."""

    def __init__(self, seed: int = 0, dim: int = 6):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.proj = nn.Linear(3 * PATCH * PATCH, dim)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(dim, 3 * PATCH * PATCH, generator=gen))
            self.proj.bias.copy_(torch.randn(dim, generator=gen))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = images.shape[0]
        patches = images.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH).permute(0, 2, 3, 1, 4, 5)
        tokens = self.proj(patches.reshape(b, -1, 3 * PATCH * PATCH))
        return tokens.mean(1), tokens

    def group_patches(self, tokens: torch.Tensor, group: int = 2) -> torch.Tensor:
        b, n, d = tokens.shape
        side = int(round(n ** 0.5))
        grid = tokens.reshape(b, side // group, group, side // group, group, d).permute(0, 1, 3, 2, 4, 5)
        return grid.reshape(b, n // group ** 2, group * group * d)


def to_float(image: torch.Tensor) -> torch.Tensor:
    return image.float() / 255.0


def transform_factory(recipe: str, size: int, train: bool):
    assert not train  # features are always extracted with the eval transform
    return to_float


class CountingFactory:
    """backbone_factory that counts constructions; ``seed`` fixes the weights (None: a new seed each time)."""

    def __init__(self, seed: int | None = 0):
        self.seed, self.calls = seed, 0

    def __call__(self, name: str, pretrained, size: int) -> FakeViT:
        self.calls += 1
        return FakeViT(self.seed if self.seed is not None else 1000 + self.calls)


def make_dataset(n_per_class: int = 6, seed: int = 0, size: int = 8, name: str = "tiny") -> ZSLDataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), n_per_class)
    seen_idx = np.flatnonzero(labels < 2)
    return ZSLDataset(
        name=name, class_names=list("abcd"), attribute_names=["x", "y", "z"],
        class_attributes=rng.random((4, 3)), labels=labels,
        splits={"trainval": seen_idx[::2][:-1], "test_seen": np.setdiff1d(seen_idx, seen_idx[::2][:-1]),
                "test_unseen": np.flatnonzero(labels >= 2)},
        seen_classes=np.array([0, 1]), unseen_classes=np.array([2, 3]),
        images=ArrayImages(rng.integers(0, 256, (len(labels), size, size, 3), dtype=np.uint8)),
        meta={"recipe": "synthetic", "image_size": size},
    )


def fetch(dataset, factory=None, **kw):
    kw.setdefault("batch_size", 4)
    kw.setdefault("progress", False)
    return F.get_features(dataset, "fake-vit", None, kw.pop("pretrained", "none"), "cpu",
                          backbone_factory=factory or CountingFactory(), transform_factory=transform_factory, **kw)


def direct_encoding(dataset: ZSLDataset, indices: np.ndarray, seed: int = 0, grouped: bool = False):
    images = torch.stack([to_float(dataset.images.load(int(i))) for i in indices])
    with torch.no_grad():
        cls, patches = FakeViT(seed).encode(images)
        if grouped:
            patches = FakeViT(seed).group_patches(patches)
    return cls.numpy(), patches.numpy()


def only_entry(cache: F.FeatureCache):
    entries = cache.ls()
    assert len(entries) == 1
    return entries[0]


# --------------------------------------------------------------------------- contents and hits


def test_features_match_the_backbone_and_the_splits():
    ds = make_dataset()
    feats = fetch(ds, dtype="float32", with_patches=True)
    assert set(feats) == {"trainval", "test_seen", "test_unseen"}
    for split, part in feats.items():
        idx = ds.splits[split]
        cls, patches = direct_encoding(ds, idx, grouped=True)
        np.testing.assert_array_equal(part.image_ids, idx)
        np.testing.assert_array_equal(part.labels, ds.labels[idx])
        np.testing.assert_allclose(part.features, cls, rtol=1e-5, atol=1e-5)
        assert part.patches.shape == (len(idx), 1, 4 * 6)  # 2x2 grid of 4x4 patches grouped into one
        np.testing.assert_allclose(part.patches, patches, rtol=1e-5, atol=1e-5)
        features, labels, image_ids = part  # unpacks as the three arrays
        assert features.dtype == np.float32 and len(part) == len(idx)


def test_float16_is_the_default_storage():
    ds = make_dataset()
    part = fetch(ds)["test_unseen"]
    cls, _ = direct_encoding(ds, ds.splits["test_unseen"])
    assert part.features.dtype == np.float32
    np.testing.assert_array_equal(part.features, cls.astype(np.float16).astype(np.float32))
    assert only_entry(F.FeatureCache()).parts["dtype"] == "float16"


def test_cache_hit_does_not_construct_the_backbone():
    ds = make_dataset()
    first = fetch(ds, pretrained="timm")  # a named weight set: its checksum is remembered at once

    def refuse(*args):
        raise AssertionError("the backbone was constructed on a cache hit")

    second = fetch(ds, factory=refuse, pretrained="timm")
    for split in first:
        np.testing.assert_array_equal(first[split].features, second[split].features)


def test_reproducible_random_init_is_remembered_after_two_identical_constructions():
    ds = make_dataset()
    factory = CountingFactory(seed=0)
    fetch(ds, factory=factory, pretrained="none")
    assert factory.calls == 2  # the second construction proves the initialisation is reproducible
    fetch(ds, factory=factory, pretrained="none")
    assert factory.calls == 2


def test_non_reproducible_init_gets_a_new_entry_each_time():
    ds = make_dataset()
    factory = CountingFactory(seed=None)
    a = fetch(ds, factory=factory)["trainval"].features
    b = fetch(ds, factory=factory)["trainval"].features
    assert not np.array_equal(a, b)  # a different random backbone is never served stale features
    assert len(F.FeatureCache().ls()) == 2


def test_splits_argument_selects_what_is_read():
    feats = fetch(make_dataset(), splits=("test_seen",))
    assert list(feats) == ["test_seen"]
    with pytest.raises(UsageError, match="not in the feature cache entry"):
        fetch(make_dataset(), splits=("validation",))


# --------------------------------------------------------------------------- keys


def key_of(ds, **kw) -> F.FeatureKey:
    args = dict(backbone="fake-vit", weights_checksum="w0", transform_recipe="synthetic", image_size=8)
    args.update(kw)
    return F.make_key(ds, **args)


def test_every_input_changes_the_fingerprint_and_equal_inputs_do_not():
    ds = make_dataset()
    base = key_of(ds).fingerprint
    assert key_of(make_dataset()).fingerprint == base
    moved = make_dataset()
    moved.splits = {**moved.splits, "test_seen": moved.splits["test_seen"][:-1]}
    relabelled = make_dataset()
    relabelled.labels = relabelled.labels.copy()
    relabelled.labels[0] = 1
    repainted = make_dataset()
    repainted.images.pixels[3, 0, 0, 0] ^= 1
    variants = [
        key_of(moved), key_of(relabelled), key_of(repainted), key_of(make_dataset(name="other")),
        key_of(ds, backbone="other-vit"), key_of(ds, weights_checksum="w1"), key_of(ds, transform_recipe="awa2"),
        key_of(ds, image_size=16), key_of(ds, dtype="float32"), key_of(ds, with_patches=True),
        key_of(ds, with_patches=True, patch_group=1),
    ]
    prints = [k.fingerprint for k in variants]
    assert base not in prints and len(set(prints)) == len(prints)


def _whole_array_split_digest(labels: np.ndarray, splits: dict) -> str:
    """split_fingerprint's digest as first written: the labels widened to int64 in one copy."""
    h = hashlib.sha256()
    whole = np.ascontiguousarray(labels, dtype=np.int64)
    h.update(f"labels{whole.shape}".encode())
    h.update(whole.tobytes())
    for name in sorted(splits):
        idx = np.ascontiguousarray(splits[name], dtype=np.int64)
        h.update(f"|{name}:{idx.size}|".encode())
        h.update(idx.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("multi_label", [False, True])
def test_split_fingerprint_in_blocks_is_the_digest_of_the_whole_int64_labels(multi_label):
    rng = np.random.default_rng(0)
    labels = (rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(37, 11)) if multi_label
              else rng.integers(0, 5, 37))
    ds = SimpleNamespace(labels=labels, splits={"trainval": np.arange(20), "test_unseen": np.arange(20, 37)})
    expected = _whole_array_split_digest(labels, ds.splits)  # cache keys written before blocks stay valid
    assert F.split_fingerprint(ds) == expected
    assert F.split_fingerprint(ds, block=5) == expected  # 5 does not divide the 407 or 37 elements
    changed = labels.copy()
    changed.flat[-1] = 1 - changed.flat[-1]
    assert F.split_fingerprint(SimpleNamespace(labels=changed, splits=ds.splits), block=5) != expected


def test_patch_group_does_not_matter_without_patches():
    ds = make_dataset()
    assert key_of(ds, patch_group=1).fingerprint == key_of(ds, patch_group=2).fingerprint


def test_meta_outside_the_identity_keys_keeps_the_key():
    ds, other = make_dataset(), make_dataset()
    other.meta = {**other.meta, "attributes": "original_att"}  # class attributes do not change pixels
    assert key_of(ds).fingerprint == key_of(other).fingerprint


def test_state_dict_checksum_sees_weights_and_shapes():
    assert F.state_dict_checksum(FakeViT(0)) == F.state_dict_checksum(FakeViT(0))
    assert F.state_dict_checksum(FakeViT(0)) != F.state_dict_checksum(FakeViT(1))
    assert F.state_dict_checksum(FakeViT(0)) != F.state_dict_checksum(FakeViT(0, dim=7))
    big = nn.Linear(300, 100)
    changed = nn.Linear(300, 100)
    changed.load_state_dict(big.state_dict())
    with torch.no_grad():
        changed.weight[0, 0] += 1.0  # the first element is always sampled
    assert F.state_dict_checksum(big) != F.state_dict_checksum(changed)


def test_a_replaced_checkpoint_file_gives_a_new_entry(tmp_path):
    ds = make_dataset()
    ckpt = tmp_path / "weights.pt"
    ckpt.write_bytes(b"v1")
    loads = []

    def from_file(name, pretrained, size):
        loads.append(pretrained)
        return FakeViT(seed={b"v1": 0, b"v22": 1}[open(pretrained, "rb").read()])

    a = fetch(ds, factory=from_file, pretrained=str(ckpt))["trainval"].features
    assert len(loads) == 1  # a named source: remembered without a second construction
    ckpt.write_bytes(b"v22")
    b = fetch(ds, factory=from_file, pretrained=str(ckpt))["trainval"].features
    assert not np.array_equal(a, b) and len(F.FeatureCache().ls()) == 2


def test_bad_dtype_is_a_usage_error():
    with pytest.raises(UsageError, match="dtype"):
        key_of(make_dataset(), dtype="int8")


# --------------------------------------------------------------------------- resume, verification, disk full


class Interrupted(Exception):
    pass


class ChunkSource:
    """An ArraySource that counts the rows it produces and can fail after some chunks."""

    def __init__(self, features: np.ndarray, fail_after_chunks: int | None = None, delay_s: float = 0.0):
        self.features, self.fail_after, self.delay_s = features, fail_after_chunks, delay_s
        self.rows = 0
        self.chunks = 0

    def iter_chunks(self, indices, chunk_rows):
        for cls, patches in F.ArraySource(self.features).iter_chunks(indices, chunk_rows):
            if self.fail_after is not None and self.chunks >= self.fail_after:
                raise Interrupted
            time.sleep(self.delay_s)
            self.chunks += 1
            self.rows += len(cls)
            yield cls, patches


def array_key(ds, dtype="float32") -> F.FeatureKey:
    return key_of(ds, backbone="array", dtype=dtype)


def random_features(ds, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(len(ds.labels), dim)).astype(np.float32)


def test_an_interrupted_build_resumes_from_the_written_chunks():
    ds = make_dataset(n_per_class=10)
    feats = random_features(ds)
    cache, key = F.FeatureCache(), array_key(ds)
    failing = ChunkSource(feats, fail_after_chunks=5)
    with pytest.raises(Interrupted):
        cache.build_from_source(ds, failing, key, chunk_rows=3)
    assert cache.lookup(key) is None
    assert only_entry(cache).status == "partial"
    with h5py.File(cache.path_for(key), "r") as f:
        written = sum(int(f[s].attrs["written"]) for s in ds.splits)
    assert written == failing.rows and 0 < written < len(ds.labels)
    resumed = ChunkSource(feats)
    entry = cache.build_from_source(ds, resumed, key, chunk_rows=99)  # the file keeps its own chunking
    assert resumed.rows == len(ds.labels) - written
    for split, idx in ds.splits.items():
        np.testing.assert_array_equal(cache.read(entry, split).features, feats[idx])


class FlakyViT(FakeViT):
    """FakeViT that counts encoded images and fails on its ``fail_on``-th encode call."""

    def __init__(self, fail_on: int | None, encoded: list[int]):
        super().__init__(0)
        self.fail_on, self.encoded = fail_on, encoded

    def encode(self, images):
        if self.fail_on is not None and len(self.encoded) + 1 == self.fail_on:
            raise Interrupted
        self.encoded.append(images.shape[0])
        return super().encode(images)


def test_get_features_resumes_an_interrupted_backbone_build():
    ds = make_dataset(n_per_class=8)
    encoded: list[int] = []
    with pytest.raises(Interrupted):
        fetch(ds, factory=lambda *a: FlakyViT(fail_on=4, encoded=encoded), pretrained="timm", progress=True)
    done_before = sum(encoded)
    assert 0 < done_before < len(ds.labels)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()  # no mode leaks from the build
    encoded.clear()
    feats = fetch(ds, factory=lambda *a: FlakyViT(fail_on=None, encoded=encoded), pretrained="timm")
    assert sum(encoded) == len(ds.labels) - done_before
    for split, idx in ds.splits.items():
        cls, _ = direct_encoding(ds, idx)
        np.testing.assert_array_equal(feats[split].features, cls.astype(np.float16).astype(np.float32))


def test_a_corrupt_chunk_of_a_partial_file_is_re_encoded():
    ds = make_dataset(n_per_class=10)
    feats = random_features(ds)
    cache, key = F.FeatureCache(), array_key(ds)
    with pytest.raises(Interrupted):
        cache.build_from_source(ds, ChunkSource(feats, fail_after_chunks=3), key, chunk_rows=3)
    first_split = sorted(ds.splits)[0]
    with h5py.File(cache.path_for(key), "a") as f:
        assert int(f[first_split].attrs["written"]) == 9
        f[first_split]["cls"][4] = 123.0  # damage the second chunk
    resumed = ChunkSource(feats)
    entry = cache.build_from_source(ds, resumed, key, chunk_rows=3)
    assert resumed.rows == len(ds.labels) - 3  # everything from the damaged chunk on
    np.testing.assert_array_equal(cache.read(entry, first_split).features, feats[ds.splits[first_split]])


def test_disk_full_leaves_an_incomplete_entry_that_resumes(monkeypatch):
    ds = make_dataset(n_per_class=10)
    feats = random_features(ds)
    cache, key = F.FeatureCache(), array_key(ds)
    real_write, calls = fileformat._write_chunk, []

    def full_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(fileformat, "_write_chunk", full_disk)
    with pytest.raises(DataError, match="disk full"):
        cache.build_from_source(ds, ChunkSource(feats), key, chunk_rows=4)
    assert cache.path_for(key).exists()
    with h5py.File(cache.path_for(key), "r") as f:
        assert not f.attrs["complete"]
    assert cache.lookup(key) is None
    monkeypatch.setattr(fileformat, "_write_chunk", real_write)
    entry = cache.build_from_source(ds, ChunkSource(feats), key, chunk_rows=4)
    np.testing.assert_array_equal(cache.read(entry, "test_unseen").features, feats[ds.splits["test_unseen"]])


def test_a_truncated_file_is_reported_and_rebuilt():
    ds = make_dataset()
    fetch(ds)
    path = only_entry(F.FeatureCache()).path
    path.write_bytes(path.read_bytes()[:1000])
    factory = CountingFactory()
    with pytest.warns(RuntimeWarning, match=path.name):
        feats = fetch(ds, factory=factory)
    assert factory.calls >= 1
    cls, _ = direct_encoding(ds, ds.splits["trainval"])
    np.testing.assert_array_equal(feats["trainval"].features, cls.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("damage", ["fingerprint", "shape", "data"])
def test_a_file_failing_verification_is_reported_and_rebuilt(damage):
    ds = make_dataset()
    expected = fetch(ds)["test_unseen"].features
    path = only_entry(F.FeatureCache()).path
    with h5py.File(path, "a") as f:
        if damage == "fingerprint":
            f.attrs["fingerprint"] = "0" * 64
        elif damage == "shape":
            del f["test_unseen"]["cls"]
            f["test_unseen"].create_dataset("cls", data=np.zeros((3, 6), np.float16))
        else:
            f["test_unseen"]["cls"][0] = f["test_unseen"]["cls"][0] + 1
    with pytest.warns(RuntimeWarning, match=path.name):
        again = fetch(ds)["test_unseen"].features
    np.testing.assert_array_equal(again, expected)


def test_read_verifies_chunk_checksums():
    ds = make_dataset()
    fetch(ds)
    cache = F.FeatureCache()
    path = only_entry(cache).path
    with h5py.File(path, "a") as f:
        f["trainval"]["cls"][1] = 0.0
    entry = F.CacheEntry(path, "", {}, {"trainval": len(ds.splits["trainval"])}, 6, None, "float16")
    with pytest.raises(F.CorruptEntryError, match="checksum"):
        cache.read(entry, "trainval")
    assert cache.read(entry, "trainval", verify=False).features[1].sum() == 0


# --------------------------------------------------------------------------- locking


def test_a_held_lock_makes_another_builder_wait_then_time_out():
    ds = make_dataset()
    key = array_key(ds)
    with F.FeatureCache().lock(key):
        with pytest.raises(F.CacheLockTimeout, match="another process"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.FeatureCache(lock_timeout_s=0.3).build_from_source(ds, ChunkSource(random_features(ds)), key)


def test_concurrent_builders_of_one_entry_build_it_once():
    ds = make_dataset(n_per_class=8)
    feats = random_features(ds)
    key = array_key(ds)
    sources = [ChunkSource(feats, delay_s=0.01), ChunkSource(feats, delay_s=0.01)]
    results, errors = [], []

    def build(source):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "waiting for another process"
                results.append(F.FeatureCache().build_from_source(ds, source, key, chunk_rows=2))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert sorted(s.rows for s in sources) == [0, len(ds.labels)]
    np.testing.assert_array_equal(F.FeatureCache().read(results[0], "trainval").features, feats[ds.splits["trainval"]])


# --------------------------------------------------------------------------- ls / rm


def test_ls_lists_entries_and_rm_removes_by_prefix():
    cache = F.FeatureCache()
    ds = make_dataset()
    k1, k2 = array_key(ds), array_key(ds, dtype="float16")
    for key in (k1, k2):
        cache.build_from_source(ds, ChunkSource(random_features(ds)), key)
    listed = {e.fingerprint: e for e in cache.ls()}
    assert set(listed) == {k1.fingerprint, k2.fingerprint}
    info = listed[k1.fingerprint]
    assert info.status == "complete" and info.size_bytes > 0 and info.created
    assert info.parts["backbone"] == "array" and info.split_sizes["test_unseen"] == len(ds.splits["test_unseen"])
    with pytest.raises(UsageError, match="no feature cache entry"):
        cache.rm("zzzz")
    removed = cache.rm(k1.fingerprint[:10])
    assert removed == [cache.path_for(k1)] and not cache.path_for(k1).exists()
    assert cache.rm(all_entries=True) == [cache.path_for(k2)]
    assert cache.ls() == []


def test_rm_refuses_an_ambiguous_prefix():
    cache = F.FeatureCache()
    ds = make_dataset()
    for key in (array_key(ds), array_key(ds, dtype="float16")):
        cache.build_from_source(ds, ChunkSource(random_features(ds)), key)
    with pytest.raises(UsageError, match="matches 2"):
        cache.rm("tiny-")  # both file names start with it


# --------------------------------------------------------------------------- res101 import


def res101_dataset(tmp_path, n_per_class=5):
    ds = make_dataset(n_per_class=n_per_class, name="awa2")
    mat = tmp_path / "res101.mat"
    mat.write_bytes(b"stand-in for the published file")
    ds.images = FileImages([tmp_path / "JPEGImages" / f"img{i}.jpg" for i in range(len(ds.labels))])
    ds.meta = {"recipe": "awa2", "res101_file": str(mat), "image_dir": str(tmp_path / "JPEGImages")}
    return ds, mat


def test_res101_import_is_exact_and_cached(tmp_path, monkeypatch):
    import zslbench.data.xlsa17 as xlsa17

    ds, _ = res101_dataset(tmp_path)
    published = np.random.default_rng(1).random((len(ds.labels), 2048)).astype(np.float32)
    monkeypatch.setattr(xlsa17, "load_res101_features",
                        lambda name, cfg: (published, ds.labels.copy(), np.array([f"img{i}.jpg" for i in range(len(ds.labels))])))
    feats = F.get_features(ds, F.RES101_BACKBONE, None, None, "cpu")
    for split, idx in ds.splits.items():
        np.testing.assert_array_equal(feats[split].features, published[idx])  # float32: exactly the file
    monkeypatch.setattr(xlsa17, "load_res101_features", lambda *a: pytest.fail("res101.mat was read again"))
    again = F.get_features(ds, F.RES101_BACKBONE, None, None, "cpu", splits=("trainval",))
    np.testing.assert_array_equal(again["trainval"].features, published[ds.splits["trainval"]])
    assert only_entry(F.FeatureCache()).parts["backbone"] == F.RES101_BACKBONE
    with pytest.raises(UsageError, match="no patch tokens"):
        F.get_features(ds, F.RES101_BACKBONE, None, None, "cpu", with_patches=True)


def test_res101_import_rejects_features_of_other_images(tmp_path, monkeypatch):
    import zslbench.data.xlsa17 as xlsa17

    ds, _ = res101_dataset(tmp_path)
    wrong = np.roll(ds.labels, 1)
    monkeypatch.setattr(xlsa17, "load_res101_features",
                        lambda name, cfg: (np.zeros((len(ds.labels), 2048), np.float32), wrong, np.array([])))
    with pytest.raises(DataError, match="do not match"):
        F.import_res101(ds)


def test_res101_key_follows_the_file_and_ignores_image_files(tmp_path):
    ds, mat = res101_dataset(tmp_path)
    before = F.res101_key(ds).fingerprint
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "img0.jpg").write_bytes(b"now downloaded")
    assert F.res101_key(ds).fingerprint == before
    mat.write_bytes(b"a different res101.mat")
    assert F.res101_key(ds).fingerprint != before


# --------------------------------------------------------------------------- helpers and CLI


def test_select_images_gathers_rows_across_splits():
    feats = fetch(make_dataset())
    wanted = np.array([feats["test_unseen"].image_ids[2], feats["trainval"].image_ids[0]])
    picked = F.select_images(feats, wanted)
    np.testing.assert_array_equal(picked.image_ids, wanted)
    np.testing.assert_array_equal(picked.features[0], feats["test_unseen"].features[2])
    np.testing.assert_array_equal(picked.features[1], feats["trainval"].features[0])
    with pytest.raises(DataError):
        F.select_images(feats, np.array([10_000]))


@pytest.fixture
def cli_registry(monkeypatch):
    """The cache CLI against a registry holding only the tiny dataset, with the fake backbone and transform."""
    from zslbench import plugins, registry
    from zslbench.registry import DatasetSpec, Origin

    monkeypatch.setattr(plugins, "ensure_loaded", lambda: None)
    monkeypatch.setattr(registry, "datasets", registry.Registry("dataset"))
    registry.datasets.add("tiny", DatasetSpec("tiny", load=lambda cfg: make_dataset(), default_image_size=8),
                          Origin("test"))
    monkeypatch.setattr(extract, "_default_backbone_factory", CountingFactory())
    monkeypatch.setattr(extract, "_default_transform_factory", lambda recipe, size, train, backbone_name=None: transform_factory(recipe, size, train))


def test_cli_build_ls_rm(cli_registry):
    from zslbench.features.cli import cache

    runner = CliRunner()
    assert "empty" in runner.invoke(cache, ["ls"]).output
    built = runner.invoke(cache, ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--pretrained", "none",
                                  "--dtype", "float32", "--patches", "--device", "cpu", "--batch-size", "4"])
    assert built.exit_code == 0, built.output
    assert ".h5" in built.output and "test_unseen 12" in built.output
    listing = runner.invoke(cache, ["ls"])
    fingerprint = only_entry(F.FeatureCache()).fingerprint
    assert listing.exit_code == 0 and fingerprint[:12] in listing.output and "float32" in listing.output
    removed = runner.invoke(cache, ["rm", fingerprint[:8]])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert F.FeatureCache().ls() == []


def test_cli_user_errors_are_one_line(cli_registry):
    from zslbench.features.cli import cache

    runner = CliRunner()
    unknown = runner.invoke(cache, ["build", "--dataset", "nope", "--backbone", "fake-vit"])
    assert unknown.exit_code == 2 and "unknown dataset 'nope'" in unknown.output and "Traceback" not in unknown.output
    nothing = runner.invoke(cache, ["rm", "abc"])
    assert nothing.exit_code == 2 and "no feature cache entry" in nothing.output
    both = runner.invoke(cache, ["rm", "abc", "--all"])
    assert both.exit_code == 2
    bad_batch = runner.invoke(cache, ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--batch-size", "0"])
    assert bad_batch.exit_code == 2 and "--batch-size" in bad_batch.output


def test_cli_imports_res101_of_a_miniature_xlsa17_copy_without_images(tmp_path):
    """The real loader and registry: `cache build --backbone resnet101-xlsa17` needs no image folder."""
    try:
        from tests.fixtures_xlsa17 import build_xlsa17_layout
    except ImportError:  # tests/ on sys.path
        from fixtures_xlsa17 import build_xlsa17_layout
    from zslbench.features.cli import cache
    from zslbench.config import DataConfig
    from zslbench.data import xlsa17

    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False)
    result = CliRunner().invoke(cache, ["build", "--dataset", "awa2", "--backbone", F.RES101_BACKBONE,
                                        "--data-root", str(layout.root)])
    assert result.exit_code == 0, result.output
    dataset = xlsa17.load_dataset("awa2", DataConfig(root=str(layout.root)), require_images=False)
    feats = F.get_features(dataset, F.RES101_BACKBONE, DataConfig(root=str(layout.root)))
    assert only_entry(F.FeatureCache()).parts["dtype"] == "float32"
    for split, idx in dataset.splits.items():
        np.testing.assert_array_equal(feats[split].features, layout.features[idx])
        np.testing.assert_array_equal(feats[split].labels, layout.labels[idx])


def test_random_init_features_are_one_fixed_network_so_the_built_entry_is_reused():
    """`cache build` then a run (another RNG state) of the same request: one entry, listed as reproducible."""
    ds = make_dataset(size=32)
    ds.meta["recipe"] = "synthetic"
    options = dict(progress=False, batch_size=8, transform_factory=transform_factory)
    torch.manual_seed(123)
    built = F.get_features(ds, "vit-synthetic-tiny", None, None, "cpu", **options)
    torch.manual_seed(7)  # a run seeds its own RNG before asking for features
    again = F.get_features(ds, "vit-synthetic-tiny", None, None, "cpu", **options)
    np.testing.assert_array_equal(built["trainval"].features, again["trainval"].features)
    cache = F.FeatureCache()
    entry = only_entry(cache)
    provenance = F.weights_provenance(cache, entry.parts)
    assert provenance.reproducible is True and provenance.source == "random init (seed 0)"


def test_cache_ls_shows_the_weights_source_and_reproducibility(cli_registry):
    from zslbench.features.cli import cache

    runner = CliRunner()
    built = runner.invoke(cache, ["build", "--dataset", "tiny", "--backbone", "fake-vit", "--pretrained", "timm",
                                  "--device", "cpu", "--batch-size", "4"])
    assert built.exit_code == 0, built.output
    header, row = runner.invoke(cache, ["ls"]).output.splitlines()[:2]
    assert "weights" in header and "reproducible" in header
    assert "timm weights" in row and " yes " in row


def test_entries_of_a_non_reproducible_source_are_listed_as_such():
    ds = make_dataset()
    fetch(ds, factory=CountingFactory(seed=None))
    cache = F.FeatureCache()
    provenance = F.weights_provenance(cache, only_entry(cache).parts)
    assert provenance.reproducible is False and provenance.source == "random init (unseeded)"
