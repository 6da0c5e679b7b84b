"""Where features come from: a frozen backbone over the dataset's images, or a ready array."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import numpy as np

from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError

class FeatureSource(Protocol):
    """Produces the features of dataset images, one chunk of rows at a time."""

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(cls (n, D), patches (n, P, Dp) | None)`` for consecutive slices of ``indices``."""
        ...


class BackboneSource:
    """Encodes dataset images with a backbone exposing ``encode(images) -> (cls, patches)``."""

    def __init__(self, dataset: ZSLDataset, backbone: Any, transform: Callable, device: str = "cpu",
                 with_patches: bool = False, patch_group: int = 2, num_workers: int = 0):
        self.dataset, self.backbone, self.transform = dataset, backbone, transform
        self.device, self.with_patches, self.patch_group = device, with_patches, patch_group
        self.num_workers = num_workers

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        import torch
        from torch.utils.data import DataLoader

        if len(indices) == 0:
            return
        loader = DataLoader(_TransformedImages(self.dataset, indices, self.transform), batch_size=chunk_rows,
                            shuffle=False, num_workers=self.num_workers)
        self.backbone.to(self.device).eval()
        for images in loader:
            # inference mode around the forward only: it must not stay on while the generator is suspended
            with torch.inference_mode():
                cls, patches = self.backbone.encode(images.to(self.device, non_blocking=True))
                if self.with_patches and self.patch_group > 1:
                    patches = self.backbone.group_patches(patches, group=self.patch_group)
                chunk = (cls.float().cpu().numpy(), patches.float().cpu().numpy() if self.with_patches else None)
            yield chunk


class _TransformedImages:
    """Map-style dataset of transformed images (a torch Dataset by duck typing)."""

    def __init__(self, dataset: ZSLDataset, indices: np.ndarray, transform: Callable):
        self.images, self.indices, self.transform = dataset.images, np.asarray(indices), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        index = int(self.indices[i])
        try:
            image = self.images.load(index)
        except Exception as exc:  # decoding errors of user files become one readable line
            raise DataError(f"cannot read image {self.images.describe(index)}: {exc}",
                            "restore the file or set data.skip_bad_images=true") from exc
        return self.transform(image)


class ArraySource:
    """Features already in memory, one row per dataset image (e.g. the published res101 features)."""

    def __init__(self, features: np.ndarray):
        self.features = features

    def iter_chunks(self, indices: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for start in range(0, len(indices), chunk_rows):
            yield self.features[indices[start:start + chunk_rows]], None


BackboneFactory = Callable[[str, "str | None", int], Any]


TransformFactory = Callable[[str, int, bool], Callable]


#: Seed of randomly initialised weights in feature extraction (``pretrained none``, the synthetic ViTs).
FEATURE_INIT_SEED = 0


def _default_backbone_factory(name: str, pretrained: str | None, image_size: int) -> Any:
    """The backbone, with any random initialisation drawn from :data:`FEATURE_INIT_SEED`.

    A frozen feature extractor with random weights is then one fixed network,
    whatever the caller's RNG state (``cache build`` and a run's seed alike):
    its checksum is reproducible and the entry ``cache build`` made is reused.
    """
    import torch

    from zslbench.models.backbones import create_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FEATURE_INIT_SEED)
        return create_backbone(name, pretrained, image_size)


def _default_transform_factory(recipe: str, image_size: int, train: bool, backbone_name: str | None = None) -> Callable:
    """The dataset's eval transform, normalised as the backbone's weights expect."""
    from zslbench.data.transforms import build_transform

    mean_std = None
    if backbone_name is not None:
        from zslbench.models.backbones import expected_mean_std

        mean_std = expected_mean_std(backbone_name)
    return build_transform(recipe, image_size, train, mean_std=mean_std)
