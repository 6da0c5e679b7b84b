"""One spelling of every metric: the stored key (``t1``, ``cs_h``, ``zsl_f1_at_3``) and its display label.

``run``, ``compare``, ``ablate``, ``report`` and the progress lines all label
metrics through :func:`metric_label`. Multi-label keys are shown as stored
(``zsl_map``, ``zsl_f1_at_3``): they are also what ``--metric`` accepts.
Older displays wrote ``zsl_f1@3``; :func:`canonical_key` reads that spelling
back, so runs or commands using it keep working.
"""

from __future__ import annotations

import re

#: Display labels of the single-label metrics; every other key is shown as stored.
METRIC_LABELS = {
    "t1": "T1", "u": "U", "s": "S", "h": "H", "ausuc": "AUSUC",
    "cs_u": "CS-U", "cs_s": "CS-S", "cs_h": "CS-H",
    "oracle_u": "oracle U", "oracle_s": "oracle S", "oracle_h": "oracle H",
    # --protocol published (zslbench.published_protocol): numbers chosen on test data, and their gaps
    "published_t1": "T1 chosen on test", "published_gap_t1": "Δ T1 (chosen − honest)",
    "published_u": "U chosen on test", "published_s": "S chosen on test", "published_h": "H chosen on test",
    "published_gap_h": "Δ H (chosen − honest)",
}


def canonical_key(key: str) -> str:
    """The stored spelling of a metric key: ``zsl_f1@3`` -> ``zsl_f1_at_3``."""
    return key.replace("@", "_at_")


def canonical_metrics(test: dict) -> dict:
    """``test`` metrics with every key in its stored spelling (for runs written by older versions)."""
    return {canonical_key(k) if isinstance(k, str) else k: v for k, v in test.items()}


def metric_label(key: str) -> str:
    """The label shown for ``key`` everywhere (tables, summaries, progress lines)."""
    return METRIC_LABELS.get(key, key)


#: Multi-label keys the evaluation stores: mAP, and F1 / precision / recall at each top-K, for ZSL and GZSL.
_MULTI_LABEL_KEY = re.compile(r"^(zsl|gzsl)_(map|(f1|precision|recall)_at_\d+)$")


def is_defined_metric(key: str) -> bool:
    """Whether some protocol defines ``key`` (a stored spelling), stored by a run or not."""
    return key in METRIC_LABELS or bool(_MULTI_LABEL_KEY.match(canonical_key(key)))


def defined_metric_names() -> list[str]:
    """Every metric name ``--metric`` accepts, as shown in hints (multi-label ones with K as written)."""
    return [*METRIC_LABELS, "zsl_map", "gzsl_map", "zsl_f1_at_K", "gzsl_f1_at_K", "zsl_precision_at_K",
            "zsl_recall_at_K", "gzsl_precision_at_K", "gzsl_recall_at_K"]
