"""Task types: what a label is, how a run of that kind is trained against and evaluated.

* :mod:`zslbench.tasks.single_label` - one class per image, the GBU protocol (``standard`` / ``gbu``);
* :mod:`zslbench.tasks.multi_label` - a +1 / -1 / 0 row over all labels per image (``standard``).

:func:`get_task` returns the task of a ``ZSLDataset.task`` name; the run flow
asks it for image sets, evaluation and summary columns (see docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from zslbench import registry
from zslbench.errors import UnknownNameError, UsageError
from zslbench.tasks.base import Task


def get_task(name: str) -> Task:
    """The registered task type ``name`` (the core's ``"single-label"`` and ``"multi-label"``, or a plugin's)."""
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    try:
        return registry.tasks.get(name)
    except UnknownNameError as exc:
        raise UsageError(f"unknown task type {name!r}", exc.hint) from None


def registered_tasks() -> list[Task]:
    """Every registered task type, by name."""
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    return [entry.spec for entry in registry.tasks]


def task_for_labels(labels: Any) -> Task:
    """The task whose label format ``labels`` has: class ids (N,) are single-label, rows (N, L) multi-label."""
    import numpy as np

    ndim = np.ndim(labels)
    if ndim not in (1, 2):
        raise UsageError(f"labels must be class ids (N,) or annotation rows (N, L), got {ndim} dimensions")
    return get_task("single-label" if ndim == 1 else "multi-label")


def check_supported(task: Task, method: Any, protocol: str, dataset_name: str) -> None:
    """Raise a :class:`UsageError` when ``method`` under ``protocol`` cannot run on ``task``'s datasets."""
    if task.name not in method.tasks:
        raise UsageError(f"method {method.name!r} does not support {task.name} datasets like {dataset_name!r}",
                         f"{method.name} supports: {', '.join(method.tasks)}; see `zslbench list methods`")
    if protocol not in task.protocols:
        owners = [t.name for t in registered_tasks() if protocol in t.protocols]
        raise UsageError(f"--protocol {protocol} is defined for {' and '.join(owners) or 'no'} datasets, "
                         f"not {dataset_name!r}", f"use --protocol {' or '.join(task.protocols)} for {task.name} runs")
    if method.kind not in task.method_kinds:
        raise UsageError(f"method {method.name!r} is a {method.kind} method; {task.name} runs support "
                         f"{' and '.join(task.method_kinds)} methods only")
