"""Where a cache entry's backbone weights came from, for ``zslbench cache ls``.

The weights index (:func:`~zslbench.features.cache.read_weights_index`) maps
a weights source (:func:`~zslbench.features.fingerprints.weights_source_id`)
to the checksum its construction gives, or marks it non-reproducible. This
module keeps the other direction, ``weights-sources.json``: the source of
every checksum an entry was built with, so a listing can say "timm weights,
reproducible" or "random init (unseeded), not reproducible".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zslbench.features.cache import FeatureCache, read_json_index, read_weights_index, update_json_index
from zslbench.features.sources import FEATURE_INIT_SEED


#: Weights-checksum prefixes of features imported from published files, and how ``cache ls`` names them.
_PUBLISHED = {"res101.mat:": "res101.mat (published)", "authors-h5:": "authors' HDF5 features"}


@dataclass(frozen=True)
class WeightsProvenance:
    """Where an entry's backbone weights came from, and whether building it again gives the same features."""

    source: str  # "timm weights", "random init (seed 0)", "file model.pth", "res101.mat (published)", "unknown"
    reproducible: bool | None  # None: unknown (an entry built before zslbench recorded its source)


def _sources_path(cache: FeatureCache) -> Path:
    return cache.root / "weights-sources.json"


def remember_source(cache: FeatureCache, checksum: str, source_id: str) -> None:
    """Record that an entry is built with weights of ``checksum`` from ``source_id``."""
    update_json_index(_sources_path(cache), checksum, source_id)


def weights_provenance(cache: FeatureCache, parts: dict) -> WeightsProvenance:
    """The :class:`WeightsProvenance` of an entry, from its key parts."""
    checksum = str(parts.get("weights_checksum", ""))
    for prefix, source in _PUBLISHED.items():  # features read from a file: the file is their identity
        if checksum.startswith(prefix):
            return WeightsProvenance(source, True)
    source_id = read_json_index(_sources_path(cache)).get(checksum)
    if source_id is None:
        return WeightsProvenance("unknown", None)
    reproducible = read_weights_index(cache).get(source_id) == checksum
    source = describe_source(source_id)
    if not reproducible and source.startswith("random init"):
        source = "random init (unseeded)"
    return WeightsProvenance(source, reproducible)


def describe_source(source_id: str) -> str:
    """A short reading of a :func:`~zslbench.features.fingerprints.weights_source_id` string."""
    fields = source_id.split("|")
    pretrained = fields[1] if len(fields) > 1 else "?"
    if pretrained.startswith("file:"):
        return f"file {Path(pretrained[5:]).name}"
    if pretrained in ("None", ""):  # the backbone's default: timm weights for timm models, else random init
        from zslbench.models.backbones import SYNTHETIC_VIT_CONFIGS

        pretrained = "none" if fields[0] in SYNTHETIC_VIT_CONFIGS else "timm"
    if pretrained == "none":
        return f"random init (seed {FEATURE_INIT_SEED})"
    return "timm weights" if pretrained == "timm" else pretrained
