"""Image transforms (torchvision.transforms.v2 recipes) and the torch Dataset over a ZSLDataset.

A recipe maps uint8 (3, H, W) tensors to normalised float (3, S, S) tensors:

* ``imagenet`` (also ``awa2``, ``cub``, ``sun``): train = Resize(S*8/7) + RandomCrop(S)
  + horizontal flip; eval = Resize(S*8/7) + CenterCrop(S); ImageNet mean/std;
* ``imagenet-rrc``: train = RandomResizedCrop(S) + horizontal flip; eval as ``imagenet``;
* ``svip-reference``: what the SVIP reference code does: Resize(S*8/7) + CenterCrop(S)
  + horizontal flip on train; eval as ``imagenet``;
* ``synthetic``: to float in [0, 1], mean 0.5 / std 0.5, resize only when the size
  differs, random horizontal flip on train. Also accepts (B, 3, H, W) batches
  (flipping each image independently).

Resizing happens on uint8 before the float conversion: cheaper, same result
up to rounding.
"""

from __future__ import annotations

import difflib
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from zslbench.data.dataset import ArrayImages, ImageSource, ZSLDataset
from zslbench.errors import DataError, UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Resize-then-crop ratio of the usual ImageNet evaluation (256 / 224).
RESIZE_RATIO = 8 / 7

Transform = Callable[[torch.Tensor], torch.Tensor]


def _resize_size(image_size: int) -> int:
    return int(image_size * RESIZE_RATIO)


def _normalise_tail(mean: tuple[float, ...], std: tuple[float, ...]) -> list:
    from torchvision.transforms import v2

    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def _imagenet_eval(image_size: int) -> list:
    from torchvision.transforms import v2

    return [v2.Resize(_resize_size(image_size), antialias=True), v2.CenterCrop(image_size)]


def _imagenet(image_size: int, train: bool, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> Transform:
    from torchvision.transforms import v2

    if not train:
        return v2.Compose([*_imagenet_eval(image_size), *_normalise_tail(mean, std)])
    return v2.Compose([
        v2.Resize(_resize_size(image_size), antialias=True),
        v2.RandomCrop(image_size),
        v2.RandomHorizontalFlip(),
        *_normalise_tail(mean, std),
    ])


def _imagenet_rrc(image_size: int, train: bool, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> Transform:
    from torchvision.transforms import v2

    if not train:
        return _imagenet(image_size, False, mean, std)
    return v2.Compose([
        v2.RandomResizedCrop(image_size, antialias=True),
        v2.RandomHorizontalFlip(),
        *_normalise_tail(mean, std),
    ])


def _svip_reference(image_size: int, train: bool, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> Transform:
    from torchvision.transforms import v2

    if not train:
        return _imagenet(image_size, False, mean, std)
    return v2.Compose([*_imagenet_eval(image_size), v2.RandomHorizontalFlip(), *_normalise_tail(mean, std)])


class SyntheticTransform:
    """Float in [0, 1] -> (x - 0.5) / 0.5, resize when the size differs, random flips on train.

    Works on one image (3, H, W) or a batch (B, 3, H, W); in a batch every image
    gets its own flip decision.
    """

    batched = True

    def __init__(self, image_size: int, train: bool):
        self.image_size = image_size
        self.train = train

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        single = images.dim() == 3
        batch = images.unsqueeze(0) if single else images
        if batch.shape[-2:] != (self.image_size, self.image_size):
            from torchvision.transforms.v2 import functional as F

            batch = F.resize(batch, [self.image_size, self.image_size], antialias=True)
        out = batch.to(torch.float32, copy=True).div_(255.0).sub_(0.5).div_(0.5)
        if self.train:
            flip = torch.rand(out.shape[0]) < 0.5
            out[flip] = out[flip].flip(-1)
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"SyntheticTransform(image_size={self.image_size}, train={self.train})"


def _synthetic(image_size: int, train: bool) -> Transform:
    return SyntheticTransform(image_size, train)


def _synthetic_fixed(image_size: int, train: bool) -> Transform:
    """Synthetic v2: never flipped, so the object masks stay aligned with what the model sees (mask-oracle)."""
    return SyntheticTransform(image_size, train=False)


#: Recipe name -> factory(image_size, train). Datasets name their recipe in ``meta["recipe"]``.
RECIPES: dict[str, Callable[[int, bool], Transform]] = {
    "imagenet": _imagenet,
    "imagenet-rrc": _imagenet_rrc,
    "svip-reference": _svip_reference,
    "awa2": _imagenet,
    "cub": _imagenet,
    "sun": _imagenet,
    "synthetic": _synthetic,
    "synthetic-fixed": _synthetic_fixed,
}


def build_transform(recipe: str, image_size: int, train: bool,
                    mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> Transform:
    """The transform of ``recipe`` for ``image_size`` (S): uint8 (3, H, W) -> float (3, S, S).

    ``mean_std`` overrides the normalisation of the photo recipes (e.g. what a
    backbone's pretrained weights expect); the synthetic recipe keeps 0.5/0.5.
    """
    factory = RECIPES.get(recipe)
    if factory is None:
        close = difflib.get_close_matches(recipe, list(RECIPES), n=3)
        hint = ("did you mean " + " or ".join(close) + "?") if close else f"known recipes: {', '.join(sorted(RECIPES))}"
        raise UsageError(f"unknown transform recipe {recipe!r}", hint)
    if image_size <= 0:
        raise UsageError(f"image size must be positive, got {image_size}")
    if mean_std is not None and factory not in (_synthetic, _synthetic_fixed):
        return factory(image_size, train, tuple(mean_std[0]), tuple(mean_std[1]))
    return factory(image_size, train)


class UnreadableImageError(DataError):
    """An image file that does not decode, named in one line (also when raised in a DataLoader worker)."""

    HINT = "replace the file, or set data.skip_bad_images=true to leave unreadable images out"

    def __init__(self, message: str, hint: str | None = HINT):
        # torch re-raises a worker's exception as type(exc)(its whole traceback text): keep its last line's message.
        if "Traceback (most recent call last)" in message:
            last = message.strip().splitlines()[-1]
            message = last.split(": ", 1)[-1].rsplit(" (hint: ", 1)[0]
        super().__init__(message, hint)


def _load_or_raise(source: ImageSource, index: int) -> torch.Tensor:
    try:
        return source.load(index)
    except (RuntimeError, OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for damaged files
        raise UnreadableImageError(f"cannot read image {source.describe(index)}: {exc}") from None


class ImageDataset(Dataset):
    """(image, target, index) triples of ``dataset.images[indices]`` for a torch DataLoader.

    ``targets`` defaults to the class ids ``dataset.labels[indices]``; pass
    remapped targets (e.g. 0..S-1 over the seen classes) to train on them.
    Images held in memory (:class:`ArrayImages`) are gathered a batch at a time
    (``__getitems__``) and, with a batch-aware transform, transformed in one call.
    """

    def __init__(self, dataset: ZSLDataset, indices: np.ndarray, transform: Transform,
                 targets: np.ndarray | None = None):
        self.source = dataset.images
        self.indices = np.asarray(indices, dtype=np.int64)
        self.targets = np.asarray(dataset.labels[self.indices] if targets is None else targets, dtype=np.int64)
        if len(self.targets) != len(self.indices):
            raise ValueError(f"{len(self.targets)} targets for {len(self.indices)} images")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        index = int(self.indices[i])
        image = self.transform(_load_or_raise(self.source, index))
        return image, int(self.targets[i]), index

    def __getitems__(self, positions: list[int]) -> list[tuple[torch.Tensor, int, int]]:
        """Batch fetch used by DataLoader: one gather for in-memory arrays, else item by item."""
        if not isinstance(self.source, ArrayImages):
            return [self.__getitem__(p) for p in positions]
        pos = np.asarray(positions, dtype=np.int64)
        images = self._transform_batch(self.indices[pos])
        return list(zip(images.unbind(0), self.targets[pos].tolist(), self.indices[pos].tolist()))

    def _transform_batch(self, image_indices: np.ndarray) -> torch.Tensor:
        batch = torch.from_numpy(np.ascontiguousarray(self.source.pixels[image_indices])).permute(0, 3, 1, 2)
        if getattr(self.transform, "batched", False):
            return self.transform(batch)
        return torch.stack([self.transform(img) for img in batch.unbind(0)])


def batches_from_arrays(image_dataset: ImageDataset, batch_size: int, shuffle: bool = False,
                        generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(images, targets, indices) batches straight from in-memory arrays, without a DataLoader.

    Only for :class:`ArrayImages`; the fast path for the synthetic datasets.
    """
    if not isinstance(image_dataset.source, ArrayImages):
        raise TypeError("batches_from_arrays needs a dataset whose images are ArrayImages")
    n = len(image_dataset)
    order = torch.randperm(n, generator=generator).numpy() if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        pos = order[start:start + batch_size]
        images = image_dataset._transform_batch(image_dataset.indices[pos])
        yield (images, torch.from_numpy(image_dataset.targets[pos]), torch.from_numpy(image_dataset.indices[pos]))
