"""Experiment trackers: ``zslbench run --logger tensorboard --logger wandb`` (off by default).

A tracker receives the resolved config when the run starts, per-step scalars
(``train/loss`` and the method's other loss terms over the last logging
window, ``train/lr``, ``train/images_per_second``; ``validate/...`` during the
validated protocol's first phase), per-epoch scalars (``train_epoch/...``,
with the validation metrics of that epoch) and the final test metrics
(``test/t1``, ``test/h``, ... in percent of the stored fractions) when it ends.

* ``tensorboard``: event files in ``<run dir>/tensorboard`` (``tensorboard
  --logdir runs/``); needs the ``tensorboard`` package (``pip install
  'zslbench[tensorboard]'``).
* ``wandb``: a Weights & Biases run whose files live in ``<run dir>/wandb``.
  It is **offline** unless ``WANDB_MODE`` is set (``wandb sync`` uploads it
  later); needs ``wandb`` (``pip install 'zslbench[wandb]'``).

Neither is a dependency of zslbench: asking for one that is not installed is
a usage error before anything runs.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any, Protocol, Sequence

from zslbench.errors import UsageError

LOGGERS = ("tensorboard", "wandb")
_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}


class Tracker(Protocol):
    """One experiment-tracker backend."""

    def log_config(self, config: dict) -> None: ...

    def log_scalars(self, scalars: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def check_loggers(names: Sequence[str]) -> list[str]:
    """Known names whose package is installed (UsageError naming the extra otherwise)."""
    out = []
    for name in names:
        if name not in LOGGERS:
            raise UsageError(f"unknown logger {name!r}", f"choose {' or '.join(LOGGERS)}")
        if importlib.util.find_spec(_PACKAGES[name]) is None:
            raise UsageError(f"--logger {name} needs the {_PACKAGES[name]!r} package",
                             f"pip install 'zslbench[{name}]'")
        if name not in out:
            out.append(name)
    return out


def _finite_scalars(scalars: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in scalars.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


class TensorBoardTracker:
    """Scalars as TensorBoard event files; the config as a text summary."""

    def __init__(self, log_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def log_config(self, config: dict) -> None:
        import json

        self.writer.add_text("config", "```json\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class WandbTracker:
    """A W&B run stored under the run directory; offline unless ``WANDB_MODE`` asks otherwise."""

    def __init__(self, run_dir: Path, name: str, group: str):
        import wandb

        self.dir = Path(run_dir)
        mode = os.environ.get("WANDB_MODE", "offline")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "zslbench"), name=name, group=group,
                              dir=str(self.dir), mode=mode, reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))
        self._axes: set[str] = set()

    def log_config(self, config: dict) -> None:
        self.run.config.update(config, allow_val_change=True)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        # Per-step and per-epoch scalars are not on one axis: each prefix ("train", "train_epoch", ...)
        # gets its own step metric, declared once.
        by_prefix: dict[str, dict[str, float]] = {}
        for key, value in scalars.items():
            by_prefix.setdefault(key.split("/")[0], {})[key] = value
        for prefix, values in by_prefix.items():
            if prefix not in self._axes:
                self.run.define_metric(f"{prefix}/step")
                self.run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")
                self._axes.add(prefix)
            self.run.log({**values, f"{prefix}/step": step})

    def close(self) -> None:
        import wandb

        self.run.finish()
        # finish() returns before the background service has written the run's files; teardown waits for it,
        # so the run directory is complete when the zslbench run ends.
        wandb.teardown()


class TrackerGroup:
    """Fans every call out to the chosen trackers; a tracker failing to log never fails the run."""

    def __init__(self, trackers: Sequence[Tracker] = ()):
        self.trackers = list(trackers)
        self.errors: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def _each(self, method: str, *args: Any) -> None:
        for tracker in self.trackers:
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # a tracker is an observer: report, keep training
                message = f"{type(tracker).__name__}.{method}: {type(exc).__name__}: {exc}"
                if message not in self.errors:
                    self.errors.append(message)
                    import warnings

                    warnings.warn(f"experiment tracker failed: {message}", RuntimeWarning, stacklevel=3)

    def log_config(self, config: dict) -> None:
        self._each("log_config", config)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        clean = _finite_scalars(scalars)
        if clean:
            self._each("log_scalars", clean, int(step))

    def log_final(self, metrics: dict) -> None:
        """The stored test metrics, in percent (fractions x 100), at step 0 under ``test/``."""
        test = metrics.get("test", {}) or {}
        scalars = {f"test/{k}": 100 * v for k, v in _finite_scalars(test).items()
                   if not k.endswith("_gamma") and k not in ("top_k",) and 0.0 <= v <= 1.0}
        self.log_scalars(scalars, 0)

    def close(self) -> None:
        self._each("close")


def open_trackers(names: Sequence[str], run_dir: Path, config: dict) -> TrackerGroup:
    """Start the trackers named in ``names`` for a run stored in ``run_dir`` and log its config."""
    trackers: list[Tracker] = []
    for name in check_loggers(names):
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(Path(run_dir) / "tensorboard"))
        else:
            trackers.append(WandbTracker(Path(run_dir), name=Path(run_dir).name,
                                         group=f"{config.get('method')}/{config.get('dataset')}"))
    group = TrackerGroup(trackers)
    group.log_config(config)
    return group
