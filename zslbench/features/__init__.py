"""The feature cache: frozen backbone features of a dataset, stored once in HDF5 and reused.

Feature-level methods (ESZSL, SAE, ALE, ...) never see pixels; they are fitted
on the class tokens (and optionally the grouped patch tokens) of a frozen
backbone. :func:`get_features` is the entry point. The parts, one job each:

* :mod:`~zslbench.features.fingerprints` - what identifies an entry (:class:`FeatureKey`);
* :mod:`~zslbench.features.fileformat` - the HDF5 layout, chunked writes and verification;
* :mod:`~zslbench.features.sources` - a backbone over the images, or a ready array;
* :mod:`~zslbench.features.cache` - the cache directory: lookup, locked builds, weights index;
* :mod:`~zslbench.features.provenance` - where an entry's weights came from (``cache ls``);
* :mod:`~zslbench.features.res101` - the published res101 features of Xian et al.;
* :mod:`~zslbench.features.authors_h5` - features shipped by a dataset's authors as HDF5 (NUS-WIDE);
* :mod:`~zslbench.features.extract` - :func:`get_features` / :func:`ensure_features`;
* :mod:`~zslbench.features.cli` - ``zslbench cache``.
"""

from zslbench.features.authors_h5 import AUTHORS_H5_BACKBONE, authors_h5_key, read_authors_features
from zslbench.features.cache import CacheLockTimeout, FeatureCache
from zslbench.features.extract import ensure_features, get_features, select_images
from zslbench.features.fileformat import CacheEntry, CacheEntryInfo, CorruptEntryError, FeatureSplit, ProgressCallback
from zslbench.features.fingerprints import (
    DTYPES, FEATURE_FORMAT_VERSION, FeatureKey, data_fingerprint, file_sample_digest, make_key, split_fingerprint,
    state_dict_checksum, weights_source_id,
)
from zslbench.features.provenance import WeightsProvenance, weights_provenance
from zslbench.features.res101 import RES101_BACKBONE, import_res101, res101_key
from zslbench.features.sources import ArraySource, BackboneFactory, BackboneSource, FeatureSource, TransformFactory

#: Backbones whose features are read from files, so runs need no images.
FILE_BACKBONES = (RES101_BACKBONE, AUTHORS_H5_BACKBONE)

__all__ = [
    "AUTHORS_H5_BACKBONE", "FILE_BACKBONES", "authors_h5_key", "read_authors_features",
    "ArraySource", "BackboneFactory", "BackboneSource", "CacheEntry", "CacheEntryInfo", "CacheLockTimeout",
    "CorruptEntryError", "DTYPES", "FEATURE_FORMAT_VERSION", "FeatureCache", "FeatureKey", "FeatureSource",
    "FeatureSplit", "ProgressCallback", "RES101_BACKBONE", "TransformFactory", "data_fingerprint",
    "ensure_features", "file_sample_digest", "get_features", "import_res101", "make_key", "res101_key",
    "select_images", "split_fingerprint", "state_dict_checksum", "weights_source_id", "WeightsProvenance",
    "weights_provenance",
]
