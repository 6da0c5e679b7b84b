"""The flow of one run: resolve the config, load the data, train, evaluate, store.

``resolve_run`` turns CLI options, a TOML file and ``--set`` overrides into one
:class:`~zslbench.config.RunConfig` (plus the method's typed options);
``execute_run`` carries it out and writes the run directory. Nothing is
written to the run store until the config is valid and the dataset loaded.
This module is longer than 500 lines because it is the one run flow of every
task and protocol (standard, gbu, published), resume and the feature methods.

Protocols (see docs/architecture.md):

* ``standard``: train on trainval for ``train.epochs`` and report the last
  epoch on the test splits (raw U/S/H, T1, AUSUC and the test-swept
  ``oracle_*``); no choice is made on test data.
* ``gbu``: train on the train classes, choose the epoch count and the
  calibration gamma on the validation classes (pseudo-unseen) plus held-out
  train-class images (pseudo-seen), retrain on trainval with those choices and
  additionally report ``cs_*`` at the chosen gamma.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench import published_protocol, registry  # no torch here: resolving a config (report, sweep planning) stays light
from zslbench.config import RunConfig, build_dataclass, deep_merge, load_toml, parse_set, resolve_run_config
from zslbench.data.dataset import SINGLE_LABEL, ZSLDataset, validation_split
from zslbench.errors import DataError, UsageError, ZSLBenchError
from zslbench.methods import MethodContext, MethodSpec
from zslbench.plugins import ensure_loaded
from zslbench.progress import replan_phase
from zslbench.tasks.selection_curve import curve_from_history
from zslbench.tasks import Task, check_supported, get_task
from zslbench import signals, store, stored_files


class RunInterrupted(ZSLBenchError):
    """Ctrl-C during a run: the state is saved and the run can be resumed."""

    exit_code = 130


@dataclass
class ResolvedRun:
    """A run ready to execute: its config, the method and the method's options."""

    config: RunConfig
    method: MethodSpec
    options: Any


@dataclass
class RunOutcome:
    run_dir: Path
    metrics: dict
    config: RunConfig
    timings: dict = dataclasses.field(default_factory=dict)


def _names_from_layers(layers: list[dict]) -> tuple[str, str]:
    merged: dict = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    method = merged.get("method")
    if isinstance(method, dict):
        method = method.get("name")
    if method is None:  # the core has no default method: methods are plugins
        raise UsageError("no method given", "name one, e.g. `zslbench run METHOD`; registered methods: "
                         + (", ".join(registry.methods.names()) or "none (install a method plugin)"))
    dataset = merged.get("dataset", RunConfig.dataset)
    if not isinstance(method, str) or not isinstance(dataset, str):
        raise UsageError("method and dataset must be names (strings)")
    return method, dataset


def resolve_run(method: str | None = None, dataset: str | None = None, config_file: str | None = None,
                set_items: tuple[str, ...] | list[str] = (), overrides: dict | None = None) -> ResolvedRun:
    """Merge defaults < method's per-dataset defaults < config file < --set < explicit options."""
    ensure_loaded()
    file_layer = load_toml(config_file) if config_file else {}
    set_layer = parse_set(list(set_items))
    cli_layer = dict(overrides or {})
    if method:
        cli_layer["method"] = method
    if dataset:
        cli_layer["dataset"] = dataset
    method_name, dataset_name = _names_from_layers([file_layer, set_layer, cli_layer])
    spec: MethodSpec = registry.methods.get(method_name)
    dataset_spec = registry.datasets.get(dataset_name)
    task = get_task(dataset_spec.task)
    protocol = cli_layer.get("protocol", set_layer.get("protocol", file_layer.get("protocol")))
    check_supported(task, spec, protocol or task.protocols[0], dataset_spec.name)
    published_protocol.check_method(protocol, spec.name, spec.kind)
    defaults = spec.dataset_defaults(dataset_spec.name) if spec.dataset_defaults else {}
    names = {"method": spec.name, "dataset": dataset_spec.name}
    layers = [defaults or {}, file_layer, set_layer, cli_layer, names]
    cfg, options = resolve_run_config(layers, spec.options_type)
    _check_tune(cfg, spec, options)
    if cfg.backbone is None and spec.default_backbone is not None:
        cfg.backbone = spec.default_backbone(dataset_spec.name)
    if cfg.pretrained is None:  # synthetic v2 on its own ViT: the pretrained tiny backbone
        from zslbench.training.pretrain_recipes import default_pretrained
        cfg.pretrained = default_pretrained(dataset_spec.name, cfg.backbone)
    if cfg.data.image_size is None:
        cfg.data.image_size = default_image_size(cfg.backbone, dataset_spec)
    return ResolvedRun(cfg, spec, options)


def default_image_size(backbone: str | None, dataset_spec: registry.DatasetSpec) -> int:
    """A foundation backbone's own image size (its patch grid), else the dataset's."""
    from zslbench.models.catalog import PRETRAINED_VITS

    tower = PRETRAINED_VITS.get(backbone or "")
    return tower.image_size if tower is not None else dataset_spec.default_image_size


def read_run_dir(run_dir: str | Path, not_found_hint: str, action: str = "read run",
                 require_status: bool = True) -> store.RunRecord:
    """The stored record of ``run_dir``; a missing or unreadable directory is a UsageError ("cannot <action> ...")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory not found: {run_dir}", not_found_hint)
    try:
        return store.read_run(run_dir, require_status=require_status)
    except store.UnreadableRun as exc:
        raise UsageError(f"cannot {action} {run_dir}: {exc}") from None


def resolve_stored_run(record: store.RunRecord) -> ResolvedRun:
    """The config, method spec and typed options of a stored run (complete or not)."""
    ensure_loaded()
    saved = dict(record.config)
    method_options = saved.pop("method_options", {}) or {}
    if not isinstance(saved.get("method"), str):
        raise UsageError(f"{record.path / store.CONFIG_FILE} names no method")
    spec: MethodSpec = registry.methods.get(saved["method"])
    saved["method"] = {"name": saved["method"], **method_options}
    cfg, options = resolve_run_config([saved], spec.options_type)
    return ResolvedRun(cfg, spec, options)


def _check_tune(cfg: RunConfig, spec: MethodSpec, options: Any) -> None:
    """``tune`` grids are chosen on validation data: gbu protocol, feature methods, valid option values."""
    if not cfg.tune:
        return
    if cfg.protocol != "gbu":
        raise UsageError("tune.* chooses hyper-parameters on validation data", "add --protocol gbu")
    if spec.kind != "feature":
        raise UsageError(f"tune.* is available for feature-level methods, not {spec.name!r}",
                         "run one configuration per --set method.<key>=... and compare them")
    for key, values in cfg.tune.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"tune.{key} expects a non-empty list of values", f"e.g. --set 'tune.{key}=[0.1, 1.0]'")
        for value in values:
            with_option(spec, options, {key: value})


def with_option(spec: MethodSpec, options: Any, changes: dict) -> Any:
    """``options`` with ``changes`` applied, type-checked like ``--set method.<key>=...``."""
    return build_dataclass(spec.options_type, {**dataclasses.asdict(options), **changes}, prefix="method.")


def tune_grid(tune: dict[str, list]) -> list[dict]:
    """Every combination of the ``tune`` candidates, in a stable order."""
    keys = sorted(tune)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(tune[k] for k in keys))] or [{}]


def resolve_resume(run_dir: Path) -> ResolvedRun:
    """The resolved run of an existing run directory, for ``--resume``.

    Refused in one line, before anything is written: a directory that is or
    holds a link, unreadable or malformed files, a complete run, a checkpoint
    whose header is not a zslbench checkpoint (the content is checked against
    the model by :func:`load_resume_states`).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() and not run_dir.is_symlink():
        raise UsageError(f"run directory not found: {run_dir}", "pass the path printed at the end of a run")
    record = store.check_resumable(run_dir)
    from zslbench.checkpoints import LEGACY_SUFFIX, check_checkpoint

    for name in (store.CHECKPOINT_FILE, store.VALIDATION_CHECKPOINT_FILE):  # refused before anything is written
        path = run_dir / name
        if path.exists() or path.with_suffix(LEGACY_SUFFIX).exists():
            check_checkpoint(path)
    return resolve_stored_run(record)


@dataclass
class ResumeStates:
    """What ``--resume`` continues from, read and checked before the run directory is written."""

    validation_record: dict | None = None  # validation.json of a gbu run whose phase 1 finished
    validation: dict | None = None  # checkpoint-validation.safetensors (gbu phase 1 interrupted)
    train: dict | None = None  # checkpoint.safetensors


def load_resume_states(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device, run_dir: Path,
                       built: Any = None) -> ResumeStates:
    """Read and check every file ``--resume`` continues an image run from; CheckpointError / UsageError in one line.

    Each checkpoint is checked against a model built as its phase builds it
    (weights, optimizer, RNG states, history; see ``engine.check_resume_state``),
    ``validation.json`` against the config, so a refused resume writes nothing.
    ``built``: a model already built on ``dataset`` (checks the training checkpoint without building another).
    """
    from zslbench.checkpoints import CheckpointError, load_resume_state
    from zslbench.training.engine import ResumeStateError, check_resume_state

    cfg = resolved.config
    states = ResumeStates()

    def checked(path: Path, phase_dataset: ZSLDataset, history_extra: tuple[str, ...] = (),
                model: Any = None) -> dict | None:
        state = load_resume_state(path)
        if state is None:
            return None
        if model is None:
            model = resolved.method.build(
                task.method_context(method_context(cfg, phase_dataset, device), phase_dataset), resolved.options)
        try:
            check_resume_state(model, state, cfg.train, history_extra)
        except ResumeStateError as exc:
            raise CheckpointError(f"cannot resume from {path}: {exc}",
                                  f"the checkpoint is damaged or of another model; delete {path} to train that "
                                  "phase again") from None
        return state

    if cfg.protocol == "gbu":
        saved = run_dir / store.VALIDATION_FILE
        if os.path.lexists(saved):
            try:
                states.validation_record = stored_files.read_run_file(
                    saved, lambda obj, name: stored_files.check_validation(obj, cfg.train.epochs, name))
            except stored_files.UnreadableRun as exc:
                raise UsageError(f"cannot resume {run_dir}: {exc}",
                                 f"delete {saved} to choose the epochs and gamma again") from None
        else:
            val_ds = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)
            states.validation = checked(run_dir / store.VALIDATION_CHECKPOINT_FILE, val_ds, ("val_cs_h", "val_gamma"))
    states.train = checked(run_dir / store.CHECKPOINT_FILE, dataset, model=built)
    return states


def load_dataset(cfg: RunConfig, require_images: bool = True,
                 dataset_spec: registry.DatasetSpec | None = None) -> ZSLDataset:
    """Load and validate the run's dataset (``dataset_spec``: the registered ``cfg.dataset`` unless given).

    ``require_images=False`` is passed to loaders that accept it, for methods
    that read precomputed features (e.g. the published res101 features).
    """
    import inspect

    dataset_spec = dataset_spec or registry.datasets.get(cfg.dataset)
    if not require_images and "require_images" in inspect.signature(dataset_spec.load).parameters:
        dataset = dataset_spec.load(cfg.data, require_images=False)
    else:
        dataset = dataset_spec.load(cfg.data)
    try:
        dataset.validate()
    except ValueError as exc:
        raise DataError(str(exc), f"run `zslbench data check {cfg.dataset}`") from None
    return dataset


def _load_for_method(cfg: RunConfig, kind: str, file_features: bool) -> tuple[ZSLDataset, bool]:
    """(the dataset, whether its images are absent): a training-free method may run on a root without images
    (from cached image embeddings), so its dataset is loaded without the image check first."""
    if kind != "training-free":
        return load_dataset(cfg, require_images=not file_features), False
    dataset = load_dataset(cfg, require_images=False)
    if dataset.meta.get("images_checked") is not False:  # the loader checked the images (it has no such option)
        return dataset, False
    image_dir = dataset.meta.get("image_dir")
    if image_dir and not Path(image_dir).is_dir():
        return dataset, True
    return load_dataset(cfg), False  # the images are there: loaded and checked as for any image method


def _inputs_without_images(cfg: RunConfig, model: Any, dataset: ZSLDataset, splits: tuple[str, ...]) -> tuple[dict, dict]:
    """The cached inputs a training-free ``model`` scores where the images are absent (``inputs_without_images``),
    or the loader's own error about the missing images if the method cannot do without them."""
    if not hasattr(model, "inputs_without_images"):
        load_dataset(cfg)  # raises the loader's one-line error naming the missing image folder
        raise DataError(f"{cfg.method} needs the images of {cfg.dataset}")  # pragma: no cover - the loader raised
    return model.inputs_without_images(dataset, splits, input_normalisation(cfg))


def execute_run(resolved: ResolvedRun, resume_dir: Path | None = None, progress: bool = True) -> RunOutcome:
    """Carry out a run and store it; returns where it was stored and its metrics."""
    from zslbench.training import distributed, engine

    cfg, spec = resolved.config, resolved.method
    device = engine.resolve_device(cfg.train.device)
    distributed.init_from_env(device.type)
    device = distributed.local_device(device)
    engine.seed_everything(cfg.seed)
    from zslbench.features import FILE_BACKBONES

    from zslbench.loggers import check_loggers, open_trackers
    from zslbench.progress import RunProgress, plan_run, status_line

    check_loggers(cfg.loggers)  # a missing tracker package stops here, before anything is stored
    file_features = spec.kind == "feature" and cfg.backbone in FILE_BACKBONES
    dataset, images_absent = _load_for_method(cfg, spec.kind, file_features)
    task = get_task(dataset.task)
    check_supported(task, spec, cfg.protocol, cfg.dataset)
    # Features read from the dataset's own files (res101.mat, the authors' HDF5) are read, and so checked (sizes,
    # finite values), before the run directory exists: a damaged file leaves no failed run behind.
    features = _timed_features(cfg, dataset, task.feature_splits, device) if file_features else None
    plan = plan_run(cfg, spec.kind, dataset, str(device), distributed.world_size(), _pending_pretraining(cfg))
    if progress and distributed.is_main():
        print(status_line(plan), file=sys.stderr, flush=True)
    built = prebuilt = None  # a training-free model is used as built here (an image method is rebuilt per phase)
    cached_inputs = None  # a training-free method's cached image embeddings where the images are absent
    if spec.kind in ("image", "training-free"):
        # Build once before anything is stored: missing weights, bad option combinations
        # or missing word vectors stop here with nothing written to the run store.
        built = spec.build(task.method_context(method_context(cfg, dataset, device), dataset), resolved.options)
        prebuilt = built if spec.kind == "training-free" else None
        if images_absent:  # cached image inputs, read (and checked) before anything is stored
            cached_inputs = _inputs_without_images(cfg, prebuilt, dataset, task.feature_splits)
        engine.seed_everything(cfg.seed)
    resume_states = None
    if resume_dir is not None and spec.kind == "image":  # the whole checkpoint and side files, before any write
        resume_states = load_resume_states(resolved, task, dataset, device, Path(resume_dir), built)
        engine.seed_everything(cfg.seed)
    del built  # an image method is built again by each phase
    if resume_dir is None:
        run_id = distributed.broadcast_object(store.new_run_id(cfg.seed))
        run_dir = store.run_dir_for(store_root(cfg), cfg.dataset, cfg.method, run_id)
    else:
        run_dir = Path(resume_dir)
    main = distributed.is_main()
    lock = store.open_run_dir(run_dir, cfg.to_dict(), resume_dir is not None, str(device),
                              distributed.world_size()) if main else None
    t0 = time.perf_counter()
    trackers = None
    discard = False  # bad user input found once the new run directory exists: remove it, it holds nothing
    try:
        trackers = open_trackers(cfg.loggers, run_dir, cfg.to_dict()) if main and cfg.loggers else None
        with RunProgress(plan.total_steps, enabled=progress and main, trackers=trackers, plan=plan,
                         description=f"{cfg.method} on {cfg.dataset}") as live:
            if spec.kind == "image":
                metrics, timings = _run_image_method(resolved, task, dataset, device, run_dir,
                                                     resume_states or ResumeStates(), progress)
            elif spec.kind == "training-free":
                metrics, timings = _run_training_free_method(resolved, task, dataset, device, prebuilt, cached_inputs)
            else:
                metrics, timings = _run_feature_method(resolved, task, dataset, device, run_dir, progress, features)
            live.end_eval()
        timings["total_seconds"] = time.perf_counter() - t0
        metrics["counts"] = dataset.counts()
        from zslbench.models.catalog import describe_pretrained_vit

        tower = describe_pretrained_vit(cfg.backbone)
        if tower is not None:  # a foundation tower: its grid and normalisation
            metrics["backbone"] = tower
        metrics["skipped_images"] = int(dataset.meta.get("skipped_images", 0))
        if dataset.meta.get("generator_version") is not None:  # generated data: its version (results compare like with like)
            metrics["data_version"] = int(dataset.meta["generator_version"])
        if trackers is not None:
            trackers.log_final(metrics)
        if main:
            store.atomic_write_json(run_dir / store.METRICS_FILE, metrics)
            store.atomic_write_json(run_dir / store.TIMINGS_FILE, timings)
            store.write_status(run_dir, "complete", world_size=distributed.world_size())
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (signals.Terminated)
        if main:
            store.final_status(run_dir, "interrupted", hint=f"zslbench run --resume {run_dir}")
        interrupted = RunInterrupted(f"run interrupted; finished epochs are saved in {run_dir}",
                                     f"continue with `zslbench run --resume {run_dir}`")
        interrupted.exit_code = signals.exit_code_for(exc)
        raise interrupted from None
    except BaseException as exc:
        discard = main and resume_dir is None and isinstance(exc, UsageError)
        if main and not discard:
            store.final_status(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, OSError) and exc.errno in store.STORAGE_ERRNOS:
            raise store.RunStoreError(f"cannot write {exc.filename or run_dir}: {exc.strerror}",
                                      f"free space or fix permissions, then `zslbench run --resume {run_dir}`") from None
        raise
    finally:
        if trackers is not None:
            trackers.close()
        if lock is not None:
            lock.release()
        if discard:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
    distributed.barrier()
    return RunOutcome(run_dir, metrics, cfg, timings)


def _pending_pretraining(cfg: RunConfig):
    """The recipe of the backbone pretraining this run starts with (not cached yet), or None (announced in the plan)."""
    from zslbench.training.pretrain_recipes import SYNTHETIC_PRETRAINED, recipe_for

    if cfg.pretrained != SYNTHETIC_PRETRAINED:
        return None
    from zslbench.training.pretrain import checkpoint_path

    recipe = recipe_for(cfg.dataset, cfg.data.synthetic_seed)
    return None if checkpoint_path(recipe).exists() else recipe


def store_root(cfg: RunConfig) -> Path:
    from zslbench.paths import runs_dir

    return runs_dir(cfg.out)


def method_context(cfg: RunConfig, dataset: ZSLDataset, device: torch.device) -> MethodContext:
    def attribute_vectors() -> np.ndarray:
        from zslbench.models.text_encoders import attribute_vectors as encode

        return encode(dataset, cfg.data.text_encoder, cfg.data)

    from zslbench.training.pretrain import weights_path
    return MethodContext(
        dataset_name=cfg.dataset, attribute_names=list(dataset.attribute_names), num_attributes=dataset.num_attributes,
        image_size=int(cfg.data.image_size), attribute_groups=dataset.attribute_groups, backbone=cfg.backbone,
        pretrained=weights_path(cfg), device=str(device), attribute_vectors=attribute_vectors, seed=cfg.seed,
        object_masks=dataset.masks, class_names=list(dataset.class_names),
    )


# --------------------------------------------------------------------------- image methods


def input_normalisation(cfg: RunConfig) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Mean/std for the photo recipes: ``data.normalize``, by default what the backbone's weights expect."""
    from zslbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    choice = cfg.data.normalize
    if choice == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    if choice == "half":
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    if choice != "auto":
        raise UsageError(f"unknown data.normalize {choice!r}", "choose auto, imagenet or half")
    if cfg.backbone is None:
        return None
    from zslbench.models.backbones import expected_mean_std

    return expected_mean_std(cfg.backbone)


def _train_phase(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device, checkpoint: Path,
                 resume_state: dict | None, progress: bool, label: str, epochs: int | None = None,
                 on_epoch_end_factory=None, selection_curve: bool = False):
    """Build the method for ``task`` and train it on ``dataset``'s trainval images (continuing ``resume_state``);
    with ``selection_curve``, measure :mod:`zslbench.tasks.selection_curve` after every epoch."""
    from zslbench.progress import loader_steps
    from zslbench.tasks.selection_curve import curve_hook
    from zslbench.training import distributed
    from zslbench.training.engine import seed_everything, train

    cfg = resolved.config
    train_cfg = dataclasses.replace(cfg.train, epochs=epochs) if epochs is not None else cfg.train
    seed_everything(cfg.seed)
    model = resolved.method.build(task.method_context(method_context(cfg, dataset, device), dataset), resolved.options)
    train_set, test_sets = task.image_sets(dataset, int(cfg.data.image_size), cfg.data.num_workers,
                                           mean_std=input_normalisation(cfg), augment=cfg.data.augment)
    seen_attrs = task.training_vectors(dataset)
    hooks = [on_epoch_end_factory(model, test_sets)] if on_epoch_end_factory else []
    if selection_curve:
        steps = loader_steps(len(train_set), train_cfg.batch_size, train_cfg.max_steps_per_epoch,
                             distributed.world_size())
        hooks.append(curve_hook(model, train_set, test_sets, seen_attrs, dataset.masks, steps, device))
    hooks = [h for h in hooks if h is not None]

    def hook(epoch: int) -> dict:
        return {k: v for h in hooks for k, v in (h(epoch) or {}).items()}

    result = train(model, train_set, seen_attrs, train_cfg, device, cfg.seed, checkpoint_path=checkpoint,
                   resume=resume_state, on_epoch_end=hook if hooks else None, progress=progress, label=label)
    return model, test_sets, result


def _run_image_method(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device, run_dir: Path,
                      resume: ResumeStates, progress: bool) -> tuple[dict, dict]:
    """Train an image method (after GBU validation, when asked) and let the task evaluate it."""
    cfg = resolved.config
    timings: dict = {}
    metrics: dict = {"protocol": cfg.protocol, "task": task.name}
    gamma = None
    epochs = None
    if cfg.protocol == "gbu":
        validation, gamma, epochs, val_seconds = _validate_image_method(resolved, task, dataset, device, run_dir,
                                                                        resume, progress)
        replan_phase("train", epochs)  # the whole-run bar: retraining takes the chosen epoch count
        metrics["validation"] = validation
        timings["validation_seconds"] = val_seconds
    hook = published_protocol.hook_for(cfg, dataset, device)  # None unless --protocol published
    state, resume.train = resume.train, None  # not kept alive (weights and moments) once training has it
    model, eval_sets, result = _train_phase(resolved, task, dataset, device, run_dir / store.CHECKPOINT_FILE,
                                            state, progress, label="train", epochs=epochs, on_epoch_end_factory=hook,
                                            selection_curve=True)
    timings["train_seconds"] = result.train_seconds
    timings["train_images_per_second"] = _mean_throughput(result.history)
    t_eval = time.perf_counter()
    evaluated = task.evaluate_model(model, dataset, eval_sets, cfg, device, gamma)
    timings["eval_seconds"] = time.perf_counter() - t_eval
    metrics.update({k: v for k, v in evaluated.items() if k != "patch_selection"})
    metrics["history"] = [dataclasses.asdict(h) for h in result.history]
    metrics.update(published_protocol.metrics_for(cfg.protocol, metrics["history"]))
    curve = curve_from_history(metrics["history"])
    if curve:
        metrics["selection_curve"] = curve
    if "patch_selection" in evaluated:
        metrics["patch_selection"] = evaluated["patch_selection"]
    return metrics, timings


def _mean_throughput(history) -> float:
    images = sum(h.images for h in history)
    seconds = sum(h.seconds for h in history)
    return images / seconds if seconds > 0 else 0.0


def _validate_image_method(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device, run_dir: Path,
                           resume: ResumeStates, progress: bool):
    """GBU phase 1: choose the epoch count and gamma on validation data only."""
    from zslbench.training import distributed

    cfg = resolved.config
    saved = run_dir / store.VALIDATION_FILE
    if resume.validation_record is not None:  # read and checked by load_resume_states
        v = resume.validation_record
        return v, v["chosen_gamma"], v["chosen_epochs"], v.get("seconds", 0.0)
    val_ds = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)

    def factory(model, test_sets):
        def on_epoch_end(epoch: int) -> dict:
            chosen = _validation_scores(model, val_ds, test_sets, cfg, device)
            model.train()
            return chosen

        return on_epoch_end

    t0 = time.perf_counter()
    state, resume.validation = resume.validation, None
    _, _, result = _train_phase(resolved, task, val_ds, device, run_dir / store.VALIDATION_CHECKPOINT_FILE,
                                state, progress,
                                label="validate", on_epoch_end_factory=factory)
    scores = [h.extra["val_cs_h"] for h in result.history]
    first = min(cfg.train.min_epochs, len(scores)) - 1  # epochs before train.min_epochs are not candidates
    best = first + int(np.argmax(scores[first:]))  # first epoch reaching the best validated H
    validation = {
        **_validation_benchmark(val_ds),
        "per_epoch": [h.extra for h in result.history],
        "chosen_epochs": best + 1,
        "chosen_gamma": result.history[best].extra["val_gamma"],
        "seconds": time.perf_counter() - t0,
    }
    if distributed.is_main():
        store.atomic_write_json(saved, validation)
    return validation, validation["chosen_gamma"], validation["chosen_epochs"], validation["seconds"]


def _validation_scores(model, val_ds: ZSLDataset, eval_sets: dict, cfg: RunConfig, device) -> dict:
    """The calibration gamma chosen on the validation benchmark's images, with the validated T1, H and CS-H."""
    import torch

    from zslbench.evaluation import choose_calibration, evaluate
    from zslbench.training.engine import score_images

    attrs = torch.as_tensor(val_ds.class_attributes, dtype=torch.float32)
    ss, sl = score_images(model, eval_sets["test_seen"], attrs, cfg.train.eval_batch_size, device, cfg.train.amp)
    us, ul = score_images(model, eval_sets["test_unseen"], attrs, cfg.train.eval_batch_size, device, cfg.train.amp)
    g = choose_calibration(ss, sl, us, ul, val_ds.seen_classes, val_ds.unseen_classes)
    return _chosen(g, evaluate(ss, sl, us, ul, val_ds.seen_classes, val_ds.unseen_classes, gamma=g))


def _chosen(gamma: float, m: Any) -> dict:
    """What a validation chose: its gamma, and the validated CS-H, H and T1 at that gamma."""
    return {"val_gamma": float(gamma), "val_cs_h": float(m.cs_h), "val_h": float(m.h), "val_t1": float(m.t1)}


def _validation_benchmark(val_ds: ZSLDataset) -> dict:
    """The validation benchmark's classes and counts, as ``metrics["validation"]`` records them."""
    return {"train_classes": np.asarray(val_ds.seen_classes).tolist(),
            "val_classes": np.asarray(val_ds.unseen_classes).tolist(), "counts": val_ds.counts()}


def _gamma_only_validation(val_ds: ZSLDataset, chosen: dict) -> dict:
    """``metrics["validation"]`` of a run that chose only the calibration gamma (no epochs): a training-free one."""
    return {**_validation_benchmark(val_ds), "chosen_gamma": chosen["val_gamma"], **chosen}


# --------------------------------------------------------------------------- training-free methods


def _run_training_free_method(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device,
                              model: Any = None, cached_inputs: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
    """Evaluate a method that needs no training (``model``: as already built, else built here).

    ``cached_inputs``: (inputs by split, their ``metrics`` entries) that ``model`` scores instead of the images,
    where the images are absent (see :func:`_inputs_without_images`).
    """
    cfg = resolved.config
    timings: dict = {}
    if model is None:
        t0 = time.perf_counter()
        model = resolved.method.build(task.method_context(method_context(cfg, dataset, device), dataset),
                                      resolved.options)
        timings["build_seconds"] = time.perf_counter() - t0
    if cached_inputs is not None:
        return _score_cached_inputs(model, task, dataset, cfg, cached_inputs,
                                    {"protocol": cfg.protocol, "task": task.name}, timings)
    metrics, scored_timings = score_built_model(model, task, dataset, cfg, device)
    timings.update(scored_timings)
    return metrics, timings


def score_built_model(model: Any, task: Task, dataset: ZSLDataset, cfg: RunConfig, device) -> tuple[dict, dict]:
    """The metrics (and timings) of ``model`` as it is, on ``dataset``'s test splits: a training-free run's
    evaluation, also :func:`zslbench.evaluate_model`'s. Under ``gbu`` the calibration gamma is chosen on the
    validation benchmark (derived from trainval only), as for every method."""
    metrics: dict = {"protocol": cfg.protocol, "task": task.name}
    timings: dict = {}
    size, workers, mean_std = int(cfg.data.image_size), cfg.data.num_workers, input_normalisation(cfg)
    gamma = None
    if cfg.protocol == "gbu":
        t_val = time.perf_counter()
        val_ds = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)
        _, val_sets = task.image_sets(val_ds, size, workers, mean_std=mean_std, augment=False)
        chosen = _validation_scores(model, val_ds, val_sets, cfg, device)
        gamma = chosen["val_gamma"]
        metrics["validation"] = _gamma_only_validation(val_ds, chosen)
        timings["validation_seconds"] = time.perf_counter() - t_val
    _, eval_sets = task.image_sets(dataset, size, workers, mean_std=mean_std, augment=False)
    t_eval = time.perf_counter()
    evaluated = task.evaluate_model(model, dataset, eval_sets, cfg, device, gamma)
    timings["eval_seconds"] = time.perf_counter() - t_eval
    metrics.update({k: v for k, v in evaluated.items() if k != "patch_selection"})
    return metrics, timings


def _score_cached_inputs(model: Any, task: Task, dataset: ZSLDataset, cfg: RunConfig, cached_inputs: tuple[dict, dict],
                         metrics: dict, timings: dict) -> tuple[dict, dict]:
    """A training-free method scored on cached inputs (e.g. image embeddings), evaluated as feature methods are."""
    feats, described = cached_inputs
    metrics.update(described)
    gamma = None
    if cfg.protocol == "gbu":
        t_val = time.perf_counter()
        val_ds, val_features = _validation_features(cfg, dataset, feats)
        gamma, m = _calibrate_on_features(model, val_ds, val_features)
        metrics["validation"] = _gamma_only_validation(val_ds, _chosen(gamma, m))
        timings["validation_seconds"] = time.perf_counter() - t_val
    t_eval = time.perf_counter()
    metrics.update(task.evaluate_features(model, dataset, feats, gamma))
    timings["eval_seconds"] = time.perf_counter() - t_eval
    return metrics, timings


# --------------------------------------------------------------------------- feature methods


def _timed_features(cfg: RunConfig, dataset: ZSLDataset, splits: tuple[str, ...], device) -> tuple[dict, dict, float]:
    """(features by split, the ``metrics`` entries describing them, seconds taken) of :func:`_read_features`."""
    t0 = time.perf_counter()
    described: dict = {}
    feats = _read_features(cfg, dataset, splits, device, described)
    return feats, described, time.perf_counter() - t0


def _run_feature_method(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, device, run_dir: Path,
                        progress: bool, features: tuple[dict, dict, float] | None = None) -> tuple[dict, dict]:
    """Fit a feature-level method on frozen features of ``task``'s splits (``features``: already read, see
    :func:`_timed_features`) and let the task evaluate it."""
    cfg = resolved.config
    if cfg.backbone is None:
        raise UsageError(f"method {cfg.method!r} needs a backbone for its features", "pass --backbone NAME")
    feats, described, seconds = features or _timed_features(cfg, dataset, task.feature_splits, device)
    timings: dict = {"features_seconds": seconds}
    metrics: dict = {"protocol": cfg.protocol, "task": task.name, **described}
    gamma = None
    options = resolved.options
    if cfg.protocol == "gbu":
        metrics["validation"], gamma, options = _validate_feature_method(resolved, task, dataset, feats, device)
    t1 = time.perf_counter()
    model = _fit_feature_model(resolved, task, dataset, feats["trainval"], device, options)
    timings["fit_seconds"] = time.perf_counter() - t1
    metrics.update(task.evaluate_features(model, dataset, feats, gamma))
    return metrics, timings


def _read_features(cfg: RunConfig, dataset: ZSLDataset, splits: tuple[str, ...], device, metrics: dict) -> dict:
    """The splits' features: the dataset authors' files for ``authors-h5`` (fingerprint recorded), else the cache."""
    from zslbench.features import AUTHORS_H5_BACKBONE, authors_h5_key, get_features, read_authors_features

    if cfg.backbone == AUTHORS_H5_BACKBONE:
        key = authors_h5_key(dataset)
        metrics["features"] = {"source": AUTHORS_H5_BACKBONE, "fingerprint": key.fingerprint,
                               "files": dict(dataset.meta.get("feature_files", {}))}
        return read_authors_features(dataset, splits)
    from zslbench.training.pretrain import weights_path
    return get_features(dataset, cfg.backbone, cfg.data, weights_path(cfg), str(device), splits=splits)


def _validate_feature_method(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, feats: dict, device):
    """GBU for feature methods: gamma (and the ``tune`` grid, if any) chosen on validation data only."""
    cfg = resolved.config
    val_ds, val_features = _validation_features(cfg, dataset, feats)
    trials = []
    for changes in tune_grid(cfg.tune):
        options = with_option(resolved.method, resolved.options, changes)
        model = _fit_feature_model(resolved, task, val_ds, val_features["trainval"], device, options)
        g, m = _calibrate_on_features(model, val_ds, val_features)
        trials.append({"options": changes, "gamma": g, "val_cs_h": m.cs_h, "val_t1": m.t1})
    best = max(range(len(trials)), key=lambda i: (trials[i]["val_cs_h"], -i))  # first of the best
    chosen = trials[best]
    validation = {"chosen_gamma": chosen["gamma"], "val_cs_h": chosen["val_cs_h"], "val_t1": chosen["val_t1"],
                  "counts": val_ds.counts()}
    if cfg.tune:
        validation.update(chosen_options=chosen["options"], trials=trials)
    return validation, chosen["gamma"], with_option(resolved.method, resolved.options, chosen["options"])


def _validation_features(cfg: RunConfig, dataset: ZSLDataset, feats: dict) -> tuple[ZSLDataset, dict]:
    """The validation benchmark (drawn from trainval only) and its splits' rows of ``feats``, gathered once."""
    from zslbench.features import select_images

    val_ds = validation_split(dataset, seed=cfg.seed, heldout_fraction=cfg.validation_fraction)
    return val_ds, {split: select_images({"trainval": feats["trainval"]}, val_ds.splits[split])
                    for split in ("trainval", "test_seen", "test_unseen")}


def _calibrate_on_features(model: Any, val_ds: ZSLDataset, val_features: dict) -> tuple[float, Any]:
    """(the calibration gamma chosen on the validation features, the validation metrics at that gamma)."""
    from zslbench.evaluation import choose_calibration, evaluate

    sl, ul = val_ds.split_labels("test_seen"), val_ds.split_labels("test_unseen")
    ss = model.class_scores(val_features["test_seen"].features, val_ds.class_attributes)
    us = model.class_scores(val_features["test_unseen"].features, val_ds.class_attributes)
    g = float(choose_calibration(ss, sl, us, ul, val_ds.seen_classes, val_ds.unseen_classes))
    return g, evaluate(ss, sl, us, ul, val_ds.seen_classes, val_ds.unseen_classes, gamma=g)


def _fit_feature_model(resolved: ResolvedRun, task: Task, dataset: ZSLDataset, split: Any, device, options=None):
    """Build the feature-level method and fit it on ``split``'s features with ``task``'s targets."""
    from zslbench.training.engine import seed_everything

    cfg = resolved.config
    seed_everything(cfg.seed)
    seen = np.asarray(dataset.seen_classes)
    targets = task.feature_targets(dataset, split.image_ids)
    model = resolved.method.build(task.method_context(method_context(cfg, dataset, device), dataset),
                                  options or resolved.options)
    model.fit(np.asarray(split.features, dtype=np.float32), targets, dataset.class_attributes[seen].astype(np.float32))
    return model
