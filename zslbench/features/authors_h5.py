"""Precomputed features shipped by a dataset's authors as HDF5 files keyed by image name.

The multi-label ZSL repositories (LESA, BiAM, Generative_MLZSL) distribute
NUS-WIDE features as ``nus_wide_train.h5`` / ``nus_wide_test.h5`` with one
group of datasets per image: ``<image key>-features`` (a (512, 196) VGG-19
feature map, or a flat vector), ``<image key>-labels`` and, in the test file,
``<image key>-labels_81``. A dataset loader that finds such files records them
in ``meta["feature_files"]`` (split -> path) and the image keys in
``meta["image_keys"]``; the backbone name :data:`AUTHORS_H5_BACKBONE` then
reads them instead of encoding images.

The files are used in place (they are the cache), identified like a cache
entry: the run records the :class:`~zslbench.features.fingerprints.FeatureKey`
fingerprint over the dataset, its splits and a sample digest of each file.
Every image's ``-labels`` row is checked against the dataset's annotations
while reading, so a features file of another split or label order is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, UsageError
from zslbench.features.fileformat import FeatureSplit
from zslbench.features.fingerprints import FeatureKey, file_sample_digest, make_key

#: Backbone name of features read from the dataset authors' HDF5 files (``meta["feature_files"]``).
AUTHORS_H5_BACKBONE = "authors-h5"

_HINT = "the authors' files hold one '<image>-features' and '<image>-labels' dataset per image"


def authors_h5_key(dataset: ZSLDataset) -> FeatureKey:
    """The fingerprint of ``dataset``'s authors' feature files (dataset, splits, file sample digests)."""
    files = _feature_files(dataset)
    identity = ";".join(f"{split}={file_sample_digest(path)}" for split, path in sorted(files.items()))
    return make_key(dataset, AUTHORS_H5_BACKBONE, f"authors-h5:{identity}", "authors-h5", 0, "float32",
                    sample_image_files=False)  # the features do not depend on image files on disk


def read_authors_features(dataset: ZSLDataset, splits: tuple[str, ...]) -> dict[str, FeatureSplit]:
    """``{split: FeatureSplit}`` of the authors' features of ``splits``, in the order of ``dataset.splits``.

    A (C, L) feature map is average-pooled over its L locations into a C-d
    vector, the usual input of feature-level heads. An image absent from its
    file, a row of a different width, or ``-labels`` that disagree with the
    dataset's annotations is a DataError naming the image.
    """
    import h5py

    files = _feature_files(dataset)
    keys = dataset.meta.get("image_keys")
    if keys is None:
        raise DataError(f"{dataset.name}: the loader recorded no image keys for its feature files", _HINT)
    out: dict[str, FeatureSplit] = {}
    for split in splits:
        if split not in files:
            raise DataError(f"{dataset.name}: no authors' feature file for the {split} split", _HINT)
        indices = np.asarray(dataset.splits[split], dtype=np.int64)
        labels = np.asarray(dataset.labels[indices])
        with h5py.File(files[split], "r") as h5:
            features = np.stack([_pooled(h5, keys[i], files[split]) for i in indices]) if len(indices) else \
                np.zeros((0, 0), np.float32)
            _check_labels(h5, labels, np.asarray(dataset.seen_classes, dtype=np.int64), indices, keys, files[split])
        out[split] = FeatureSplit(features=features.astype(np.float32), labels=labels, image_ids=indices)
    return out


def _feature_files(dataset: ZSLDataset) -> dict[str, Path]:
    files = dataset.meta.get("feature_files") or {}
    if not files:
        raise UsageError(f"dataset {dataset.name!r} has no authors' feature files",
                         f"--backbone {AUTHORS_H5_BACKBONE} reads e.g. NUS-WIDE's features/nus_wide_{{train,test}}.h5; "
                         "see `zslbench data check`")
    return {split: Path(path) for split, path in files.items()}


def _pooled(h5: Any, key: str, path: Path) -> np.ndarray:
    name = f"{key}-features"
    if name not in h5:
        raise DataError(f"{path} has no features for image {key!r}", _HINT)
    value = np.asarray(h5[name][...], dtype=np.float32)
    if not np.isfinite(value).all():
        raise DataError(f"{path}: the features of image {key!r} hold NaN or infinite values",
                        "the file is damaged; download the authors' features again")
    return value.mean(axis=1) if value.ndim == 2 else value.reshape(-1)


def _check_labels(h5: Any, labels: np.ndarray, seen: np.ndarray, indices: np.ndarray, keys: list[str],
                  path: Path) -> None:
    """Each image's ``-labels`` (seen labels in training files, all labels in test files) must match ``labels``."""
    if not len(indices):
        return
    rows = labels > 0
    for position, i in enumerate(indices):
        name = f"{keys[i]}-labels"
        if name not in h5:
            continue  # some releases carry features only
        stored = np.asarray(h5[name][...]).reshape(-1) > 0
        expected = rows[position] if stored.size == rows.shape[1] else rows[position, seen]
        if stored.size != expected.size or not np.array_equal(stored, expected):
            raise DataError(f"{path}: the labels stored for image {keys[i]!r} differ from the dataset's annotations",
                            "use the feature files that belong to this copy of the dataset (same split and label order)")
