"""Summarising selected runs: per (method, dataset), the mean and standard deviation over seeds.

An *aggregate* (:class:`MethodResult`) holds, per (method, dataset), the mean
and sample standard deviation over seeds of every numeric test metric.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from zslbench import registry
from zslbench.data.dataset import SINGLE_LABEL
from zslbench.store import RunRecord

#: Test-metric keys that are not scores (never shown as table columns).
_NOT_SCORES = {"counts", "per_class", "cs_gamma", "oracle_gamma"}


#: Config keys expected to differ between the runs of one table row.
_PER_RUN_KEYS = {"seed", "out", "tags", "loggers"}


@dataclass
class Summary:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of one metric over runs."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Summary":
        array = np.asarray(values, dtype=np.float64)
        std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return cls(float(array.mean()), std, int(len(array)))


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def score_keys(test_metrics: dict) -> list[str]:
    """Keys of a run's test metrics that are scalar scores (not counts, per-class tables or gammas)."""
    return [k for k, v in test_metrics.items() if k not in _NOT_SCORES and _numeric(v)]


@dataclass
class MethodResult:
    """All selected runs of one method on one dataset, summarised per metric (stored units)."""

    method: str
    dataset: str
    runs: list[RunRecord]
    metrics: dict[str, Summary]
    task: str = SINGLE_LABEL

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    @property
    def protocols(self) -> list[str]:
        return sorted({str(r.config.get("protocol", "?")) for r in self.runs})


def run_task(record: RunRecord) -> str:
    return str((record.metrics or {}).get("task", SINGLE_LABEL))


def aggregate(runs: Sequence[RunRecord]) -> dict[tuple[str, str], MethodResult]:
    """Per (method, dataset): mean/std over runs of every scalar test metric (keys in first-seen order)."""
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for record in runs:
        groups[(record.method, record.dataset)].append(record)
    out: dict[tuple[str, str], MethodResult] = {}
    for (method, dataset), records in groups.items():
        values: dict[str, list[float]] = {}
        for record in records:
            test = record.metrics["test"]
            for key in score_keys(test):
                values.setdefault(key, []).append(float(test[key]))
        out[(method, dataset)] = MethodResult(method, dataset, records,
                                              {k: Summary.of(v) for k, v in values.items()},
                                              task=run_task(records[0]))
    return out


def flatten_config(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(runs: Sequence[RunRecord]) -> list[str]:
    """Config keys (dotted) whose values differ between ``runs``, besides the seed, store root and tags."""
    flats = [{k: json.dumps(v, sort_keys=True, default=str) for k, v in flatten_config(r.config).items()
              if k.split(".")[0] not in _PER_RUN_KEYS} for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if len({f.get(k) for f in flats}) > 1]


def reference_numbers(method: str, dataset: str) -> tuple[dict[str, float], str | None]:
    """Published numbers (percent) of a registered method on a dataset, keyed like our metrics, and their source."""
    if method not in registry.methods:
        return {}, None
    references = getattr(registry.methods.get(method), "reference_results", None) or {}
    entry = references.get(dataset)
    if entry is None:  # dataset keys as the paper spells them ("CUB" for "cub")
        entry = next((v for k, v in references.items() if str(k).lower() == dataset.lower()), None)
    if not isinstance(entry, dict):
        return {}, None
    numbers = {str(k).lower(): float(v) for k, v in entry.items() if k != "source" and _numeric(v)}
    return numbers, entry.get("source")
