"""Start-up time of the commands that do not train, as ratios to ``python -c "import torch"``.

Target: ``zslbench --version``, ``--help``, ``list`` and ``compare`` each take at
most 0.25x the wall time of importing torch alone (they import neither torch
nor timm). Every command runs in a fresh interpreter; the commands are
interleaved round by round so machine noise hits them alike, and each ratio
compares medians from the same run. Run with
``.venv/bin/python -m pytest benchmarks/bench_startup.py --benchmark-only -s``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zslbench import store

TARGET_RATIO = 0.25
ROUNDS = int(os.environ.get("ZSLBENCH_BENCH_STARTUP_ROUNDS", "5"))


def _write_runs(root: Path) -> None:
    """Two methods x two seeds of hand-written complete runs (what compare reads)."""
    for method, h in (("svip", 0.48), ("baseline", 0.40)):
        for seed in (0, 1):
            run = store.run_dir_for(root, "synthetic", method, f"20260101-00000{seed}-s{seed}-{method[:4]}")
            store.atomic_write_json(run / store.CONFIG_FILE, {"method": method, "dataset": "synthetic", "seed": seed,
                                                              "protocol": "standard", "tags": [], "method_options": {}})
            store.write_status(run, "complete")
            test = {"t1": 0.5, "u": 0.4, "s": 0.6, "h": h, "ausuc": 0.3, "oracle_h": h, "cs_h": None}
            store.atomic_write_json(run / store.METRICS_FILE, {"protocol": "standard", "task": "single-label",
                                                               "test": test, "data_version": 3})


def _wall(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ))
    return time.perf_counter() - start


def test_startup_ratios_to_importing_torch(benchmark, tmp_path):
    runs = tmp_path / "runs"
    _write_runs(runs)
    zslbench = [sys.executable, "-m", "zslbench"]
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "--version": [*zslbench, "--version"],
        "--help": [*zslbench, "--help"],
        "list": [*zslbench, "list"],
        "compare": [*zslbench, "compare", "svip", "baseline", "--dataset", "synthetic", "--runs", str(runs)],
    }
    for args in commands.values():  # warm the file system cache once
        _wall(args, tmp_path)
    times: dict[str, list[float]] = {name: [] for name in commands}

    def one_round() -> None:
        for name, args in commands.items():
            times[name].append(_wall(args, tmp_path))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratios = {name: medians[name] / medians["import torch"] for name in commands if name != "import torch"}
    benchmark.extra_info.update({"median_seconds": medians, "ratios_to_import_torch": ratios})
    print("\nmedian wall seconds over", ROUNDS, "interleaved rounds:", json.dumps(
        {k: round(v, 3) for k, v in medians.items()}))
    for name, ratio in ratios.items():
        print(f"zslbench {name}: {medians[name]:.3f} s = {ratio:.3f} x import torch (target <= {TARGET_RATIO})")
    for name, ratio in ratios.items():
        assert ratio <= TARGET_RATIO, f"zslbench {name} takes {ratio:.2f}x the import of torch"
