"""Notes under a comparison table about its rows.

Why a method has several rows (protocols or settings that differ, never
averaged together), and the settings and seed sets that differ between rows.
"""

from __future__ import annotations

from typing import Sequence

from zslbench.results.aggregation import MethodResult, differing_between_rows, differing_settings, setting_text


def split_notes(method: str, dataset: str, parts: Sequence[MethodResult]) -> list[str]:
    """Why a method has several rows: its runs differ in protocol or settings (never averaged together)."""
    if len(parts) < 2:
        return []
    protocols = sorted({p for part in parts for p in part.protocols})
    differing = differing_settings([p.settings or {} for p in parts])
    what = []
    if len(protocols) > 1:
        what.append(f"of the {' and '.join(protocols)} protocols")
    if differing:
        what.append(f"with different {', '.join(differing)}")
    return [f"warning: {method} has runs {' and '.join(what) or 'in several groups'} on {dataset}; "
            "they are shown as separate rows, never averaged together"]


def settings_difference_notes(present: Sequence[MethodResult]) -> list[str]:
    """One note per setting whose value differs between the rows of a table: each value and its rows."""
    if len(present) < 2 or any(g.settings is None for g in present):
        return []
    notes = []
    for key in differing_between_rows(present):
        by_value: dict[str, list[str]] = {}
        for group in present:
            if key in (group.settings or {}):
                value = setting_text(key, (group.settings or {})[key]).split("=", 1)[1]
            elif key.startswith("method_options."):
                continue  # another method's option
            else:
                value = "unset"
            by_value.setdefault(value, []).append(group.label)
        listing = "; ".join(f"{value} ({', '.join(labels)})" for value, labels in by_value.items())
        notes.append(f"setting differs between rows: {key}: {listing}")
    return notes


def seed_mismatch_notes(present: Sequence[MethodResult], dataset: str) -> list[str]:
    """A warning naming each row's seeds when the rows of one table were run with different seeds."""
    seeds = {r.label: r.seeds for r in present}
    if len({tuple(v) for v in seeds.values()}) <= 1:
        return []
    listing = "; ".join(f"{label} {','.join(map(str, v))}" for label, v in seeds.items())
    return [f"warning: seeds differ between rows on {dataset} ({listing}): means and differences compare "
            "unequal samples; run the missing seeds for a like-for-like comparison"]
