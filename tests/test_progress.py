"""What a run shows while it goes: the first line, the status line, the whole-run bar, queue lines."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from zslbench import progress
from zslbench.config import RunConfig
from zslbench.training.engine import score_images, train
from zslbench.progress import RunProgress, loader_steps, plan_run, status_line
from zslbench.results.queue import QueueProgress, finished_run_line

from test_engine import ATTRS, TinySet, _cfg, _fresh

ROOT = Path(__file__).resolve().parent.parent


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_first_line_comes_before_torch_is_imported():
    probe = (
        "import sys, click\n"
        "echo = click.echo\n"
        "def spy(message=None, **kw):\n"
        "    if str(message).startswith('zslbench run:'):\n"
        "        print('torch loaded' if 'torch' in sys.modules else 'torch not loaded yet', file=sys.stderr)\n"
        "    echo(message, **kw)\n"
        "click.echo = spy\n"
        "from zslbench.cli import main\n"
        "main(['run', 'svip', '--dataset', 'no-such-dataset'])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = done.stderr.splitlines()
    assert lines[0] == "torch not loaded yet"
    assert lines[1] == "zslbench run: svip on no-such-dataset (loading PyTorch and the dataset ...)"
    assert done.returncode == 2  # the unknown dataset is still a one-line usage error


@pytest.mark.parametrize("images, batch, cap", [(48, 8, None), (50, 8, None), (5, 8, None), (48, 8, 2)])
def test_planned_steps_are_the_engines_loader_length(images, batch, cap):
    loader = DataLoader(list(range(images)), batch_size=batch, drop_last=images > batch)
    assert loader_steps(images, batch, cap) == (len(loader) if cap is None else min(cap, len(loader)))


def test_status_line_names_dataset_method_device_images_and_steps(tmp_path, monkeypatch):
    from zslbench.data.synthetic import load_synthetic

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))
    dataset = load_synthetic("synthetic-tiny", 0)
    cfg = RunConfig(method="svip", dataset="synthetic-tiny")
    cfg.train.epochs, cfg.train.batch_size = 3, 32
    plan = plan_run(cfg, "image", dataset, "cpu")
    line = status_line(plan)
    assert line.startswith("svip on synthetic-tiny (seed 0, standard): device cpu, 180 train / 108 test images")
    assert "train 3 epochs x 5 steps" in line  # 180 images, batch 32, last partial batch dropped
    assert plan.total_steps == 3 * 5 + 2  # + one evaluation batch per test split (36 and 72 images)
    cfg.protocol = "gbu"
    gbu = plan_run(cfg, "image", dataset, "cpu")
    assert [p.label for p in gbu.phases] == ["validate", "train"] and gbu.total_steps > plan.total_steps


def test_a_training_free_run_promises_no_training_steps_only_its_scored_batches(tmp_path, monkeypatch):
    from zslbench.data.synthetic import load_synthetic

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))
    dataset = load_synthetic("synthetic-tiny", 0)
    cfg = RunConfig(method="clip-zeroshot", dataset="synthetic-tiny")
    plan = plan_run(cfg, "training-free", dataset, "cpu")
    line = status_line(plan)
    assert "training-free method (no training steps)" in line and "epochs" not in line
    assert plan.phases == [] and plan.total_steps == plan.eval_batches == 2  # one batch per test split
    cfg.protocol = "gbu"
    assert plan_run(cfg, "training-free", dataset, "cpu").total_steps == 4  # + the validation splits' batches


def test_plain_output_has_epoch_lines_with_the_runs_share_and_eta():
    stream = io.StringIO()
    cfg = _cfg(epochs=2, log_every_steps=100)
    with RunProgress(2 * 6 + 1, stream=stream) as live:
        assert progress.current() is live
        train(_fresh(), TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0)
        score_images(_fresh(), TinySet(n=8), ATTRS, 8, torch.device("cpu"))
        live.end_eval()
    assert progress.current() is None
    text = stream.getvalue()
    assert "[train] epoch 1/2 done in" in text and "| run 46%, ETA" in text
    assert "[eval] 8 test images scored in" in text and "| run 100%" in text
    assert live.done == live.total == 13


def test_rich_keeps_the_bracketed_prefix_and_shows_one_bar_for_the_run():
    terminal = FakeTerminal()
    with RunProgress(12, stream=terminal, description="tiny on toy") as live:
        assert live.rich
        train(_fresh(), TinySet(), ATTRS, _cfg(epochs=2), torch.device("cpu"), seed=0)
    text = terminal.getvalue()
    assert "[train] epoch 2/2 done in" in text  # not swallowed as rich markup
    assert "tiny on toy" in text and "ETA" in text


def test_the_validated_protocol_corrects_the_total_after_choosing_epochs():
    plan = progress.RunPlan("m", "d", 0, "gbu", "cpu", "image", 10,
                            [progress.PhasePlan("validate", 10, 4, 40, 1), progress.PhasePlan("train", 10, 5, 50)], 2)
    live = RunProgress(plan.total_steps, enabled=False, plan=plan)
    assert live.total == 10 * 5 + 10 * 5 + 2
    live.set_phase_epochs("train", 3)
    assert live.total == 10 * 5 + 3 * 5 + 2


@dataclass
class _Config:
    method: str
    dataset: str
    seed: int


def test_a_queue_prints_one_line_per_finished_run_when_not_on_a_terminal():
    stream = io.StringIO()
    metrics = {"test": {"t1": 0.412, "u": 0.305, "s": 0.601, "h": 0.405, "ausuc": 0.2}}
    with QueueProgress(2, "ablation runs", stream) as queue:
        queue.started("svip on synthetic (seed 0)")
        queue.finished(_Config("svip", "synthetic", 0), metrics, "runs/x", 12.3)
        queue.finished(_Config("svip", "synthetic", 1), {"task": "multi-label", "test": {"zsl_map": 0.25, "top_k": [3]}}, "runs/y")
    lines = stream.getvalue().splitlines()
    assert lines == ["[1/2] svip on synthetic, seed 0: T1 41.2 U 30.5 S 60.1 H 40.5 AUSUC 20.0 (12s) -> runs/x",
                     "[2/2] svip on synthetic, seed 1: zsl_map 25.0 -> runs/y"]
    assert finished_run_line(1, 1, "m", "d", 0, {}, None, "r") == "[1/1] m on d, seed 0: no test metrics -> r"


def render_80_columns(live: RunProgress) -> list[str]:
    from rich.console import Console

    screen = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    screen.print(live.renderable())
    return screen.export_text().splitlines()


def test_an_80_column_terminal_shows_count_and_eta_before_the_losses():
    from rich.console import Console

    console = Console(width=80, file=io.StringIO(), force_terminal=True)
    with RunProgress(201, console=console, description="svip on synthetic-v3-tiny (gbu, seed 0)") as live:
        live.start_epoch("validate", 0, 10, 18)
        live.step(5, {"loss": 2.3456, "cls": 1.2345, "ssps": 0.4567, "sem": 0.1234, "cons": 0.9876}, 123.0)
        lines = render_80_columns(live)
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    run_line, epoch_line = lines
    assert "5/201" in run_line and "ETA" in run_line
    assert "5/18" in epoch_line and "ETA" in epoch_line
    assert epoch_line.index("5/18") < epoch_line.index("ETA")
    assert "loss 2.3456" in epoch_line  # the losses come after, cut to what fits


def test_status_line_announces_a_pending_pretraining_and_counts_it(tmp_path, monkeypatch):
    from zslbench.data.synthetic import load_synthetic
    from zslbench.runner import _pending_pretraining
    from zslbench.training.pretrain_recipes import SYNTHETIC_PRETRAINED

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path))  # an empty cache: the pretraining is still to do
    dataset = load_synthetic("synthetic-tiny", 0)
    cfg = RunConfig(method="svip", dataset="synthetic-v3-tiny", pretrained=SYNTHETIC_PRETRAINED)
    cfg.train.epochs, cfg.train.batch_size = 3, 32
    plan = plan_run(cfg, "image", dataset, "cpu", pretraining=_pending_pretraining(cfg))
    assert plan.phases[0].one_time and plan.phases[0].label.startswith("pretrain ")
    assert plan.total_steps == 1 * 3 + 3 * 5 + 2  # 96 images in batches of 32, once; then the run itself
    line = status_line(plan)
    assert "first a one-time pretrain vit-synthetic-v2-tiny (1 epochs x 3 steps on 96 images" in line
    assert f"{plan.total_steps} steps in all" in line
