"""benchmarks/gpu_check.sh and gpu_check.py as far as a machine without a GPU allows.

The script must stop at once, with one line, where there is no GPU; the Python part's logic
(largest-batch search, peak lookup, the measurements, the pipeline run with --resume and the
JSON it writes) runs here in its CPU dry mode (``--device cpu --tiny``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO

from benchmarks.gpu_check import largest_fitting_batch, peak_flops

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def _script(tmp_path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env}, cwd=tmp_path)
    return result, time.perf_counter() - start


def test_script_without_nvidia_smi_fails_fast_with_one_line(tmp_path):
    out = tmp_path / "out"
    result, seconds = _script(tmp_path, str(out), NVIDIA_SMI=str(tmp_path / "no-such-nvidia-smi"))
    assert result.returncode == 1 and seconds < 10
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gpu_check: no NVIDIA GPU")
    assert not out.exists()  # nothing installed or written


def test_script_with_a_driver_but_no_gpu_fails_fast(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")
    fake.chmod(0o755)
    result, seconds = _script(tmp_path, str(tmp_path / "out"), NVIDIA_SMI=str(fake))
    assert result.returncode == 1 and seconds < 10
    assert result.stderr.strip() == f"gpu_check: no NVIDIA GPU: '{fake} -L' lists none (is the driver loaded?)"


def test_script_without_an_output_folder_prints_usage(tmp_path):
    result, _ = _script(tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("usage: bash benchmarks/gpu_check.sh OUT_DIR")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_python_part_asked_for_cuda_without_one_fails_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "gpu_check: torch sees no CUDA device; run it on a machine with an NVIDIA GPU "
        "(or --device cpu --tiny for a dry run)"]


@pytest.mark.parametrize("limit", [64, 100, 1000, 2500, 5000, 8192, 20000])
def test_largest_batch_search_doubles_then_bisects(limit):
    probed = []

    def fits(batch: int) -> bool:
        probed.append(batch)
        return batch <= limit

    batch, probes = largest_fitting_batch(fits, start=64, cap=8192)
    assert probes == [(b, b <= limit) for b in probed]
    true_best = min(limit // 64 * 64, 8192)
    assert batch <= true_best and fits(batch)
    assert true_best - batch <= max(64, true_best // 8)  # within the search's resolution
    assert len(probes) <= 12


def test_largest_batch_search_when_even_the_start_does_not_fit():
    assert largest_fitting_batch(lambda b: False, start=64, cap=8192) == (None, [(64, False)])


def test_peak_flops_of_known_cards_name_their_source(monkeypatch):
    monkeypatch.delenv("ZSLBENCH_PEAK_TFLOPS", raising=False)
    for name, expected in [("NVIDIA H200", 989e12), ("NVIDIA H100 80GB HBM3", 989e12),
                           ("NVIDIA H100 PCIe", 756e12), ("NVIDIA A100-SXM4-80GB", 312e12)]:
        flops, source = peak_flops(name)
        assert flops == expected and "datasheet" in source
    assert peak_flops("NVIDIA GeForce RTX 4090")[0] is None
    monkeypatch.setenv("ZSLBENCH_PEAK_TFLOPS", "165")
    assert peak_flops("NVIDIA GeForce RTX 4090") == (165e12, "ZSLBENCH_PEAK_TFLOPS=165")


@pytest.mark.slow
def test_cpu_dry_run_measures_runs_resumes_and_writes_json(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", str(out), "--device", "cpu", "--tiny"],
                            capture_output=True, text=True, cwd=REPO, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["settings"]["tiny"] and report["finished"] and report["skipped"] == []
    fixed = [s for s in report["steps"] if s["batch"] == 8]
    assert {(s["method"], s["compiled"]) for s in fixed} == {(m, c) for m in ("baseline", "svip") for c in (False, True)}
    for step in report["steps"]:
        assert step["error"] is None and step["images_per_s"] > 0 and step["flops_per_step"] > 0
    by_method = {s["method"]: s["flops_per_step"] for s in fixed if not s["compiled"]}
    assert by_method["svip"] > 1.5 * by_method["baseline"]  # two transformer passes per image
    assert {m: report["largest_batch"][m]["batch"] for m in ("baseline", "svip")} == {"baseline": 16, "svip": 16}
    assert "svip_over_baseline_step_batch8_eager" in report["ratios"]
    pipeline = report["pipeline"]
    assert pipeline["ok"] and pipeline["full"]["status"] == "complete" and pipeline["full"]["checkpoint"]
    assert pipeline["interrupted"] == {"exit_code": 130, "status": "interrupted", "checkpoint": True,
                                       "metrics_written": False}
    assert pipeline["resumed"]["epochs"] == 2 and pipeline["resumed"]["max_abs_diff_to_full"] == 0.0
