"""What a user sees while runs go: the status line, one whole-run bar with ETA, one line per finished run.

* :func:`starting_line` is printed by the CLI before torch or any dataset is
  imported, so a run says what it is doing within a second of starting.
* :func:`plan_run` counts, once the dataset is loaded, the training steps of
  every phase and the evaluation batches; :func:`status_line` prints them with
  the device and image counts.
* :class:`RunProgress` is the live view of one run: on a terminal a rich bar
  for the whole run (training and evaluation, with ETA) and one for the
  current epoch; elsewhere (CI, a file) plain lines, each epoch line ending in
  the run's share done and its ETA. It also forwards per-step and per-epoch
  scalars to the experiment trackers of :mod:`zslbench.loggers`. While a run
  executes, :func:`current` returns it, so the engine's training loop and
  scoring (reached through several run flows) report into it without every
  caller passing it along.
* A queue of runs (``ablate``, ``compare --run-missing``, sweeps) is tracked
  by :class:`zslbench.results.queue.QueueProgress` (one line per finished run
  when not on a terminal).
"""

from __future__ import annotations

import contextvars
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

_ACTIVE: contextvars.ContextVar["RunProgress | None"] = contextvars.ContextVar("zslbench_run_progress", default=None)


def current() -> "RunProgress | None":
    """The :class:`RunProgress` of the run executing in this context, if any."""
    return _ACTIVE.get()


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def replan_phase(label: str, epochs: int) -> None:
    """The running run's phase ``label`` takes ``epochs`` epochs (the validated protocol's chosen count)."""
    live = current()
    if live is not None:
        live.set_phase_epochs(label, epochs)


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h01m``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


# --------------------------------------------------------------------------- status line


def starting_line(method: str | None, dataset: str | None, resume_dir: str | None = None) -> str:
    """The first line of ``zslbench run``, printed before any heavy import."""
    if resume_dir:
        return f"zslbench run: resuming {resume_dir} (loading PyTorch and the dataset ...)"
    what = f"{method or 'the configured method'} on {dataset or 'the configured dataset'}"
    return f"zslbench run: {what} (loading PyTorch and the dataset ...)"


@dataclass
class PhasePlan:
    """One training phase: ``epochs`` x ``steps_per_epoch`` steps, ``eval_batches_per_epoch`` validation batches."""

    label: str
    epochs: int
    steps_per_epoch: int
    images: int
    eval_batches_per_epoch: int = 0
    one_time: bool = False  # a backbone pretraining that runs once, then is cached for every later run

    @property
    def steps(self) -> int:
        return self.epochs * (self.steps_per_epoch + self.eval_batches_per_epoch)


@dataclass
class RunPlan:
    """What a run will do, counted before it starts (the status line and the whole-run bar)."""

    method: str
    dataset: str
    seed: int
    protocol: str
    device: str
    kind: str
    test_images: int
    phases: list[PhasePlan] = field(default_factory=list)
    eval_batches: int = 0

    @property
    def total_steps(self) -> int:
        """Training steps of every phase plus evaluation batches: the units of the whole-run bar."""
        return sum(p.steps for p in self.phases) + self.eval_batches


def loader_steps(images: int, batch_size: int, max_steps: int | None = None, world: int = 1) -> int:
    """Steps of one epoch of the engine's loader (drop_last when there is more than one batch)."""
    per_rank_images = -(-images // max(1, world))
    per_rank_batch = max(1, batch_size // max(1, world))
    drop_last = images > batch_size
    steps = per_rank_images // per_rank_batch if drop_last else -(-per_rank_images // per_rank_batch)
    return steps if max_steps is None else min(steps, max_steps)


def eval_batches(images: int, batch_size: int, world: int = 1) -> int:
    return -(-(-(-images // max(1, world))) // max(1, batch_size))


def plan_run(cfg: Any, kind: str, dataset: Any, device: str, world: int = 1, pretraining: Any = None) -> RunPlan:
    """Count the steps of a run of ``cfg`` (a RunConfig) on a loaded ``dataset`` for a method of ``kind``.

    ``pretraining``: the recipe of a backbone pretraining the run starts with (its checkpoint is not cached yet).
    """
    from zslbench.data.dataset import SINGLE_LABEL, validation_split

    splits = {k: len(v) for k, v in dataset.splits.items()}
    test_splits = ("test_seen", "test_unseen") if dataset.task == SINGLE_LABEL else ("test",)
    test_images = sum(splits.get(s, 0) for s in test_splits)
    plan = RunPlan(cfg.method, cfg.dataset, cfg.seed, cfg.protocol, device, kind, test_images)
    t = cfg.train
    if kind == "training-free":  # no training: the bar counts the scored batches (validation ones under gbu)
        plan.eval_batches = sum(eval_batches(splits.get(s, 0), t.eval_batch_size, world) for s in test_splits)
        if cfg.protocol == "gbu" and dataset.task == SINGLE_LABEL:
            val = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)
            plan.eval_batches += sum(eval_batches(len(val.splits[s]), t.eval_batch_size, world) for s in test_splits)
    if kind != "image":
        return plan
    if pretraining is not None:  # the backbone is pretrained first (once; then cached)
        plan.phases.append(pretraining_phase(pretraining))
    if cfg.protocol == "gbu" and dataset.task == SINGLE_LABEL:
        val = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)
        val_eval = sum(eval_batches(len(val.splits[s]), t.eval_batch_size, world) for s in test_splits)
        plan.phases.append(PhasePlan("validate", t.epochs, loader_steps(len(val.splits["trainval"]), t.batch_size,
                                                                        t.max_steps_per_epoch, world),
                                     len(val.splits["trainval"]), val_eval))
    train_images = splits.get("trainval", 0)
    plan.phases.append(PhasePlan("train", t.epochs, loader_steps(train_images, t.batch_size, t.max_steps_per_epoch,
                                                                 world), train_images))
    plan.eval_batches = sum(eval_batches(splits.get(s, 0), t.eval_batch_size, world) for s in test_splits)
    return plan


def pretraining_phase(recipe: Any) -> PhasePlan:
    """The phase of a one-time backbone pretraining (a :class:`~zslbench.training.pretrain_recipes.PretrainRecipe`)."""
    # The label is the engine's for that training, so its epochs and steps land on this phase.
    return PhasePlan(f"pretrain {recipe.backbone}", recipe.epochs, loader_steps(recipe.num_images, recipe.batch_size),
                     recipe.num_images, one_time=True)


def status_line(plan: RunPlan) -> str:
    """``svip on synthetic (seed 0, standard): device cpu, 1200 train / 600 test images, 10 epochs x 18 steps ...``."""
    head = f"{plan.method} on {plan.dataset} (seed {plan.seed}, {plan.protocol}): device {plan.device}"
    if plan.kind == "training-free":
        return f"{head}, {plan.test_images} test images, training-free method (no training steps)"
    if not plan.phases:
        return f"{head}, {plan.test_images} test images, {plan.kind} method (fit on cached backbone features)"
    train = plan.phases[-1]
    parts = [f"{train.images} train / {plan.test_images} test images"]
    for phase in plan.phases:
        if phase.one_time:
            parts.append(f"first a one-time {phase.label} ({phase.epochs} epochs x {phase.steps_per_epoch} steps "
                         f"on {phase.images} images; cached for later runs, counted in the ETA)")
        else:
            parts.append(f"{phase.label} {phase.epochs} epochs x {phase.steps_per_epoch} steps")
    parts.append(f"{plan.total_steps} steps in all (evaluation included)")
    return f"{head}, " + ", ".join(parts)


# --------------------------------------------------------------------------- the live view of one run


class Trackers(Protocol):
    """What :class:`RunProgress` forwards to (see :class:`zslbench.loggers.TrackerGroup`)."""

    def log_scalars(self, scalars: dict[str, float], step: int) -> None: ...


class RunProgress:
    """The whole-run bar (rich on a terminal, plain lines otherwise) and the trackers' per-step feed.

    The engine calls :meth:`start_epoch`, :meth:`step` (at its logging steps)
    and :meth:`end_epoch` for every phase it trains, and :meth:`eval_batch`
    for every scored batch; :meth:`message` prints a line above the bars
    (never interpreted as rich markup).
    """

    def __init__(self, total_steps: int, enabled: bool = True, trackers: Trackers | None = None,
                 stream: TextIO | None = None, description: str = "run", plan: RunPlan | None = None,
                 console: Any = None):
        self.total = max(0, int(total_steps))
        self.plan = plan
        self.enabled = enabled
        self.trackers = trackers
        self.stream = stream or sys.stderr
        # No steps to count (feature methods): plain messages, and the feature cache's own bar.
        self.rich = enabled and self.total > 0 and (console is not None or is_terminal(self.stream))
        self._console = console  # a rich Console to draw on (default: one on ``stream``)
        self.description = description
        self.done = 0
        self._t0 = time.perf_counter()
        self._progress = None
        self._run_task = self._epoch_task = None
        self._token: contextvars.Token | None = None
        self._epoch: dict[str, Any] = {}
        self._global_step: dict[str, int] = {}
        self._last_log: tuple[int, dict[str, float]] = (0, {})
        self._eval_started: float | None = None
        self._eval_images = 0

    def __enter__(self) -> "RunProgress":
        self._token = _ACTIVE.set(self)
        if self.rich:
            from rich.console import Console
            from rich.progress import Progress

            # expand: the losses column (ratio 1) gets the width left over, never the count's or ETA's
            self._progress = Progress(*progress_columns(), console=self._console or Console(file=self.stream),
                                      transient=False, expand=True)
            self._progress.__enter__()
            self._run_task = self._progress.add_task(self.description, total=self.total or None, info="")
        return self

    def renderable(self):
        """What the rich view draws now (its bars), or None when not drawing rich bars."""
        return self._progress.get_renderable() if self._progress is not None else None

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    # ------------------------------------------------------------ whole run

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def eta_seconds(self) -> float:
        """Remaining seconds at the rate so far (inf before the first step)."""
        elapsed = time.perf_counter() - self._t0
        return elapsed * (self.total - self.done) / self.done if self.done else float("inf")

    def set_total(self, total_steps: int) -> None:
        """Correct the plan (e.g. the validated protocol retrains for fewer epochs than it validated)."""
        self.total = max(self.done, int(total_steps))
        if self._progress is not None:
            self._progress.update(self._run_task, total=self.total)

    def set_phase_epochs(self, label: str, epochs: int) -> None:
        """The planned phase ``label`` runs ``epochs`` epochs instead (recomputes the total from the plan)."""
        if self.plan is None:
            return
        for phase in self.plan.phases:
            if phase.label == label:
                phase.epochs = int(epochs)
        self.set_total(self.plan.total_steps)

    def _advance(self, steps: int) -> None:
        if steps <= 0:
            return
        self.done += steps
        if self.total and self.done > self.total:  # the plan was short: grow it rather than overflow
            self.total = self.done
        if self._progress is not None:
            self._progress.update(self._run_task, completed=self.done, total=self.total or None)

    def message(self, line: str) -> None:
        """Print ``line`` as it is (brackets such as ``[train]`` are text, not markup)."""
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def _run_suffix(self) -> str:
        if not self.total:
            return ""
        return f" | run {100 * self.fraction:.0f}%, ETA {format_duration(self.eta_seconds())}"

    # ------------------------------------------------------------ training (called by the engine)

    def start_epoch(self, label: str, epoch: int, epochs: int, steps: int, lr: float | None = None) -> None:
        self._epoch = {"label": label, "epoch": epoch, "epochs": epochs, "steps": steps, "lr": lr, "reported": 0}
        self._last_log = (0, {})
        if self._progress is not None:
            desc = f"{label} epoch {epoch + 1}/{epochs}"
            if self._epoch_task is None:
                self._epoch_task = self._progress.add_task(desc, total=steps, info="")
            else:
                self._progress.reset(self._epoch_task, total=steps, description=desc, info="")
            self._progress.update(self._run_task, description=f"{self.description}: {label}")

    def step(self, step: int, losses: dict[str, float], images_per_second: float) -> None:
        """At a logging step: ``losses`` are the epoch's means so far, ``step`` is 1-based within the epoch."""
        e = self._epoch
        label = e.get("label", "train")
        self._advance(step - e.get("reported", 0))
        e["reported"] = step
        window = self._window_losses(step, losses)
        global_step = self._global_step.get(label, 0) + step
        if self.trackers is not None:
            scalars = {f"{label}/{k}": v for k, v in window.items()}
            scalars[f"{label}/images_per_second"] = images_per_second
            if e.get("lr") is not None:
                scalars[f"{label}/lr"] = float(e["lr"])
            self.trackers.log_scalars(scalars, global_step)
        if not self.enabled:
            return
        info = f"{format_losses(losses)}  {images_per_second:.0f} img/s"
        if self._progress is not None:
            self._progress.update(self._epoch_task, completed=step, info=info)
        else:
            print(f"[{label}] epoch {e.get('epoch', 0) + 1}/{e.get('epochs', 0)} step {step}/{e.get('steps', 0)} "
                  f"{info}{self._run_suffix()}", file=self.stream, flush=True)

    def _window_losses(self, step: int, means: dict[str, float]) -> dict[str, float]:
        """Mean losses since the previous logging step, from the epoch's running means."""
        last_step, last_means = self._last_log
        self._last_log = (step, dict(means))
        span = step - last_step
        if span <= 0:
            return dict(means)
        return {k: (v * step - last_means.get(k, 0.0) * last_step) / span for k, v in means.items()}

    def end_epoch(self, log: Any, note: str = "") -> None:
        """After an epoch: ``log`` is the engine's EpochLog (its ``extra`` holds validation metrics)."""
        e = self._epoch
        label = e.get("label", "train")
        self._advance(e.get("steps", 0) - e.get("reported", 0))
        e["reported"] = e.get("steps", 0)
        self._global_step[label] = self._global_step.get(label, 0) + e.get("steps", 0)
        self._eval_started, self._eval_images = None, 0  # the epoch's validation scoring is part of the epoch
        if self.trackers is not None:
            scalars = {f"{label}_epoch/{k}": float(v) for k, v in log.losses.items()}
            scalars[f"{label}_epoch/lr"] = float(log.lr)
            scalars[f"{label}_epoch/images_per_second"] = float(log.images_per_second)
            scalars.update({f"{label}_epoch/{k}": float(v) for k, v in log.extra.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
            self.trackers.log_scalars(scalars, log.epoch + 1)
        self.message(f"[{label}] epoch {log.epoch + 1}/{e.get('epochs', log.epoch + 1)} done in {log.seconds:.1f}s, "
                     f"{log.images_per_second:.0f} img/s, lr {log.lr:.2e}"
                     f"{' (warm-up: heads only)' if log.warmup else ''}, {format_losses(log.losses)}{note}"
                     f"{self._run_suffix()}")

    def skip_epochs(self, label: str, epochs: int, steps_per_epoch: int) -> None:
        """Epochs a resumed run does not train again count as done."""
        self._advance(epochs * steps_per_epoch)
        self._global_step[label] = self._global_step.get(label, 0) + epochs * steps_per_epoch

    # ------------------------------------------------------------ evaluation

    def eval_batch(self, images: int) -> None:
        """One scored batch of ``images`` images."""
        if self._eval_started is None:
            self._eval_started = time.perf_counter()
            if self._progress is not None:
                self._progress.update(self._run_task, description=f"{self.description}: evaluating")
        self._eval_images += images
        self._advance(1)

    def end_eval(self, what: str = "test images") -> None:
        """Close an evaluation pass: one plain line with its size and time."""
        if self._eval_started is None:
            return
        seconds = time.perf_counter() - self._eval_started
        if not self.rich:
            self.message(f"[eval] {self._eval_images} {what} scored in {seconds:.1f}s{self._run_suffix()}")
        self._eval_started, self._eval_images = None, 0


def progress_columns() -> list:
    """The bar's columns, most important first: what, count, ETA, elapsed, a short bar, then the losses.

    The losses column takes what is left and is cut with an ellipsis, and the
    description is cut before it pushes the count out: at 80 columns a line
    still shows its count and ETA.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column

    return [TextColumn("{task.description}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis", max_width=26)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("ETA", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            BarColumn(bar_width=10),
            TextColumn("{task.fields[info]}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1, min_width=0))]


def format_losses(losses: dict[str, float]) -> str:
    main = [f"loss {losses['loss']:.4f}"] if "loss" in losses else []
    rest = [f"{k} {v:.4f}" for k, v in losses.items() if k != "loss"]
    return " ".join(main + ([f"({', '.join(rest)})"] if rest else []))
