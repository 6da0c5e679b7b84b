"""The method-agnostic training engine for image methods.

It runs epochs over a DataLoader, with the optimizer and learning-rate schedule
of a :class:`~zslbench.config.TrainConfig`, heads-only warm-up, gradient
clipping, bf16 autocast on CUDA, per-term loss logging and an atomic checkpoint
after every epoch from which ``--resume`` continues exactly (weights,
optimizer, RNG states, epoch, history). It never sees test data: the runner
hands it the training split only and evaluates afterwards.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zslbench import progress as live_progress
from zslbench.training import distributed
from zslbench.config import TrainConfig
from zslbench.checkpoints import save_checkpoint
from zslbench.progress import RunProgress


@dataclass
class EpochLog:
    """What one training epoch did (stored in the run's history)."""

    epoch: int
    lr: float
    seconds: float
    images: int
    images_per_second: float
    losses: dict[str, float]
    warmup: bool = False
    extra: dict = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without one is an error."""
    from zslbench.errors import UsageError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA device is available", "use --device cpu or auto")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise UsageError(f"unknown device {name!r}", "choose auto, cpu or cuda")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def build_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    from zslbench.errors import UsageError

    params = list(params)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UsageError(f"unknown optimizer {cfg.optimizer!r}", "train.optimizer is one of adam, adamw, sgd")


def lr_for_epoch(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: warm-up epochs first, then the schedule over the rest.

    The schedule is a pure function of the epoch, so a resumed run needs no
    scheduler state beyond the epoch counter.
    """
    from zslbench.errors import UsageError

    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr if cfg.warmup_lr is not None else cfg.lr
    t = epoch if cfg.schedule_origin == "first_epoch" else epoch - cfg.warmup_epochs
    total = max(1, cfg.epochs - cfg.warmup_epochs)
    if cfg.schedule == "none":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.step_gamma ** (t // max(1, cfg.step_epochs))
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * t / total))
    raise UsageError(f"unknown schedule {cfg.schedule!r}", "train.schedule is one of none, step, cosine")


def check_recipe(cfg: TrainConfig) -> None:
    """UsageError for an unknown value of a recipe field (``settings_check.RECIPE_CHOICES``), for direct callers."""
    from zslbench.errors import UsageError
    from zslbench.settings_check import RECIPE_CHOICES

    for name, allowed in RECIPE_CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise UsageError(f"train.{name}={getattr(cfg, name)!r} is not valid", f"choose one of {', '.join(allowed)}")


def _set_trainable(model: nn.Module, warmup: bool, cfg: TrainConfig | None = None) -> None:
    """During warm-up only the method's head parameters receive gradients (unless ``warmup_grads=accumulate``)."""
    accumulate = cfg is not None and cfg.warmup_grads == "accumulate"
    head = {id(p) for p in model.head_parameters()} if warmup and not accumulate else None
    for p in model.parameters():
        p.requires_grad_(head is None or id(p) in head)


def _phase_parameters(model: nn.Module, cfg: TrainConfig, epoch: int) -> list[nn.Parameter]:
    """What the optimizer of ``epoch`` steps: with ``warmup_grads=accumulate`` a heads-only one during warm-up."""
    if epoch < cfg.warmup_epochs and cfg.warmup_grads == "accumulate":
        return list(model.head_parameters())
    return list(model.parameters())


def new_optimizer_at(cfg: TrainConfig, epoch: int) -> bool:
    """Whether ``epoch`` starts with a fresh optimizer (moments reset), as SVIP's public code does.

    The code steps a heads-only Adam through the warm-up, then builds a new Adam
    over all parameters at the start of every later epoch (``reset_optimizer=
    every_epoch``); with ``warmup_grads=accumulate`` the first post-warm-up epoch
    always needs a new one, since the warm-up optimizer holds the heads only.
    """
    if epoch < cfg.warmup_epochs or epoch == 0:
        return False
    if cfg.reset_optimizer == "every_epoch":
        return True
    return epoch == cfg.warmup_epochs and cfg.warmup_grads == "accumulate"


class _PhaseReporter:
    """The engine's view of a :class:`zslbench.progress.RunProgress`: one training phase (label, epochs)."""

    def __init__(self, live: RunProgress, label: str, epochs: int):
        self.live, self.label, self.epochs = live, label, epochs

    def start_epoch(self, epoch: int, steps: int, lr: float | None = None) -> None:
        self.live.start_epoch(self.label, epoch, self.epochs, steps, lr)

    def step(self, epoch: int, step: int, steps: int, losses: dict[str, float], images_per_second: float) -> None:
        self.live.step(step, losses, images_per_second)

    def end_epoch(self, log: "EpochLog", note: str = "") -> None:
        self.live.end_epoch(log, note)


@dataclass
class TrainResult:
    history: list[EpochLog]
    train_seconds: float
    resumed_from_epoch: int


def _loader_for_epoch(dataset: Dataset, cfg: TrainConfig, seed: int, epoch: int, pin_memory: bool) -> DataLoader:
    """Shuffling is seeded by (seed, epoch), so a resumed run sees the same batches.

    One process and N torchrun processes draw the same permutation; each rank
    takes every N-th item of it and ``batch_size / N`` items per step, so the
    global batches (and, with mean losses, the gradients) are the same.
    """
    from zslbench.errors import UsageError

    world = distributed.world_size()
    if cfg.batch_size % world:
        raise UsageError(f"train.batch_size {cfg.batch_size} is not divisible by the {world} processes",
                         "choose a batch size that is a multiple of --nproc-per-node")
    sampler = distributed.train_sampler(dataset, seed=seed, epoch=epoch, shuffle=cfg.shuffle)
    per_rank = cfg.batch_size // world
    return DataLoader(dataset, batch_size=per_rank, sampler=sampler, drop_last=len(dataset) > cfg.batch_size,
                      num_workers=cfg_num_workers(dataset), pin_memory=pin_memory, persistent_workers=False)


def cfg_num_workers(dataset: Dataset) -> int:
    return int(getattr(dataset, "num_workers", 0))


class ResumeStateError(ValueError):
    """A checkpoint's training state that :func:`train` cannot continue this model from (one-line message)."""


def check_resume_state(model: nn.Module, state: dict, cfg: TrainConfig, history_extra: tuple[str, ...] = ()) -> None:
    """Raise :class:`ResumeStateError` unless :func:`train` can continue ``model`` from ``state`` under ``cfg``.

    Checked without training and without changing ``model``: the weights (every
    key of the model, same shapes and dtypes, nothing else), the epoch and its
    history (one well-formed :class:`EpochLog` per finished epoch, carrying the
    ``history_extra`` numbers the caller reads back), the optimizer state (loaded
    into a throwaway optimizer of that epoch; moments shaped like their
    parameters) and the RNG states (set, then put back).
    """
    if not isinstance(state, dict):
        raise ResumeStateError("it holds no training state")
    missing = [key for key in ("model", "epoch", "history", "rng") if key not in state]
    if missing:
        raise ResumeStateError(f"it has no {', '.join(repr(k) for k in missing)}")
    _check_weights(model, state["model"])
    epoch = state["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise ResumeStateError(f"its epoch {epoch!r} is not a positive integer")
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch:
        raise ResumeStateError(f"its history is not a list of {epoch} epoch records")
    for i, entry in enumerate(history):
        _check_epoch_log(entry, i, history_extra)
    if not new_optimizer_at(cfg, epoch):
        _check_optimizer(model, state.get("optimizer"), cfg, epoch)
    _check_rng(state["rng"])


def _check_weights(model: nn.Module, weights: object) -> None:
    if not isinstance(weights, dict):
        raise ResumeStateError("its 'model' is not a table of weights")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise ResumeStateError(f"its weights are not those of this model ({len(missing)} missing, "
                               f"{len(unexpected)} unexpected; {first})")
    for key, tensor in expected.items():
        got = weights[key]
        if not isinstance(got, torch.Tensor) or got.shape != tensor.shape or got.dtype != tensor.dtype:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ResumeStateError(f"its weight {key!r} is {shape} "
                                   f"{getattr(got, 'dtype', '')}, the model's is {tuple(tensor.shape)} {tensor.dtype}")


def _check_epoch_log(entry: object, index: int, extra_keys: tuple[str, ...]) -> None:
    numbers = ("lr", "seconds", "images_per_second")

    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    ok = (isinstance(entry, dict) and set(entry) <= {f.name for f in EpochLog.__dataclass_fields__.values()}
          and isinstance(entry.get("epoch"), int) and isinstance(entry.get("images"), int)
          and all(number(entry.get(k)) for k in numbers)
          and isinstance(entry.get("losses"), dict) and all(number(v) for v in entry["losses"].values())
          and isinstance(entry.get("warmup", False), bool) and isinstance(entry.get("extra", {}), dict)
          and all(number(entry.get("extra", {}).get(k)) for k in extra_keys))
    if not ok:
        raise ResumeStateError(f"its history entry {index} is not an epoch record"
                               + (f" with {', '.join(extra_keys)}" if extra_keys else ""))


def _check_optimizer(model: nn.Module, saved: object, cfg: TrainConfig, epoch: int) -> None:
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict):
        raise ResumeStateError("its 'optimizer' is missing or not an optimizer state")
    params = _phase_parameters(model, cfg, epoch)
    optimizer = build_optimizer(params, cfg)
    try:
        optimizer.load_state_dict(saved)
    except Exception as exc:  # any mismatch (groups, sizes, types) means the same: not this optimizer
        raise ResumeStateError(f"its optimizer state does not fit: {(str(exc).splitlines() or [''])[0][:160]}") from None
    for param, moments in zip(params, (optimizer.state.get(p, {}) for p in params)):
        for name, value in moments.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise ResumeStateError(f"its optimizer {name!r} is {tuple(value.shape)} for a parameter of "
                                       f"{tuple(param.shape)}")


def _check_rng(saved: object) -> None:
    if not isinstance(saved, dict) or not {"torch", "numpy", "python"} <= set(saved):
        raise ResumeStateError("its 'rng' is not the torch, numpy and python random states")
    current = rng_state()
    try:
        set_rng_state(saved)
    except Exception as exc:
        raise ResumeStateError(f"its random state is damaged: {type(exc).__name__}") from None
    finally:
        set_rng_state(current)


def train(model: nn.Module, train_set: Dataset, class_attributes: torch.Tensor, cfg: TrainConfig,
          device: torch.device, seed: int, checkpoint_path: Path | None = None, resume: dict | None = None,
          on_epoch_end: Callable[[int], dict] | None = None, progress: bool = True,
          label: str = "train") -> TrainResult:
    """Train ``model`` (an :class:`~zslbench.methods.ImageZSLModel`) on ``train_set``.

    ``train_set`` yields ``(image, target, index)`` with targets indexing the rows
    of ``class_attributes``. ``on_epoch_end(epoch)`` may evaluate on validation
    data; what it returns is stored in the epoch's history entry. With
    ``resume`` (a checkpoint dict) training continues after its last epoch.
    """
    check_recipe(cfg)
    model.to(device)
    class_attributes = class_attributes.to(device)
    wrapped = distributed.wrap_model(model, device)
    if cfg.compile:
        wrapped = torch.compile(wrapped)
    history: list[EpochLog] = []
    start_epoch = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        history = [EpochLog(**h) for h in resume["history"]]
        start_epoch = int(resume["epoch"])
        set_rng_state(resume["rng"])
    optimizer = build_optimizer(_phase_parameters(model, cfg, start_epoch), cfg)
    if resume is not None and not new_optimizer_at(cfg, start_epoch):
        optimizer.load_state_dict(resume["optimizer"])
    use_amp = cfg.amp and device.type == "cuda"
    pin = device.type == "cuda"
    t_start = time.perf_counter()
    steps = live_progress.loader_steps(len(train_set), cfg.batch_size, cfg.max_steps_per_epoch, distributed.world_size())
    live = live_progress.current()
    # Outside a run (direct calls) the engine shows its own bar; inside one it reports into the run's.
    own = live is None
    if own:
        live = RunProgress((cfg.epochs - start_epoch) * steps, enabled=progress and distributed.is_main(),
                           description=label)
    elif start_epoch:
        live.skip_epochs(label, start_epoch, steps)
    with (live if own else contextlib.nullcontext(live)):
        reporter = _PhaseReporter(live, label, cfg.epochs)
        for epoch in range(start_epoch, cfg.epochs):
            if epoch > start_epoch and new_optimizer_at(cfg, epoch):
                optimizer = build_optimizer(_phase_parameters(model, cfg, epoch), cfg)
            log = _train_epoch(model, wrapped, optimizer, train_set, class_attributes, cfg, device, seed, epoch,
                               use_amp, pin, reporter)
            if on_epoch_end is not None:
                log.extra = on_epoch_end(epoch) or {}
            history.append(log)
            note = "".join(f", {k} {v:.4f}" for k, v in log.extra.items() if isinstance(v, float))
            reporter.end_epoch(log, note)
            if checkpoint_path is not None and distributed.is_main():
                save_checkpoint(checkpoint_path, {
                    "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": rng_state(),
                    "history": [asdict(h) for h in history], "lr_schedule": cfg.schedule,
                })
    _set_trainable(model, warmup=False)
    return TrainResult(history, time.perf_counter() - t_start, start_epoch)


def _train_epoch(model: nn.Module, wrapped: nn.Module, optimizer: torch.optim.Optimizer, train_set: Dataset,
                 class_attributes: torch.Tensor, cfg: TrainConfig, device: torch.device, seed: int, epoch: int,
                 use_amp: bool, pin: bool, reporter: _PhaseReporter) -> EpochLog:
    warmup = epoch < cfg.warmup_epochs
    _set_trainable(model, warmup, cfg)
    lr = lr_for_epoch(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    if hasattr(model, "set_epoch"):
        model.set_epoch(epoch)
    model.train()
    loader = _loader_for_epoch(train_set, cfg, seed, epoch, pin)
    steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    reporter.start_epoch(epoch, steps, lr)
    sums: dict[str, torch.Tensor] = {}
    images_seen = 0
    t0 = time.perf_counter()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for step, (images, targets, index) in enumerate(loader):
        if step >= steps:
            break
        if hasattr(model, "set_batch_indices"):
            model.set_batch_indices(index.to(device))
        images = images.to(device, non_blocking=pin)
        targets = targets.to(device, non_blocking=pin)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            losses = wrapped(images, targets, class_attributes)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip_norm)
        optimizer.step()
        # Accumulate on the device; converting to Python floats would sync every step.
        for k, v in losses.items():
            v = v.detach().float()
            sums[k] = sums[k] + v if k in sums else v
        images_seen += images.shape[0]
        if (step + 1) % max(1, cfg.log_every_steps) == 0 or step + 1 == steps:
            mean = {k: float(v) / (step + 1) for k, v in sums.items()}
            reporter.step(epoch, step + 1, steps, mean, images_seen / max(time.perf_counter() - t0, 1e-9))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    n_steps = max(1, min(steps, len(loader)))
    losses_mean = {k: float(distributed.mean_across_ranks(v)) / n_steps for k, v in sums.items()}
    images_total = int(distributed.sum_across_ranks(images_seen))
    return EpochLog(epoch, lr, seconds, images_total, images_total / max(seconds, 1e-9), losses_mean, warmup)


@torch.no_grad()
def score_images(model: nn.Module, dataset: Dataset, class_attributes: torch.Tensor, batch_size: int,
                 device: torch.device, amp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Class scores (N, C) and targets of every image of ``dataset``, in dataset order.

    Under torchrun each rank scores a shard and the scores are gathered before
    any metric is computed (per-class accuracy is never averaged over ranks).
    """
    model.eval()
    model.to(device)
    class_attributes = class_attributes.to(device)
    indices = distributed.shard_indices(len(dataset))
    subset = torch.utils.data.Subset(dataset, indices)
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=cfg_num_workers(dataset),
                        pin_memory=device.type == "cuda")
    use_amp = amp and device.type == "cuda"
    live = live_progress.current()
    scores, targets, order = [], [], []
    for images, target, index in loader:
        if hasattr(model, "set_batch_indices"):
            model.set_batch_indices(index.to(device))
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            s = model.class_scores(images.to(device, non_blocking=True), class_attributes)
        if live is not None:
            live.eval_batch(int(images.shape[0]))
        scores.append(s.float())
        targets.append(target.to(device))
        order.append(torch.as_tensor(index, device=device))
    c = class_attributes.shape[0]
    all_scores = torch.cat(scores) if scores else torch.zeros(0, c, device=device)
    all_targets = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long, device=device)
    all_order = torch.cat(order) if order else torch.zeros(0, dtype=torch.long, device=device)
    all_scores, all_targets, all_order = distributed.gather_rows(all_scores, all_targets, all_order)
    sort = torch.argsort(all_order)
    return all_scores[sort].cpu().numpy(), all_targets[sort].cpu().numpy()
