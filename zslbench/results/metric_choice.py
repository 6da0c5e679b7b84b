"""``--metric``: the metric names a user may ask for, and notes on the rows that lack one.

Every metric a protocol defines is accepted (``cs_h`` without gbu runs, a
multi-label ``zsl_recall_at_5``); its cells show ``-`` where a row lacks it and
a note names those rows. Only a name no protocol defines is a usage error.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from zslbench.errors import UsageError
from zslbench.metric_names import METRIC_LABELS, canonical_key, defined_metric_names, is_defined_metric
from zslbench.results.aggregation import MethodResult
from zslbench.tasks.single_label import CALIBRATED_METRICS


def check_requested_metrics(requested: Sequence[str], results: Iterable[MethodResult]) -> list[str]:
    """Resolve ``--metric`` names (case-insensitive, labels accepted) to stored keys.

    A metric some protocol defines is accepted even when no selected run stores
    it (its cells show ``-`` and a note names the rows without it); only a
    name no protocol defines is a usage error.
    """
    results = list(results)
    known: list[str] = []
    for result in results:
        known += [k for k in result.metrics if k not in known]
    defined = [*known, *[k for k in METRIC_LABELS if k not in known]]
    by_label = {METRIC_LABELS.get(k, k).lower(): k for k in defined} | {k.lower(): k for k in defined}
    out = []
    for name in requested:
        key = (by_label.get(name.lower().replace("-", "_")) or by_label.get(name.lower())
               or by_label.get(canonical_key(name.lower())))
        if key is None and is_defined_metric(canonical_key(name.lower())):
            key = canonical_key(name.lower())
        if key is None:
            raise UsageError(f"unknown metric {name!r}",
                             "stored metrics: " + ", ".join(known or ["none"]) + "; defined: "
                             + ", ".join(defined_metric_names()))
        out.append(key)
    return out


def missing_metric_notes(requested: Sequence[str], present: Sequence[MethodResult]) -> list[str]:
    """A note per requested metric that some rows lack: which rows, and why it may be absent."""
    notes = []
    for key in requested:
        lacking = [g.label for g in present if key not in g.metrics]
        if lacking:
            why = " (calibrated stacking needs --protocol gbu runs)" if key in CALIBRATED_METRICS else ""
            notes.append(f"{METRIC_LABELS.get(key, key)}: not stored by {', '.join(lacking)}{why}")
    return notes
