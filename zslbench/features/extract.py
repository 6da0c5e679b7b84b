"""The entry points of feature-level methods: :func:`get_features` / :func:`ensure_features`.

On a cache hit the arrays are read without constructing the backbone (its weights checksum is remembered
per weights source); on a miss every image of the dataset is encoded once, with a progress bar, and stored.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, UsageError
from zslbench.features.cache import (
    FeatureCache, BuildLock, NOT_REPRODUCIBLE, read_splits, read_weights_index, remember_weights, remove_entry_file,
)
from zslbench.features.fileformat import CacheEntry, CorruptEntryError, FeatureSplit, ProgressCallback
from zslbench.features.fingerprints import make_key, state_dict_checksum, weights_source_id
from zslbench.features.provenance import remember_source
from zslbench.features.res101 import RES101_BACKBONE, import_res101
from zslbench.features.sources import (
    BackboneFactory, TransformFactory, _default_backbone_factory, _default_transform_factory,
)

def _resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _resolve_image_size(dataset: ZSLDataset, data_cfg: Any, backbone_name: str) -> int:
    size = getattr(data_cfg, "image_size", None) or dataset.meta.get("image_size")
    if size:
        return int(size)
    from zslbench import registry

    if dataset.name in registry.datasets:
        return int(registry.datasets.get(dataset.name).default_image_size)
    if backbone_name in registry.backbones:
        return int(registry.backbones.get(backbone_name).image_size)
    return 224


def _rich_progress(description: str) -> tuple[contextlib.AbstractContextManager, ProgressCallback]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True))
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def ensure_features(dataset: ZSLDataset, backbone_name: str, data_cfg: Any = None, pretrained: str | None = None,
                    device: str = "cpu", with_patches: bool = False, *, dtype: str | None = None,
                    patch_group: int = 2, batch_size: int = 64, image_size: int | None = None,
                    transform_recipe: str | None = None, backbone_factory: BackboneFactory | None = None,
                    transform_factory: TransformFactory | None = None, cache: FeatureCache | None = None,
                    progress: bool = True) -> CacheEntry:
    """The complete cache entry of ``dataset`` encoded by ``backbone_name``, built on a miss.

    A hit constructs no backbone: the weights checksum of the key is remembered
    per weights source (:func:`weights_source_id`). A miss builds the backbone
    with ``backbone_factory(name, pretrained, image_size)`` (default
    :func:`zslbench.models.backbones.create_backbone`), the eval transform with
    ``transform_factory(recipe, image_size, train)`` (default
    :func:`zslbench.data.transforms.build_transform`; the recipe defaults to
    ``dataset.meta["recipe"]``) and encodes every split with a rich progress bar.
    :data:`RES101_BACKBONE` imports the published res101 features instead.
    ``dtype`` defaults to float16 (float32 for the res101 import, kept exact).
    """
    cache = cache or FeatureCache()
    if backbone_name == RES101_BACKBONE:
        if with_patches:
            raise UsageError(f"{RES101_BACKBONE} features have no patch tokens", "choose a ViT backbone for patches")
        return import_res101(dataset, data_cfg, cache=cache, dtype=dtype or "float32")
    dtype = dtype or "float16"
    size = int(image_size or _resolve_image_size(dataset, data_cfg, backbone_name))
    recipe = transform_recipe or str(dataset.meta.get("recipe", dataset.name))
    factory = backbone_factory or _default_backbone_factory
    source_id = weights_source_id(backbone_name, pretrained)
    checksum, backbone = _weights_checksum(cache, source_id, lambda: factory(backbone_name, pretrained, size),
                                           named=_is_named_source(pretrained))
    key = make_key(dataset, backbone_name, checksum, recipe, size, dtype, with_patches, patch_group)
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    if backbone is None:
        backbone = factory(backbone_name, pretrained, size)
        actual = state_dict_checksum(backbone)
        if actual != key.weights_checksum:  # the remembered checksum went stale (e.g. weights replaced in place)
            remember_weights(cache, source_id, actual)
            key = replace(key, weights_checksum=actual)
    remember_source(cache, key.weights_checksum, source_id)
    if transform_factory is not None:
        transform = transform_factory(recipe, size, False)
    else:
        transform = _default_transform_factory(recipe, size, False, backbone_name)
    bar, update = (_rich_progress(f"features {dataset.name}/{backbone_name}") if progress
                   else (contextlib.nullcontext(), None))
    with bar:
        return cache.build(dataset, backbone, key, transform, batch_size=batch_size, device=_resolve_device(device),
                           num_workers=int(getattr(data_cfg, "num_workers", 0) or 0), progress=update)


def get_features(dataset: ZSLDataset, backbone_name: str, data_cfg: Any = None, pretrained: str | None = None,
                 device: str = "cpu", splits: tuple[str, ...] | list[str] | None = None, with_patches: bool = False,
                 **options: Any) -> dict[str, FeatureSplit]:
    """Features of ``dataset``'s images for a feature-level method: ``{split: FeatureSplit}``.

    The entry point of runners: :func:`ensure_features` (cache hit without
    constructing the backbone, or a build), then the requested ``splits``
    (None: all) are read and verified against their chunk checksums; an entry
    that fails is reported, removed and rebuilt once. ``options`` are the
    keyword options of :func:`ensure_features` (dtype, batch_size, cache, ...).
    """
    cache = options.pop("cache", None) or FeatureCache()

    def ensure() -> CacheEntry:
        return ensure_features(dataset, backbone_name, data_cfg, pretrained, device, with_patches, cache=cache, **options)

    return _read_with_rebuild(cache, ensure(), splits, with_patches, ensure, dataset)


def _is_named_source(pretrained: str | None) -> bool:
    return bool(pretrained) and pretrained.lower() != "none"


def _weights_checksum(cache: FeatureCache, source_id: str, construct: Callable[[], Any],
                      named: bool) -> tuple[str, Any]:
    """(weights checksum, the backbone if it had to be built to learn it, else None).

    Checksums are remembered per weights source, so a later cache hit needs no
    backbone. Named weights (a checkpoint file, ``timm``) are remembered at once;
    default or random initialisation only after a second construction gave the
    same weights (a seeded initialisation), otherwise the source is marked
    non-reproducible and always built (each build is then a different backbone).
    """
    remembered = read_weights_index(cache).get(source_id)
    if remembered and remembered != NOT_REPRODUCIBLE:
        return remembered, None
    backbone = construct()
    checksum = state_dict_checksum(backbone)
    if remembered is None:
        reproducible = named or state_dict_checksum(construct()) == checksum
        remember_weights(cache, source_id, checksum if reproducible else NOT_REPRODUCIBLE)
    return checksum, backbone


def _read_with_rebuild(cache: FeatureCache, entry: CacheEntry, splits: Any, with_patches: bool,
                       rebuild: Callable[[], CacheEntry], dataset: ZSLDataset | None = None) -> dict[str, FeatureSplit]:
    """Read the splits; an entry failing its checksums (or not matching ``dataset``) is reported, removed, rebuilt once."""
    try:
        return read_splits(cache, entry, splits, with_patches, dataset)
    except CorruptEntryError as exc:
        warnings.warn(f"{exc}; rebuilding it", RuntimeWarning, stacklevel=3)
        with BuildLock(entry.path, cache.lock_timeout_s):
            remove_entry_file(entry.path)
        return read_splits(cache, rebuild(), splits, with_patches, dataset)


def select_images(features: dict[str, FeatureSplit], image_ids: np.ndarray) -> FeatureSplit:
    """Rows of the given dataset image indices gathered from any of the splits in ``features``.

    Lets a derived benchmark (e.g. :func:`zslbench.data.dataset.validation_split`)
    reuse the cached features of its parent dataset. Unknown ids raise DataError.
    """
    all_ids = np.concatenate([s.image_ids for s in features.values()])
    order = np.argsort(all_ids, kind="stable")
    wanted = np.asarray(image_ids, dtype=np.int64)
    pos = np.searchsorted(all_ids[order], wanted)
    pos = np.clip(pos, 0, max(len(all_ids) - 1, 0))
    if len(all_ids) == 0 or not np.array_equal(all_ids[order][pos], wanted):
        raise DataError("some requested images are not in the cached splits")
    rows = order[pos]
    stack = lambda attr: np.concatenate([getattr(s, attr) for s in features.values()])  # noqa: E731
    patches = None
    if all(s.patches is not None for s in features.values()):
        patches = stack("patches")[rows]
    return FeatureSplit(stack("features")[rows], stack("labels")[rows], wanted, patches)
