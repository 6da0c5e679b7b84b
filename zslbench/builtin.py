"""The core's own registrations, made through the same hooks as any plugin.

Registered under the ``core`` entry point of the ``zslbench`` distribution:
the embedded synthetic datasets, the xlsa17 real datasets, the multi-label
datasets, the ViT backbones,
the text encoders and the two task types (single-label, multi-label). The core
registers no method: methods are plugins.
"""

from __future__ import annotations

from typing import Any, Callable

from zslbench.hookspecs import hookimpl


@hookimpl
def register_datasets(register: Callable) -> None:
    from zslbench.data import synthetic, synthetic_full, synthetic_v2, xlsa17_specs
    from zslbench.data import multilabel_specs

    for spec in (*synthetic.dataset_specs(), *synthetic_v2.dataset_specs(), *synthetic_full.dataset_specs(),
                 *xlsa17_specs.dataset_specs(), *multilabel_specs.dataset_specs()):
        register(spec)


def _create_backbone(name: str, pretrained: str | None = None, image_size: int | None = None) -> Any:
    from zslbench.models.backbones import create_backbone

    return create_backbone(name, pretrained, image_size)


@hookimpl
def register_backbones(register: Callable) -> None:
    from zslbench.models import catalog  # names only: torch and timm load when a backbone is built

    for spec in catalog.backbone_specs(_create_backbone):
        register(spec)


@hookimpl
def register_text_encoders(register: Callable) -> None:
    from zslbench.models import text_encoders

    for spec in text_encoders.text_encoder_specs():
        register(spec)


@hookimpl
def register_tasks(register: Callable) -> None:
    from zslbench.tasks.multi_label import MultiLabelTask
    from zslbench.tasks.single_label import SingleLabelTask

    register(SingleLabelTask())
    register(MultiLabelTask())
