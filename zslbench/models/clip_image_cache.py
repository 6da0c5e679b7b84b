"""CLIP image embeddings in the feature cache, so training-free CLIP methods run on roots without images.

The entry holds what CLIP's zero-shot classifier scores: the image tower's
projected embedding (``model.encode_image``, before normalisation) of every
image, in float32, computed by the very open_clip model the method loads. It is
keyed like any feature entry, with the backbone named ``<backbone>+image-embedding``,
the weights digest of the open_clip file (:attr:`ClipModel.weights_digest`), the
transform (recipe, size, normalisation) and the data's identity without sampling
image contents (``sample_image_files=False``), so a copy of the root holding only
the split files finds the entry built where the images were.

Built by ``zslbench cache build --dataset NAME --backbone CLIP --image-embeddings``
(or by :func:`ensure_image_embeddings` with ``build=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError
from zslbench.features.cache import FeatureCache, read_splits
from zslbench.features.fileformat import CacheEntry, FeatureSplit, ProgressCallback
from zslbench.features.fingerprints import FeatureKey, make_key
from zslbench.features.provenance import remember_source
from zslbench.features.sources import BackboneSource
from zslbench.models.vision_language import ClipModel

#: Appended to the backbone name in the key: these entries are never mistaken for the tower's class tokens.
EMBEDDING_SUFFIX = "+image-embedding"


@dataclass(frozen=True)
class ImageEmbeddingRequest:
    """Which embeddings: the dataset, the registered backbone, its loaded model and the eval transform's settings."""

    dataset: ZSLDataset
    backbone: str
    clip: ClipModel
    image_size: int
    mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None

    @property
    def recipe(self) -> str:
        return str(self.dataset.meta.get("recipe", self.dataset.name))

    def key(self) -> FeatureKey:
        """The cache key: weights digest, transform and data identity (image contents not sampled)."""
        return make_key(self.dataset, self.backbone + EMBEDDING_SUFFIX, self.clip.weights_digest,
                        f"{self.recipe};normalize={self.mean_std}", self.image_size, dtype="float32",
                        sample_image_files=False)

    def build_command(self, pretrained: str | None) -> str:
        """The ``zslbench cache build`` command that makes this entry (on a machine with the images)."""
        command = f"zslbench cache build --dataset {self.dataset.name} --backbone {self.backbone} --image-embeddings"
        return command + (f" --pretrained {pretrained}" if pretrained not in (None, "", "timm") else "")


class _ImageTower:
    """The open_clip image tower as a feature-cache backbone: ``encode`` gives (projected embedding, None)."""

    def __init__(self, model: Any):
        self.model = model

    def to(self, device: Any) -> "_ImageTower":
        self.model.to(device)
        return self

    def eval(self) -> "_ImageTower":
        self.model.eval()
        return self

    def encode(self, images: Any) -> tuple[Any, None]:
        from zslbench.models.precision import full_precision

        return full_precision(self.model.encode_image(images)), None


def ensure_image_embeddings(request: ImageEmbeddingRequest, cache: FeatureCache | None = None, device: str = "cpu",
                            batch_size: int = 64, num_workers: int = 0,
                            progress: ProgressCallback | None = None) -> CacheEntry:
    """The complete entry of ``request``, encoding every image of the dataset on a miss."""
    from zslbench.data.transforms import build_transform

    cache = cache or FeatureCache()
    key = request.key()
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    remember_source(cache, key.weights_checksum, request.clip.source)
    transform = build_transform(request.recipe, request.image_size, train=False, mean_std=request.mean_std)
    source = BackboneSource(request.dataset, _ImageTower(request.clip.model), transform, device,
                            num_workers=num_workers)
    return cache.build_from_source(request.dataset, source, key, chunk_rows=batch_size, progress=progress)


def read_image_embeddings(request: ImageEmbeddingRequest, splits: tuple[str, ...], pretrained: str | None = None,
                          cache: FeatureCache | None = None) -> tuple[dict[str, FeatureSplit], FeatureKey]:
    """The cached embeddings of ``splits`` (verified against the dataset) and their key; never builds.

    A missing entry is one DataError naming it and the ``zslbench cache build`` command that makes it.
    """
    cache = cache or FeatureCache()
    key = request.key()
    entry = cache.lookup(key)
    if entry is None:
        raise DataError(f"{request.dataset.name} has no images here and the feature cache {cache.root} has no "
                        f"{request.backbone} image embeddings of it ({key.filename}, weights {key.weights_checksum[:12]})",
                        f"on a machine with the images run `{request.build_command(pretrained)}`, then copy {key.filename} into "
                        f"{cache.root}")
    return read_splits(cache, entry, splits, False, request.dataset), key
