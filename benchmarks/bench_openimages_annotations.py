"""Peak memory of reading an Open Images annotation CSV (the real file has tens of millions of rows).

Target: <= 100 bytes per row of peak memory above the result
(`zslbench.data.openimages.read_annotations` streams rows into typed arrays).
Run with ``.venv/bin/python -m pytest benchmarks/bench_openimages_annotations.py --benchmark-only -s``;
``ZSLBENCH_BENCH_ROWS`` changes the row count (default 5,000,000).
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from zslbench.data.openimages import read_annotations

ROWS = int(os.environ.get("ZSLBENCH_BENCH_ROWS", 5_000_000))
IMAGES = ROWS // 8  # ~8 human-verified labels per image, as in Open Images V4
LABELS = 7_586


def _write_csv(path: Path) -> None:
    """An annotation file with the real schema, written in blocks (generation is not measured)."""
    rng = np.random.default_rng(0)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\ufeffImageID,Source,LabelName,Confidence\n")
        for start in range(0, ROWS, 500_000):
            n = min(500_000, ROWS - start)
            images = np.sort(rng.integers(0, IMAGES, n))
            labels = rng.integers(0, LABELS, n)
            values = rng.integers(0, 2, n)
            fh.writelines(f"{i:016x},verification,/m/{l:05d},{v}\n" for i, l, v in zip(images, labels, values))


def _result_bytes(found) -> int:
    ids = sum(sys.getsizeof(s) for s in found.image_ids) + sys.getsizeof(found.image_ids)
    return ids + found.image_rows.nbytes + found.columns.nbytes + found.values.nbytes


@pytest.fixture(scope="module")
def annotation_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("openimages") / "train-annotations-human-imagelabels.csv"
    _write_csv(path)
    return path


def test_read_annotations_peak_memory_per_row(benchmark, annotation_csv):
    column_of = {f"/m/{l:05d}": l for l in range(LABELS)}

    def read_traced():
        tracemalloc.start()
        found = read_annotations(annotation_csv, column_of)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return found, peak

    found, peak = benchmark.pedantic(read_traced, rounds=1, iterations=1)
    assert len(found.image_rows) == ROWS
    overhead_per_row = (peak - _result_bytes(found)) / ROWS
    benchmark.extra_info.update(rows=ROWS, peak_bytes=peak, result_bytes=_result_bytes(found),
                                bytes_per_row_above_result=round(overhead_per_row, 1))
    print(f"\n{ROWS:,} rows: peak {peak / 2**20:.0f} MiB, result {_result_bytes(found) / 2**20:.0f} MiB, "
          f"{overhead_per_row:.1f} bytes/row above the result (target <= 100)")
    assert overhead_per_row <= 100
