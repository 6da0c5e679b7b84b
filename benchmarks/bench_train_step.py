"""Train-step throughput of the ViT baseline, SVIP and its variants on a small CPU configuration.

Configuration: ``vit-synthetic`` (64 px, 8x8 patches, 4 blocks, width 96), batch
32, 15 attributes, 80 seen classes, AdamW; one step = forward (both passes for
SVIP), backward and optimiser step. The perf target of the project is
``svip step time <= 2.1 x baseline step time`` at the same configuration;
``test_svip_to_baseline_ratio`` measures it with interleaved repetitions (min
over rounds, robust to other load on the machine).

Peak memory: each method runs 3 steps in a fresh subprocess and reports the
growth of the peak resident set size (``VmHWM`` of /proc/self/status, Linux)
over the state right before the first step (model, optimiser and batch built), i.e. activations,
gradients and optimiser state. Stored in ``extra_info``.

Threads: ``ZSLBENCH_BENCH_THREADS`` (default 1) torch threads, because the
ratio is what matters and a shared 2-core machine makes multi-threaded
timings erratic.

Run: ``.venv/bin/python -m pytest benchmarks/bench_train_step.py --benchmark-only``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from zslbench.config import resolve_run_config
from zslbench.methods import MethodContext

BATCH = 32
NUM_ATTRIBUTES = 15
SEEN_CLASSES = 80
METHODS = ("baseline", "svip", "svip-reference", "svip-no-ssps", "svip-no-psc", "svip-no-jsd", "svip-no-w2p",
           "svip-no-p2a")


def _threads() -> int:
    return int(os.environ.get("ZSLBENCH_BENCH_THREADS", "1"))


def _spec(name: str):
    from zslbench_baselines.plugin import method_specs as baseline_specs
    from zslbench_svip.plugin import method_specs as svip_specs

    return {s.name: s for s in [*svip_specs(), *baseline_specs()]}[name]


def make_step(name: str, seed: int = 0):
    """A closure running one train step of method ``name`` on a fixed batch (and the batch size)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(NUM_ATTRIBUTES, 50)).astype(np.float32)
    context = MethodContext(
        dataset_name="synthetic", attribute_names=[f"attribute {i}" for i in range(NUM_ATTRIBUTES)],
        num_attributes=NUM_ATTRIBUTES, image_size=64,
        attribute_groups=[list(range(0, 6)), list(range(6, 12)), list(range(12, 15))],
        attribute_vectors=lambda: vectors, backbone="vit-synthetic", pretrained="none",
    )
    spec = _spec(name)
    defaults = spec.dataset_defaults("synthetic")
    _, options = resolve_run_config([{"method": name}, {"method": defaults["method"]}], spec.options_type)
    model = spec.build(context, options).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randn(BATCH, 3, 64, 64)
    targets = torch.randint(0, SEEN_CLASSES, (BATCH,))
    class_attributes = torch.rand(SEEN_CLASSES, NUM_ATTRIBUTES)

    def step() -> None:
        loss = model.training_losses(images, targets, class_attributes)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def _peak_rss_growth_mb(name: str) -> float | None:
    """Peak RSS growth (MiB) of 3 train steps of ``name`` in a fresh process (None without /proc)."""
    if not os.path.exists("/proc/self/status"):
        return None
    # VmHWM (peak RSS of this process image), not ru_maxrss: after fork+exec ru_maxrss
    # starts at the parent's RSS, which is the whole pytest process here.
    code = (
        "import json, sys, torch\n"
        "def peak_kb():\n"
        "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    return int(line.split()[1])\n"
        f"torch.set_num_threads({_threads()})\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "from bench_train_step import make_step\n"
        f"step = make_step({name!r})\n"
        "before = peak_kb()\n"
        "for _ in range(3): step()\n"
        "print(json.dumps((peak_kb() - before) / 1024))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(autouse=True)
def _torch_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(_threads())
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", METHODS)
def test_train_step(benchmark, name):
    step = make_step(name)
    step()  # first-call overheads out of the measurement
    benchmark.pedantic(step, rounds=8, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(
        images_per_s=BATCH / seconds, batch=BATCH, threads=_threads(), peak_rss_growth_mb=_peak_rss_growth_mb(name),
    )


def test_svip_to_baseline_ratio(benchmark):
    """SVIP / baseline step time, interleaved so both see the same machine load (target <= 2.1)."""
    steps = {name: make_step(name) for name in ("baseline", "svip")}
    best = {name: float("inf") for name in steps}
    for step in steps.values():
        step()
    for _ in range(8):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - start)
    benchmark.pedantic(steps["svip"], rounds=3, iterations=1)
    ratio = best["svip"] / best["baseline"]
    benchmark.extra_info.update(svip_step_s=best["svip"], baseline_step_s=best["baseline"], ratio=ratio,
                                target_ratio=2.1, threads=_threads())
    print(f"\nsvip step {best['svip'] * 1e3:.1f} ms, baseline step {best['baseline'] * 1e3:.1f} ms, ratio {ratio:.2f}")
