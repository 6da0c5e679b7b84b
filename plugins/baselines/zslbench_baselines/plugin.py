"""zslbench plugin: baselines.

Each module contributes a ``method_specs() -> list[MethodSpec]`` function;
``SPEC_SOURCES`` lists them and :func:`register_methods` registers everything
they return. To add baselines, append a module's ``method_specs`` here.
"""

from __future__ import annotations

from typing import Callable

import zslbench
from zslbench.methods import MethodSpec

from zslbench_baselines import classic, clip_zeroshot, f_clswgan, mlzsl_baseline, vit_baseline

#: Functions returning the MethodSpecs of one module each.
SPEC_SOURCES: list[Callable[[], list[MethodSpec]]] = [
    vit_baseline.method_specs,
    classic.method_specs,
    f_clswgan.method_specs,
    mlzsl_baseline.method_specs,
    clip_zeroshot.method_specs,
]


def method_specs() -> list[MethodSpec]:
    """Every baseline spec, in registration order."""
    return [spec for source in SPEC_SOURCES for spec in source()]


@zslbench.hookimpl
def register_methods(register: Callable) -> None:
    """Register every baseline."""
    for spec in method_specs():
        register(spec)
