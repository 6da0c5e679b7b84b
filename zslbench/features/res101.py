"""The published ResNet-101 features of Xian et al. (``res101.mat``), imported as the backbone
:data:`RES101_BACKBONE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError
from zslbench.features.cache import FeatureCache
from zslbench.features.fileformat import CacheEntry
from zslbench.features.fingerprints import FeatureKey, file_sample_digest, make_key
from zslbench.features.sources import ArraySource

#: Backbone name of the published ResNet-101 features of Xian et al. (res101.mat).
RES101_BACKBONE = "resnet101-xlsa17"


def res101_key(dataset: ZSLDataset, data_cfg: Any = None, dtype: str = "float32") -> FeatureKey:
    """The cache key of the published res101 features of ``dataset`` (computed without loading them)."""
    res101 = dataset.meta.get("res101_file")
    identity = "unlocated"
    if res101 and Path(res101).is_file():
        identity = file_sample_digest(Path(res101))
    return make_key(dataset, RES101_BACKBONE, f"res101.mat:{identity}", "xlsa17-res101", 224, dtype,
                    sample_image_files=False)  # the features do not depend on the image files


def import_res101(dataset: ZSLDataset, data_cfg: Any = None, cache: FeatureCache | None = None,
                  dtype: str = "float32") -> CacheEntry:
    """Import the published ResNet-101 features (res101.mat of xlsa17) as a cache entry.

    Backbone name :data:`RES101_BACKBONE`; row ``i`` of res101.mat is image
    ``i`` of the dataset (checked through the labels). Returns the existing
    entry when already imported.
    """
    cache = cache or FeatureCache()
    key = res101_key(dataset, data_cfg, dtype)
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    from zslbench.data.xlsa17 import load_res101_features

    features, labels, _ = load_res101_features(dataset.name, data_cfg)
    dataset_labels = np.asarray(dataset.labels)
    if features.shape[0] != len(dataset_labels) or not np.array_equal(labels, dataset_labels):
        raise DataError(f"{dataset.name}: res101.mat holds {features.shape[0]} images whose labels do not match "
                        f"the dataset's {len(dataset_labels)} images",
                        "use att_splits.mat and res101.mat from one xlsa17 download")
    return cache.build_from_source(dataset, ArraySource(features), key, chunk_rows=1024)
