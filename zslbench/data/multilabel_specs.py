"""Dataset registrations of the multi-label benchmarks (the core registers them in :mod:`zslbench.builtin`)."""

from __future__ import annotations

from zslbench.data.dataset import MULTI_LABEL
from zslbench.models.catalog import synthetic_backbone
from zslbench.registry import DatasetSpec


def dataset_specs() -> list[DatasetSpec]:
    """``synthetic-multilabel``, ``synthetic-multilabel-tiny``, ``nus-wide`` and ``open-images-v4``."""
    from zslbench.data import nuswide, openimages
    from zslbench.data import synthetic_multilabel as synthetic

    specs = [
        DatasetSpec(
            name=name,
            load=lambda data_cfg, _name=name: synthetic.load_synthetic_multilabel(_name, data_cfg),
            task=MULTI_LABEL,
            default_image_size=preset.image_size,
            needs_download=False,
            description=f"embedded multi-label synthetic shapes: {preset.description}",
        )
        for name, preset in synthetic.MULTILABEL_PRESETS.items()
    ]
    specs.append(DatasetSpec(
        name=nuswide.NAME, load=nuswide.load_nuswide, task=MULTI_LABEL, check=nuswide.check_nuswide,
        homepage=nuswide.HOMEPAGE, aliases=("nuswide",), archives=nuswide.ARCHIVES,
        description="NUS-WIDE multi-label ZSL: 925 seen tags, 81 unseen concepts (LESA/BiAM protocol); your copy",
    ))
    specs.append(DatasetSpec(
        name=openimages.NAME, load=openimages.load_openimages, task=MULTI_LABEL, check=openimages.check_openimages,
        homepage=openimages.HOMEPAGE, aliases=("openimages",), archives=openimages.ARCHIVES,
        description="Open Images V4 multi-label ZSL: 7,186 seen, 400 unseen labels (LESA/BiAM protocol); your copy",
    ))
    return specs


#: The backbone for real multi-label datasets (ImageNet-pretrained ViT-B/16; summaries of Epsilon mention it).
REAL_DATA_BACKBONE = "vit_base_patch16_224"


def default_backbone(dataset_name: str) -> str:
    """The backbone multi-label methods use by default on ``dataset_name``."""
    return synthetic_backbone(dataset_name, REAL_DATA_BACKBONE)
