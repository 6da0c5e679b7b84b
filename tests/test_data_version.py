"""Runs record the version of generated data; commands that reuse runs pass over runs of an earlier version."""

from __future__ import annotations

from pathlib import Path

from zslbench import results, store
from zslbench.data_version import current_data_version, stale_data_reason
from zslbench.sweep.spec import RunSpec
from zslbench.sweep.state import COMPLETE, MISSING, find_run

from test_compare import single_label_test, write_run


def _with_version(run: Path, version: int | None) -> Path:
    """``run`` with ``data_version`` in its metrics.json set to ``version`` (None: removed)."""
    metrics = store.read_run(run).metrics
    metrics.pop("data_version", None)
    if version is not None:
        metrics["data_version"] = version
    store.atomic_write_json(run / store.METRICS_FILE, metrics)
    return run


def test_current_versions_of_the_embedded_benchmarks():
    assert current_data_version("synthetic") == 3
    assert current_data_version("synthetic-v2") == current_data_version("synthetic-v2-tiny") == 2
    assert current_data_version("synthetic-v1") == current_data_version("synthetic-tiny") == 1
    assert current_data_version("cub") is None


def test_stale_runs_are_named_and_current_ones_pass():
    assert stale_data_reason("synthetic", {"data_version": 3}) is None
    assert "version 2 of synthetic" in stale_data_reason("synthetic", {"data_version": 2})
    assert "synthetic-v2" in stale_data_reason("synthetic", {"data_version": 2})
    # `synthetic` was v1 and v2 under the same name: a run without a record may be either
    assert "synthetic-v1, synthetic-v2" in stale_data_reason("synthetic", {})
    # a name whose data never changed keeps its unrecorded runs; real datasets are not versioned
    assert stale_data_reason("synthetic-tiny", {}) is None
    assert stale_data_reason("cub", {}) is None


def test_selection_passes_over_runs_of_earlier_data(tmp_path):
    root = tmp_path / "runs"
    test = single_label_test(0.4, 0.3, 0.5, 0.38)
    old = _with_version(write_run(root, "svip", "synthetic", 0, test, "20260101-000001"), 2)
    unrecorded = _with_version(write_run(root, "svip", "synthetic", 1, test, "20260101-000002"), None)
    new = _with_version(write_run(root, "svip", "synthetic", 2, test, "20260101-000003"), 3)
    tiny = _with_version(write_run(root, "svip", "synthetic-tiny", 0, test, "20260101-000004"), None)
    selection = results.select_runs(root, ["svip"], ["synthetic", "synthetic-tiny"])
    assert [r.path for r in selection.runs] == [new, tiny]
    reasons = dict(selection.skipped)
    assert "version 2" in reasons[old] and "before runs recorded" in reasons[unrecorded]


def test_a_sweep_neither_reuses_nor_resumes_a_run_of_earlier_data(tmp_path):
    root = tmp_path / "runs"
    spec = RunSpec(method="svip", dataset="synthetic", seed=0)
    run = write_run(root, "svip", "synthetic", 0, single_label_test(0.4, 0.3, 0.5, 0.38), "20260101-000001",
                    tags=(spec.key_tag,))
    _with_version(run, 2)
    assert find_run(spec, root).state == MISSING
    _with_version(run, 3)
    assert find_run(spec, root).state == COMPLETE
