"""The data model every dataset loader produces and every method consumes.

A :class:`ZSLDataset` is the whole benchmark in memory except the pixels: class
names, class attribute vectors, labels of every image, the image indices of each
split and the seen/unseen class ids. Pixels come from an :class:`ImageSource`
(arrays in memory for the synthetic data, files on disk for the real datasets).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

# torch is imported where pixels are loaded: commands that only read metadata
# (list, compare, data check) must not pay for it.

SINGLE_LABEL = "single-label"
MULTI_LABEL = "multi-label"

#: The splits of the Proposed Split of Xian et al. every single-label dataset provides.
REQUIRED_SPLITS = ("trainval", "test_seen", "test_unseen")
#: ``meta`` key: True when rows are objects (bounding boxes) that share image files, as in aPY; such rows
#: are not checked for leaks by file name.
ROWS_ARE_OBJECTS = "rows_are_objects"


class ImageSource(Protocol):
    """Random access to the images of a dataset, by image index."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> torch.Tensor:
        """Return image ``index`` as a uint8 tensor of shape (3, H, W)."""
        ...

    def describe(self, index: int) -> str:
        """A human-readable identity of image ``index`` (a path, or an array position)."""
        ...


@dataclass
class ArrayImages:
    """Images held in one uint8 array of shape (N, H, W, 3), e.g. the synthetic datasets."""

    pixels: np.ndarray

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def load(self, index: int) -> torch.Tensor:
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.pixels[index])).permute(2, 0, 1)

    def describe(self, index: int) -> str:
        return f"array[{index}]"


@dataclass
class FileImages:
    """Images stored as files (JPEG/PNG), decoded with Pillow on access."""

    paths: Sequence[Path]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> torch.Tensor:
        # Pillow rather than torchvision.io, whose decoders are deprecated in torchvision >= 0.29.
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            pixels = np.asarray(image.convert("RGB"))
        import torch

        return torch.from_numpy(pixels.copy()).permute(2, 0, 1)

    def describe(self, index: int) -> str:
        return str(self.paths[index])


@dataclass
class ZSLDataset:
    """A zero-shot benchmark: classes, their attributes, images and splits.

    Class ids index ``class_names`` and the rows of ``class_attributes``.
    ``splits`` maps a split name to the image indices (into ``labels`` and
    ``images``) of that split; single-label datasets provide at least
    ``trainval``, ``test_seen`` and ``test_unseen``. ``train_classes`` and
    ``val_classes`` are the GBU class lists used by the validated protocol
    (both subsets of ``seen_classes``), or None when the dataset has none.
    """

    name: str
    class_names: list[str]
    attribute_names: list[str]
    class_attributes: np.ndarray
    labels: np.ndarray
    splits: dict[str, np.ndarray]
    seen_classes: np.ndarray
    unseen_classes: np.ndarray
    images: ImageSource
    train_classes: np.ndarray | None = None
    val_classes: np.ndarray | None = None
    masks: np.ndarray | None = None
    attribute_groups: list[list[int]] | None = None
    task: str = SINGLE_LABEL
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_attributes(self) -> int:
        return int(self.class_attributes.shape[1])

    def split_labels(self, split: str) -> np.ndarray:
        """Class ids of the images of ``split``."""
        return self.labels[self.splits[split]]

    def counts(self) -> dict:
        """Images per split and classes per group, as stored with every result."""
        out: dict = {f"images_{k}": int(len(v)) for k, v in self.splits.items()}
        out.update(
            classes=self.num_classes,
            seen_classes=int(len(self.seen_classes)),
            unseen_classes=int(len(self.unseen_classes)),
            attributes=self.num_attributes,
        )
        return out

    def validate(self) -> None:
        """Check internal consistency; raise ValueError naming the first problem.

        Split leakage (shared images or, single-label, image files, unseen
        classes in training, overlapping GBU class lists, bad indices) and, for
        single-label data, a seen or unseen class without test images raise
        :class:`~zslbench.data.split_check.SplitIntegrityError` (a DataError).
        """
        c, k = self.class_attributes.shape
        if c != len(self.class_names):
            raise ValueError(
                f"{self.name}: attribute matrix has {c} classes but the class list has {len(self.class_names)}"
            )
        if k != len(self.attribute_names):
            raise ValueError(
                f"{self.name}: attribute matrix has {k} attributes but {len(self.attribute_names)} attribute names"
            )
        finite = np.isfinite(np.asarray(self.class_attributes, dtype=np.float64))
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(f"{self.name}: the class attribute matrix holds {int((~finite).sum())} NaN or infinite "
                             f"values, in classes {rows[:5].tolist()} "
                             f"({', '.join(self.class_names[int(r)] for r in rows[:5])})")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: {len(self.labels)} labels but {len(self.images)} images")
        for split in REQUIRED_SPLITS if self.task == SINGLE_LABEL else ():
            if split not in self.splits:
                raise ValueError(f"{self.name}: split {split!r} is missing")
        from zslbench.data.split_check import check_class_presence, check_split_integrity

        # Leaks by file name: single-label files whose rows are images (not aPY's objects, ROWS_ARE_OBJECTS);
        # the multi-label lists are not checked (unverified on the real NUS-WIDE / Open Images lists).
        by_file = (isinstance(self.images, FileImages) and self.task == SINGLE_LABEL
                   and not self.meta.get(ROWS_ARE_OBJECTS, False))
        files = [str(p) for p in self.images.paths] if by_file else None
        check_split_integrity(self.name, self.splits, len(self.labels), self.labels,
                              self.seen_classes, self.unseen_classes, self.train_classes, self.val_classes, files)
        seen, unseen = set(self.seen_classes.tolist()), set(self.unseen_classes.tolist())
        if seen & unseen:
            raise ValueError(f"{self.name}: seen and unseen classes overlap: {sorted(seen & unseen)[:5]}")
        if self.task == SINGLE_LABEL:
            check_class_presence(self.name, self.labels, self.splits, self.seen_classes, self.unseen_classes,
                                 self.class_names)


def validation_split(dataset: ZSLDataset, seed: int = 0, heldout_fraction: float = 0.2,
                     val_class_fraction: float = 0.2) -> ZSLDataset:
    """The GBU validation benchmark derived from ``trainval`` only; test images never enter it.

    Seen classes become the train classes (or a reproducible 1 - ``val_class_fraction``
    draw of the seen classes when the dataset has no GBU lists), unseen classes become
    the validation classes. ``trainval`` of the result holds the images of the train
    classes except a reproducible ``heldout_fraction`` per class, which becomes
    ``test_seen`` (pseudo-seen); all trainval images of the validation classes become
    ``test_unseen`` (pseudo-unseen).
    """
    rng = np.random.default_rng(seed)
    if dataset.train_classes is not None and dataset.val_classes is not None:
        train_classes = np.sort(np.asarray(dataset.train_classes))
        val_classes = np.sort(np.asarray(dataset.val_classes))
    else:
        seen = rng.permutation(np.asarray(dataset.seen_classes))
        n_val = max(1, int(round(val_class_fraction * len(seen))))
        val_classes, train_classes = np.sort(seen[:n_val]), np.sort(seen[n_val:])
    trainval = np.asarray(dataset.splits["trainval"])
    labels = dataset.labels[trainval]
    pseudo_unseen = trainval[np.isin(labels, val_classes)]
    train_idx, heldout_idx = [], []
    for cls in train_classes:
        idx = rng.permutation(trainval[labels == cls])
        n_held = int(round(heldout_fraction * len(idx))) if len(idx) > 1 else 0
        heldout_idx.append(idx[:n_held])
        train_idx.append(idx[n_held:])
    splits = {
        "trainval": np.sort(np.concatenate(train_idx)) if train_idx else np.zeros(0, np.int64),
        "test_seen": np.sort(np.concatenate(heldout_idx)) if heldout_idx else np.zeros(0, np.int64),
        "test_unseen": np.sort(pseudo_unseen),
    }
    return replace(
        dataset,
        name=f"{dataset.name}[validation]",
        splits=splits,
        seen_classes=train_classes,
        unseen_classes=val_classes,
        train_classes=None,
        val_classes=None,
        meta={**dataset.meta, "derived": "gbu-validation", "validation_seed": seed},
    )
