"""Meaningful settings only: every value of a resolved run config checked before anything runs.

Types are checked while the config is built (:mod:`zslbench.config`); this
module checks what the values mean: an epoch count of 0, a batch smaller than
the number of processes, a NaN learning rate, a fraction of 1.5 or a seed that
no random generator accepts would otherwise store an untrained or invalid run.
Each violation is a :class:`~zslbench.errors.UsageError` (one line, exit 2),
raised before a run directory exists.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from zslbench.errors import UsageError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine")
NORMALIZATIONS = ("auto", "imagenet", "half")
#: TrainConfig fields that shape the optimisation beyond optimizer and schedule (SVIP's public loop uses them).
RECIPE_CHOICES = {
    "warmup_grads": ("heads", "accumulate"),
    "schedule_origin": ("warmup_end", "first_epoch"),
    "reset_optimizer": ("never", "every_epoch"),
}
#: Seeds are passed to random, numpy (mod 2**32) and torch (< 2**64); 2**63 keeps every one of them happy.
MAX_SEED = 2**63 - 1
#: The class attribute matrices a dataset may offer (``data.attributes``): xlsa17's att_splits.mat holds both;
#: datasets with one matrix (synthetic, multi-label) use it for either.
ATTRIBUTE_CHOICES = ("att", "original_att")
#: More epochs than any recipe uses (SVIP's longest is 60, classic baselines a few hundred): a larger count is a
#: typo (an exponent, a step count) that would never end.
MAX_EPOCHS = 100_000


def _positive_int(key: str, value: int | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise UsageError(f"{key} must be at least 1, got {value}", f"e.g. --set {key}=10")


def _number(key: str, value: float | None, low: float, high: float = math.inf, *, low_open: bool = False,
            high_open: bool = False, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or not math.isfinite(value):
        raise UsageError(f"{key} must be a finite number, got {value}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
        raise UsageError(f"{key} must be in {bounds}, got {value:g}")


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"unknown {key} {value!r}", f"{key} is one of {', '.join(choices)}")


def _seed(key: str, value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise UsageError(f"{key} must be in 0..{MAX_SEED}, got {value}")


def world_size_from_env() -> int:
    """Processes of this run under torchrun (1 otherwise)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def check_run_config(cfg: Any, world_size: int | None = None) -> None:
    """Raise UsageError for the first setting of ``cfg`` (a :class:`zslbench.config.RunConfig`) that cannot
    give a meaningful run (typed ``Any``: config.py calls this module, which must not import it back)."""
    world = world_size if world_size is not None else world_size_from_env()
    _seed("seed", cfg.seed)
    _seed("data.synthetic_seed", cfg.data.synthetic_seed)
    _number("validation_fraction", cfg.validation_fraction, 0.0, 1.0, low_open=True, high_open=True)
    if cfg.out is not None and Path(cfg.out).expanduser().exists() and not Path(cfg.out).expanduser().is_dir():
        raise UsageError(f"--out {cfg.out} is not a directory", "pass a directory for the run store")
    data = cfg.data
    _positive_int("data.image_size", data.image_size, allow_none=True)
    if data.num_workers < 0:
        raise UsageError(f"data.num_workers must be 0 or more, got {data.num_workers}")
    _choice("data.normalize", data.normalize, NORMALIZATIONS)
    _choice("data.attributes", data.attributes, ATTRIBUTE_CHOICES)
    t = cfg.train
    _positive_int("train.epochs", t.epochs)
    if t.epochs > MAX_EPOCHS:
        raise UsageError(f"train.epochs must be at most {MAX_EPOCHS}, got {t.epochs}", "e.g. --set train.epochs=100")
    _positive_int("train.batch_size", t.batch_size)
    _positive_int("train.eval_batch_size", t.eval_batch_size)
    _positive_int("train.max_steps_per_epoch", t.max_steps_per_epoch, allow_none=True)
    _positive_int("train.log_every_steps", t.log_every_steps)
    _positive_int("train.step_epochs", t.step_epochs)
    if t.batch_size < world or t.batch_size % world:
        raise UsageError(f"train.batch_size {t.batch_size} does not split over the {world} processes",
                         "choose a batch size that is a multiple of the number of processes")
    if not 1 <= t.min_epochs <= t.epochs:
        raise UsageError(f"train.min_epochs must be in 1..train.epochs ({t.epochs}), got {t.min_epochs}",
                         "fewer epochs than a dataset's floor: also --set train.min_epochs=N (N <= epochs)")
    if not 0 <= t.warmup_epochs <= t.epochs:
        raise UsageError(f"train.warmup_epochs must be in 0..train.epochs ({t.epochs}), got {t.warmup_epochs}")
    _choice("train.optimizer", t.optimizer, OPTIMIZERS)
    _choice("train.schedule", t.schedule, SCHEDULES)
    for name, choices in RECIPE_CHOICES.items():
        _choice(f"train.{name}", getattr(t, name), choices)
    _number("train.lr", t.lr, 0.0, low_open=True)
    _number("train.warmup_lr", t.warmup_lr, 0.0, low_open=True, allow_none=True)
    _number("train.weight_decay", t.weight_decay, 0.0)
    _number("train.step_gamma", t.step_gamma, 0.0, low_open=True)
    _number("train.beta1", t.beta1, 0.0, 1.0, high_open=True)
    _number("train.beta2", t.beta2, 0.0, 1.0, high_open=True)
    _number("train.momentum", t.momentum, 0.0, 1.0, high_open=True)
    _number("train.grad_clip_norm", t.grad_clip_norm, 0.0, allow_none=True)  # 0 or none: no clipping
    if t.device not in ("auto", "cpu") and not (t.device == "cuda" or t.device.startswith("cuda:")):
        raise UsageError(f"unknown device {t.device!r}", "choose auto, cpu or cuda")
