"""Which version of an embedded benchmark's data a stored run was made on.

A generated dataset (``synthetic`` and its presets) changes when its generator
does, under the same name: ``synthetic`` was version 1, then 2, now 3. A run
records the version it saw (``metrics.json``: ``data_version``), and every
command that reuses stored runs (compare, ablate, report, sweeps) passes over
the runs of an earlier version instead of averaging them with today's.
"""

from __future__ import annotations

from zslbench import registry


def _spec(dataset: str) -> registry.DatasetSpec | None:
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    return registry.datasets.get(dataset) if dataset in registry.datasets else None


def current_data_version(dataset: str) -> int | None:
    """The version of ``dataset``'s generated data today (None: not a generated dataset, or not registered)."""
    spec = _spec(dataset)
    return spec.data_version if spec is not None else None


def stale_data_reason(dataset: str, metrics: dict | None) -> str | None:
    """Why a run of ``dataset`` with ``metrics`` was made on other data than today's, or None.

    A run that recorded no version (made before runs recorded it) is stale only
    where an earlier version was generated under the same name.
    """
    spec = _spec(dataset)
    if spec is None or spec.data_version is None:
        return None
    current, recorded = spec.data_version, (metrics or {}).get("data_version")
    if recorded == current or (recorded is None and not spec.earlier_data_versions):
        return None
    if recorded is None:
        earlier = ", ".join(f"{dataset}-v{v}" for v in spec.earlier_data_versions)
        return (f"made before runs recorded the data version, so possibly on an earlier {dataset} (now version "
                f"{current}); run it again, or compare earlier versions under their names ({earlier})")
    return (f"made on version {recorded} of {dataset}, which is now version {current}; its numbers are those of "
            f"{dataset}-v{recorded} (run that name to compare with it)")
