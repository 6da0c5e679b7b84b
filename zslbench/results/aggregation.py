"""Summarising selected runs: per group of comparable runs, the mean and standard deviation over seeds.

Runs are *comparable* when they share the method, dataset, protocol and every
resolved setting except the seed, tags and paths (:func:`run_settings`).
:func:`group_runs` makes one :class:`MethodResult` per such group (a table
row, a figure series), labelled by the settings that differ between the groups
of its method (``svip [gbu] lr=0.0001``); runs of different groups are never
averaged together. :func:`aggregate` is the older per-(method, dataset) view
kept for the ablation table.
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

#: Dotted config keys that are no setting: where data lives and how it is loaded or logged, not what is computed.
NOT_SETTINGS = {"data.root", "data.glove_path", "data.num_workers", "train.log_every_steps"}

#: Config keys that identify a group by themselves (shown as the method name and ``[protocol]``).
_IDENTITY_KEYS = {"method", "dataset", "protocol"}


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


def run_scores(record: RunRecord) -> dict:
    """A run's test metrics plus, for ``--protocol published`` runs, its published numbers (see published_protocol)."""
    from zslbench.published_protocol import published_scores

    return {**record.metrics["test"], **published_scores(record.metrics)}


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
    label: str = ""  # the row label: method, [protocol] and the settings that tell its groups apart
    settings: dict[str, object] | None = None  # the group's settings (dotted key -> value); None: not grouped

    def __post_init__(self) -> None:
        self.label = self.label or self.method

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    @property
    def protocols(self) -> list[str]:
        return sorted({run_protocol(r) for r in self.runs})


def run_task(record: RunRecord) -> str:
    return str((record.metrics or {}).get("task", SINGLE_LABEL))


def aggregate(runs: Sequence[RunRecord]) -> dict[tuple[str, str], MethodResult]:
    """Per (method, dataset): mean/std over runs of every scalar test metric (keys in first-seen order)."""
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for record in runs:
        groups[(record.method, record.dataset)].append(record)
    out: dict[tuple[str, str], MethodResult] = {}
    for (method, dataset), records in groups.items():
        out[(method, dataset)] = MethodResult(method, dataset, records, _summaries(records), task=run_task(records[0]))
    return out


def _summaries(records: Sequence[RunRecord]) -> dict[str, Summary]:
    values: dict[str, list[float]] = {}
    for record in records:
        test = run_scores(record)
        for key in score_keys(test):
            values.setdefault(key, []).append(float(test[key]))
    return {k: Summary.of(v) for k, v in values.items()}


def run_settings(record: RunRecord) -> dict[str, object]:
    """A run's resolved settings (dotted keys) that decide what it computes: all but seed, tags, paths and logging."""
    return {k: v for k, v in flatten_config(record.config).items()
            if k.split(".")[0] not in _PER_RUN_KEYS and k not in NOT_SETTINGS and k not in _IDENTITY_KEYS}


def _frozen(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def run_protocol(record: RunRecord) -> str:
    return str(record.config.get("protocol", "?"))


def group_key(record: RunRecord, group_by: Sequence[str] | None = None) -> tuple:
    """What makes runs comparable: (dataset, method, protocol, settings); ``group_by``: only those settings."""
    settings = run_settings(record)
    if group_by is not None:
        flat = flatten_config(record.config)
        settings = {k: flat.get(k) for k in group_by if k not in _IDENTITY_KEYS}
    return (record.dataset, record.method, run_protocol(record),
            tuple(sorted((k, _frozen(v)) for k, v in settings.items())))


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key by its last part (``train.lr`` -> ``lr``) unless two keys share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (part if last.count(part) == 1 else k) for k, part in zip(keys, last)}


def setting_text(key: str, value: object) -> str:
    """``lr=0.0001`` as ``--set`` would read it back (strings bare, None as ``none``)."""
    from zslbench.config import toml_literal

    try:
        return f"{key}={toml_literal(value)}"
    except TypeError:  # a nested value toml_literal cannot spell
        return f"{key}={_frozen(value)}"


def differing_settings(settings: Sequence[dict[str, object]]) -> list[str]:
    """Keys whose value is not the same in every one of ``settings`` (a key missing from one counts as differing)."""
    keys = sorted(set().union(*[set(s) for s in settings])) if settings else []
    return [k for k in keys if len({_frozen(s[k]) if k in s else "<unset>" for s in settings}) > 1]


def differing_between_rows(groups: Sequence["MethodResult"]) -> list[str]:
    """Settings keys whose value differs between ``groups`` (table rows).

    Method options (``method_options.*``) belong to their method: they count
    only where rows of one method differ in them, never because another
    method has no such option.
    """
    out = []
    for key in differing_settings([g.settings or {} for g in groups]):
        if key.startswith("method_options."):
            by_method: dict[str, list[dict]] = defaultdict(list)
            for group in groups:
                by_method[group.method].append(group.settings or {})
            if not any(key in differing_settings(settings) for settings in by_method.values()):
                continue
        out.append(key)
    return out


def group_runs(runs: Sequence[RunRecord], group_by: Sequence[str] | None = None) -> list[MethodResult]:
    """One :class:`MethodResult` per group of comparable runs (see :func:`group_key`), labelled for a table row.

    A label is the method, ``[protocol]`` when the dataset has runs of several
    protocols, and the settings that differ between the method's groups on that
    dataset (all ``group_by`` keys when given). Sorted by dataset, method, label.
    """
    groups: dict[tuple, list[RunRecord]] = {}
    for record in runs:
        groups.setdefault(group_key(record, group_by), []).append(record)
    by_method: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    protocols: dict[str, set[str]] = defaultdict(set)  # per dataset: rows name their protocol when a table mixes them
    for key in groups:
        by_method[(key[0], key[1])].append(key)
        protocols[key[0]].add(key[2])
    ordered: list[tuple[tuple, MethodResult]] = []
    for (dataset, method), keys in by_method.items():
        settings = {key: _group_settings(groups[key], group_by) for key in keys}
        differing = list(group_by or []) or differing_settings(list(settings.values()))
        names = short_keys(differing)
        for key in keys:
            records = sorted(groups[key], key=lambda r: (r.seed, r.run_id))
            label = method + (f" [{key[2]}]" if len(protocols[dataset]) > 1 else "")
            shown = [setting_text(names[k], settings[key][k]) for k in differing if k in settings[key]]
            label = " ".join([label, *shown])
            order = (dataset, method, key[2], tuple(_sortable(settings[key].get(k)) for k in differing))
            ordered.append((order, MethodResult(method, dataset, records, _summaries(records),
                                                task=run_task(records[0]), label=label, settings=settings[key])))
    return [result for _, result in sorted(ordered, key=lambda item: item[0])]


def _sortable(value: object) -> tuple:
    """Numbers in numeric order, before everything else in text order."""
    return (0, float(value), "") if _numeric(value) else (1, 0.0, _frozen(value))


def _group_settings(records: Sequence[RunRecord], group_by: Sequence[str] | None) -> dict[str, object]:
    """The settings every run of a group shares (with ``group_by``, the runs may differ in others)."""
    flats = [run_settings(r) if group_by is None else
             {k: flatten_config(r.config).get(k) for k in group_by} for r in records]
    return {k: v for k, v in flats[0].items() if all(_frozen(f.get(k)) == _frozen(v) for f in flats[1:])}


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
