"""The core's own registrations, made through the same hooks as any plugin.

Registered under the ``core`` entry point of the ``zslbench`` distribution:
the embedded synthetic datasets, the xlsa17 real datasets, the multi-label
datasets, the ViT backbones
and the text encoders. The core registers no method: methods are plugins.
"""

from __future__ import annotations

from typing import Callable

from zslbench.hookspecs import hookimpl


@hookimpl
def register_datasets(register: Callable) -> None:
    from zslbench.data import synthetic, xlsa17
    from zslbench.multilabel import specs as multilabel_specs

    for spec in (*synthetic.dataset_specs(), *xlsa17.dataset_specs(), *multilabel_specs.dataset_specs()):
        register(spec)


@hookimpl
def register_backbones(register: Callable) -> None:
    from zslbench import backbone_catalog  # names only: torch and timm load when a backbone is built

    for spec in backbone_catalog.backbone_specs():
        register(spec)


@hookimpl
def register_text_encoders(register: Callable) -> None:
    from zslbench import text_encoders

    for spec in text_encoders.text_encoder_specs():
        register(spec)
