"""The registrations of the xlsa17 datasets (awa1, awa2, apy, cub, sun, flo): loader and ``data check`` per dataset."""

from __future__ import annotations

from functools import partial

from zslbench.data.check import check_dataset
from zslbench.data.xlsa17 import DATASETS, load_dataset
from zslbench.registry import DatasetSpec


def dataset_specs() -> list:
    """DatasetSpec entries for every dataset of :data:`zslbench.data.xlsa17.DATASETS` (registered by zslbench.builtin)."""
    return [
        DatasetSpec(
            name=info.name,
            load=partial(load_dataset, info.name),
            description=f"{info.title}, Proposed Split of Xian et al. "
                        f"({info.standard.seen_classes}/{info.standard.unseen_classes} seen/unseen classes, "
                        f"{info.num_attributes}-d {info.semantic_kind})",
            default_image_size=224,
            check=partial(check_dataset, info.name),
            needs_download=True,
            homepage=info.homepage,
            archives=info.archives,
        )
        for info in DATASETS.values()
    ]
