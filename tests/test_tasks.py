"""The task types: which metric columns a run summary and a comparison table show, per task."""

from __future__ import annotations

import pytest

from zslbench.errors import UsageError
from zslbench.tasks import get_task

SINGLE_STORED = ["t1", "u", "s", "h", "ausuc", "oracle_u", "oracle_s", "oracle_h", "cs_u", "cs_s", "cs_h"]
MULTI_STORED = ["zsl_map", "zsl_precision_at_3", "zsl_f1_at_3", "gzsl_map", "gzsl_f1_at_3", "oracle_x"]


def test_single_label_tables_show_calibrated_columns_and_test_chosen_ones_only_on_request():
    task = get_task("single-label")
    assert task.table_columns(SINGLE_STORED) == ["t1", "u", "s", "h", "ausuc", "cs_u", "cs_s", "cs_h"]
    assert task.table_columns(SINGLE_STORED, oracle=True)[-3:] == ["oracle_u", "oracle_s", "oracle_h"]
    # a standard-protocol run has no calibrated numbers: no empty CS-* columns
    assert task.table_columns(["t1", "u", "s", "h", "ausuc"]) == ["t1", "u", "s", "h", "ausuc"]


def test_multi_label_tables_show_the_headline_map_and_f1():
    task = get_task("multi-label")
    assert task.table_columns(MULTI_STORED) == ["zsl_map", "zsl_f1_at_3", "gzsl_map", "gzsl_f1_at_3"]
    # without headline metrics: everything stored except test-chosen numbers, unless asked for
    assert task.table_columns(["loss", "oracle_x"]) == ["loss"]
    assert task.table_columns(["loss", "oracle_x"], oracle=True) == ["loss", "oracle_x"]


def test_summary_columns_keep_only_what_the_run_stored():
    assert get_task("single-label").summary_columns({"t1": 0.5, "u": 0.1, "cs_h": None}) == ["t1", "u"]
    test = {"top_k": [3], "zsl_map": 0.2, "zsl_f1_at_3": 0.1, "gzsl_map": 0.3}
    assert get_task("multi-label").summary_columns(test) == ["zsl_map", "zsl_f1_at_3", "gzsl_map"]


def test_unknown_task_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown task type 'regression'"):
        get_task("regression")
