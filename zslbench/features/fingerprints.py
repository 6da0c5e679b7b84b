"""What identifies a feature-cache entry: the :class:`FeatureKey` and the fingerprints of its parts.

The key covers everything that changes the features: dataset name, split definition (hash of the split
index arrays and the labels), data identity (:func:`data_fingerprint`), backbone name, weights checksum
(:func:`state_dict_checksum`), transform recipe, image size, storage dtype, patch settings and
:data:`FEATURE_FORMAT_VERSION`. A changed input gives a new file name, never a stale hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.dataset import ArrayImages, FileImages, ZSLDataset
from zslbench.errors import UsageError

#: Bumped whenever the file layout or the meaning of stored features changes.
FEATURE_FORMAT_VERSION = 2  # 2: CRC-32 over features, labels and image ids (1: sha256 over features only)


#: Storage dtypes a cache entry may use.
DTYPES = ("float16", "float32")


_SAMPLES_PER_TENSOR = 4096  # elements hashed per weight tensor


_FILE_SAMPLE_BYTES = 1 << 20  # bytes hashed at the start, middle and end of a file


_IMAGE_FILES_SAMPLED = 16  # image files whose content is sampled for the data identity


_FULL_HASH_MAX_BYTES = 256 << 20  # in-memory image arrays up to this size are hashed whole


#: dataset.meta keys that identify the data (everything else, e.g. the attribute choice, does not change pixels).
_IDENTITY_META_KEYS = ("source_files", "preset", "seed", "generator_version", "image_size", "recipe")


@dataclass(frozen=True)
class FeatureKey:
    """Everything that determines the stored features; its :attr:`fingerprint` names the entry."""

    dataset: str
    backbone: str
    weights_checksum: str
    transform_recipe: str
    image_size: int
    split_hash: str
    data_hash: str
    dtype: str = "float16"
    with_patches: bool = False
    patch_group: int = 2
    format_version: int = FEATURE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown feature dtype {self.dtype!r}", f"choose one of {', '.join(DTYPES)}")
        if not self.with_patches and self.patch_group != 0:
            object.__setattr__(self, "patch_group", 0)  # irrelevant without patches: one key, not several

    def parts(self) -> dict:
        """The fingerprint parts, JSON-serialisable (stored in the file)."""
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`parts`."""
        return _sha256_text(json.dumps(self.parts(), sort_keys=True))

    @property
    def filename(self) -> str:
        return f"{_safe_name(self.dataset)}-{_safe_name(self.backbone)}-{self.fingerprint[:12]}.h5"


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


#: Elements widened to int64 at a time when hashing labels (8 MiB): a multi-label matrix is never copied whole.
_LABEL_HASH_BLOCK = 1 << 20


def split_fingerprint(dataset: ZSLDataset, block: int = _LABEL_HASH_BLOCK) -> str:
    """sha256 of the labels (as int64) and of every split's index array (names included, sorted).

    The labels are widened to int64 ``block`` elements at a time: the digest is
    that of the whole int64 array, without the copy (an int8 multi-label matrix
    of NUS-WIDE's size would be 2 GB as int64).
    """
    h = hashlib.sha256()
    labels = np.asarray(dataset.labels)
    h.update(f"labels{labels.shape}".encode())
    flat = labels.reshape(-1)
    for start in range(0, flat.size, block):
        h.update(np.ascontiguousarray(flat[start:start + block], dtype=np.int64))
    for name in sorted(dataset.splits):
        idx = np.ascontiguousarray(dataset.splits[name], dtype=np.int64)
        h.update(f"|{name}:{idx.size}|".encode())
        h.update(idx.tobytes())
    return h.hexdigest()


def file_sample_digest(path: Path) -> str:
    """Identity of a file's content: its size and sha256 of 1 MiB at its start, middle and end.

    Cheap on multi-GB files; misses only edits confined to the unsampled bytes
    that keep the size, which real dataset and checkpoint files do not have.
    """
    size = path.stat().st_size
    h = hashlib.sha256(f"size={size}".encode())
    with path.open("rb") as fh:
        for offset in sorted({0, max(0, size // 2 - _FILE_SAMPLE_BYTES // 2), max(0, size - _FILE_SAMPLE_BYTES)}):
            fh.seek(offset)
            h.update(fh.read(_FILE_SAMPLE_BYTES))
    return h.hexdigest()


def _image_source_identity(dataset: ZSLDataset, sample_files: bool) -> str:
    """What identifies the pixels: array content, or relative file paths (+ sampled file contents)."""
    images = dataset.images
    h = hashlib.sha256(f"{type(images).__name__}:{len(images)}".encode())
    if isinstance(images, ArrayImages):
        pixels = np.ascontiguousarray(images.pixels)
        h.update(f"{pixels.shape}{pixels.dtype}".encode())
        if pixels.nbytes <= _FULL_HASH_MAX_BYTES:
            h.update(pixels.tobytes())
        else:  # one pixel row of every image, plus every k-th image whole
            h.update(np.ascontiguousarray(pixels[:, pixels.shape[1] // 2]).tobytes())
            h.update(np.ascontiguousarray(pixels[:: max(1, len(pixels) // 64)]).tobytes())
    elif isinstance(images, FileImages):
        base = dataset.meta.get("image_dir") or dataset.meta.get("root")
        names = [_relative(Path(p), base) for p in images.paths]
        h.update("\n".join(names).encode())
        if sample_files and len(images.paths):
            for i in np.unique(np.linspace(0, len(images.paths) - 1, _IMAGE_FILES_SAMPLED).astype(np.int64)):
                p = Path(images.paths[int(i)])
                h.update((file_sample_digest(p) if p.is_file() else "missing").encode())
    else:  # an unknown source: its own description of a sample of images
        for i in np.unique(np.linspace(0, max(0, len(images) - 1), min(len(images), 1000)).astype(np.int64)):
            h.update(images.describe(int(i)).encode())
    return h.hexdigest()


def _relative(path: Path, base: str | None) -> str:
    if base:
        with contextlib.suppress(ValueError):
            return path.relative_to(base).as_posix()
    return path.as_posix()


def data_fingerprint(dataset: ZSLDataset, sample_image_files: bool = True) -> str:
    """sha256 identifying the data behind the features.

    Covers the dataset name, the identity keys of ``dataset.meta``
    (``source_files`` with their size and mtime, synthetic preset/seed/generator
    version, image size, recipe) and the images: the whole pixel array for
    in-memory images (a sample above 256 MiB), or the file paths relative to the
    image folder plus a content sample of 16 files. The dataset root itself is
    left out so a moved copy keeps its cache.
    """
    meta = {k: dataset.meta[k] for k in _IDENTITY_META_KEYS if k in dataset.meta}
    if "source_files" in meta:  # a moved copy of identical files keeps its cache
        meta["source_files"] = [
            {k: v for k, v in entry.items() if k != "path"} | {"name": Path(str(entry.get("path", ""))).name}
            if isinstance(entry, dict) else str(entry)
            for entry in (meta["source_files"].values() if isinstance(meta["source_files"], dict) else meta["source_files"])
        ]
    h = hashlib.sha256(dataset.name.encode())
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    h.update(_image_source_identity(dataset, sample_image_files).encode())
    return h.hexdigest()


def state_dict_checksum(module: Any) -> str:
    """Checksum of a module's weights: sha256 over every tensor's name, dtype, shape and a strided sample.

    At most 4096 evenly strided elements of each tensor are hashed (always the
    first one), computed on the CPU copy, so the checksum is cheap for large
    backbones and independent of the device. Two weight sets that differ only
    outside the samples collide; fine-tuned or differently initialised weights
    change nearly every element, so in practice they do not.
    """
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.reshape(-1)
        if flat.numel() == 0:
            continue
        step = max(1, math.ceil(flat.numel() / _SAMPLES_PER_TENSOR))
        sample = flat[::step].cpu()
        if sample.dtype == torch.bfloat16:  # numpy has no bfloat16
            sample = sample.float()
        h.update(sample.contiguous().numpy().tobytes())
    return h.hexdigest()


def make_key(dataset: ZSLDataset, backbone: str, weights_checksum: str, transform_recipe: str, image_size: int,
             dtype: str = "float16", with_patches: bool = False, patch_group: int = 2,
             sample_image_files: bool = True) -> FeatureKey:
    """The :class:`FeatureKey` of ``dataset`` encoded by ``backbone`` with the given weights and settings."""
    return FeatureKey(
        dataset=dataset.name, backbone=backbone, weights_checksum=weights_checksum,
        transform_recipe=transform_recipe, image_size=int(image_size),
        split_hash=split_fingerprint(dataset), data_hash=data_fingerprint(dataset, sample_image_files),
        dtype=dtype, with_patches=bool(with_patches), patch_group=int(patch_group),
    )


def weights_source_id(backbone: str, pretrained: str | None) -> str:
    """What identifies a backbone's weights before it is built.

    A checkpoint file: its resolved path, size and mtime. A named weight set
    (``timm``): the name with the timm version. Default or random
    initialisation: the name with the torch and timm versions (remembered only
    if two constructions give identical weights, see :func:`get_features`).
    """
    from importlib import metadata

    import torch

    try:  # the installed version, without importing timm (slow) on a cache hit
        timm_version = metadata.version("timm")
    except metadata.PackageNotFoundError:  # pragma: no cover
        timm_version = "none"
    path = None
    if pretrained and pretrained.lower() not in ("none", "timm"):
        path = Path(pretrained).expanduser()
    elif (pretrained or "timm").lower() == "timm":
        from zslbench.models.catalog import PRETRAINED_VITS

        if backbone in PRETRAINED_VITS:  # the cached file itself: new weights in the cache are a new source
            from zslbench.models.hub_cache import hf_cached_file

            tower = PRETRAINED_VITS[backbone]
            path = hf_cached_file(tower.hf_hub_id, "model.safetensors") or hf_cached_file(tower.hf_hub_id,
                                                                                          "pytorch_model.bin")
    if path is not None and path.is_file():
        st = path.stat()
        return f"{backbone}|file:{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return f"{backbone}|{pretrained}|torch-{torch.__version__}|timm-{timm_version}"
