"""Which settings a table row flags: values that differ from ``zslbench run``'s own choice or between rows.

``report`` shows them in its headline table's "non-default settings" column,
``compare`` in a column of its table; :func:`non_default_values` also gives
``report`` its reproduce commands (one ``--set`` per value).
"""

from __future__ import annotations

from typing import Any, Sequence

from zslbench.config import toml_literal
from zslbench.results.aggregation import NOT_SETTINGS, MethodResult, differing_between_rows, flatten_config, setting_text
from zslbench.results.rendering import OURS, ResultTable

#: Config keys given as their own ``zslbench run`` options (or not reproducible by a flag).
_FLAG_KEYS = {"method", "dataset", "seed", "protocol", "out", "tags", "method_options"}


def _default_config(method: str, dataset: str, seed: int) -> dict | None:
    """What ``zslbench run METHOD --dataset D --seed S`` would resolve today (None if the names are gone)."""
    from zslbench.errors import ZSLBenchError
    from zslbench.runner import resolve_run

    try:
        return resolve_run(method, dataset, None, [], {"seed": seed}).config.to_dict()
    except ZSLBenchError:
        return None


def non_default_values(config: dict) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of every stored value that differs from what ``zslbench run`` would choose itself."""
    from zslbench.config import RunConfig

    if config.get("kind") == "scored":  # `zslbench score`: no training settings; its provenance is in config.json
        return []
    method, dataset = str(config.get("method")), str(config.get("dataset"))
    default = _default_config(method, dataset, int(config.get("seed", 0)))
    if default is None:  # plugin or dataset no longer installed: spell out every method option
        default = RunConfig().to_dict()
    stored = flatten_config({k: v for k, v in config.items() if k not in _FLAG_KEYS})
    defaults = flatten_config({k: v for k, v in default.items() if k not in _FLAG_KEYS})
    options = flatten_config(config.get("method_options", {}) or {}, "method.")
    default_options = flatten_config(default.get("method_options", {}) or {}, "method.")
    out = []
    for key, value in [*stored.items(), *options.items()]:
        reference = defaults if not key.startswith("method.") else default_options
        if key not in reference or _plain(reference[key]) != _plain(value):
            out.append((key, value))
    return out


#: Non-default values that do not change what a run computes (not flagged in the headline table).
_UNFLAGGED_KEYS = {"loggers", *NOT_SETTINGS}


def non_default_settings(config: dict) -> list[str]:
    """``["train.epochs=1", ...]``: the settings a headline-table row flags (protocol and seed are shown elsewhere)."""
    return [f"{key}={toml_literal(value)}" for key, value in non_default_values(config) if key not in _UNFLAGGED_KEYS]


def set_key(key: str) -> str:
    """A stored settings key as ``--set`` spells it (``method_options.m`` -> ``method.m``)."""
    return "method." + key[len("method_options."):] if key.startswith("method_options.") else key


def row_settings(group: MethodResult, differing: Sequence[str]) -> list[str]:
    """The non-default settings all runs of ``group`` share, then its value of each key in ``differing``."""
    shared: list[str] | None = None
    for record in group.runs:
        settings = non_default_settings(record.config)
        shared = settings if shared is None else [s for s in shared if s in settings]
    out = list(shared or [])
    flagged = {s.split("=", 1)[0] for s in out}
    for key in differing:
        if set_key(key) not in flagged and key in (group.settings or {}):
            out.append(setting_text(set_key(key), (group.settings or {})[key]))
    return out


def flag_non_default_settings(tables: Sequence[ResultTable], groups: Sequence[MethodResult]) -> None:
    """Give each of our rows its flagged settings: non-default values, and every setting that differs between rows."""
    by_runs = {tuple(r.run_id for r in g.runs): g for g in groups}
    for table in tables:
        row_groups = [(row, by_runs.get(tuple(row.run_ids))) for row in table.rows if row.kind == OURS]
        present = [g for _, g in row_groups if g is not None]
        differing = differing_between_rows(present) if len(present) > 1 else []
        for row, group in row_groups:
            row.settings = row_settings(group, differing) if group is not None else []
        if any(row.settings for row in table.rows):
            table.notes.append("non-default settings: config values that differ from what `zslbench run` chooses "
                               "by itself for that method and dataset, or that differ between the rows of this table")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
