"""Run configuration: typed dataclasses, TOML files and ``--set key=value`` overrides.

One resolved :class:`RunConfig` describes a run completely; it is saved with
the results. Resolution order (later wins): dataclass defaults, the method's
per-dataset defaults, the TOML config file, ``--set`` overrides, explicit CLI
options (``--dataset``, ``--seed`` ...).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.errors import UsageError
from zslbench.settings_check import check_run_config


@dataclass
class DataConfig:
    """How the dataset is read and served."""

    root: str | None = None  # dataset root; default $ZSLBENCH_DATA/<dataset>
    attributes: str = "att"  # "att" (L2-normalised columns) or "original_att"
    image_size: int | None = None  # None: the dataset's/backbone's default
    text_encoder: str = "glove-6b-50d"  # word vectors of attribute names (SVIP's W2P)
    # multi-label datasets: "auto" (the authors' label-vector pickle, searched in their layouts),
    # "text-encoder" (encode the label names with text_encoder), or a pickle path
    label_vectors: str = "auto"
    glove_path: str | None = None  # text file for the "glove-file" encoder
    normalize: str = "auto"  # auto: what the backbone's weights expect | imagenet | half (mean = std = 0.5)
    augment: bool = True  # random training augmentation of the dataset's recipe (crop, flip)
    skip_bad_images: bool = False
    num_workers: int = 0
    synthetic_seed: int = 0  # the synthetic data is the same for every run seed


@dataclass
class TrainConfig:
    """The method-agnostic training recipe of the engine."""

    epochs: int = 10
    # gbu: the validated epoch count is chosen among min_epochs..epochs (a benchmark's floor on the steps a
    # method gets, e.g. synthetic-full; docs/synthetic.md). Other protocols train `epochs`.
    min_epochs: int = 1
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adamw"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"  # none | step | cosine
    step_epochs: int = 5  # step schedule: decay every step_epochs
    step_gamma: float = 0.8
    warmup_epochs: int = 0  # heads-only epochs before the whole model trains
    warmup_lr: float | None = None  # lr during warm-up (default: lr)
    # warm-up gradients: heads (only the heads get gradients) | accumulate (SVIP's public code: every parameter
    # gets gradients, only the heads' are zeroed and stepped, the rest pile up and count in the clipping norm)
    warmup_grads: str = "heads"
    schedule_origin: str = "warmup_end"  # the schedule's epoch 0: warmup_end | first_epoch (SVIP's code)
    reset_optimizer: str = "never"  # never | every_epoch: a new optimizer (moments reset) each post-warm-up epoch
    shuffle: bool = True  # shuffle the training set every epoch (False: dataset order, as SVIP's code)
    grad_clip_norm: float | None = 1.0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the training step's model call
    max_steps_per_epoch: int | None = None  # cap for quick runs and tests
    log_every_steps: int = 20


@dataclass
class RunConfig:
    """Everything that determines a run."""

    method: str | None = None  # no default: the core knows no method (`zslbench run` names one)
    dataset: str = "synthetic"
    seed: int = 0
    protocol: str = "standard"  # standard | gbu | published (numbers chosen on test data, labelled so)
    backbone: str | None = None  # None: the method's default for the dataset
    pretrained: str | None = None  # None: method default; "none"; "timm"; or a checkpoint path
    out: str | None = None  # run store root; default $ZSLBENCH_RUNS or ./runs
    tags: list[str] = field(default_factory=list)
    # experiment trackers fed during the run ("tensorboard", "wandb"); they never change results
    loggers: list[str] = field(default_factory=list)
    validation_fraction: float = 0.2  # held-out share of train-class images (gbu protocol)
    # method option -> candidate values chosen on validation data (gbu protocol, feature methods),
    # e.g. --set 'tune.alpha=[-3, -2, -1, 0, 1]'
    tune: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["method"] = self.method
        d["method_options"] = dict(self.method_options)
        return d


PROTOCOLS = ("standard", "gbu", "published")


def load_toml(path: str | Path) -> dict:
    """Read a TOML config file; a missing or malformed file is a usage error."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {p}") from None
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError (a binary file) are ValueErrors
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UsageError(f"cannot read config file {p}: {first_line}", "a config file is UTF-8 TOML") from None


def parse_set(items: list[str] | tuple[str, ...]) -> dict:
    """Turn ``["train.lr=1e-4", "method.m=40"]`` into a nested dict of TOML-typed values."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set expects key=value, got {item!r}", "e.g. --set train.lr=1e-4")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        value = _parse_value(raw.strip())
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UsageError(f"--set {key}: {part!r} is not a section")
        node[parts[-1]] = value
    return out


def _parse_value(raw: str) -> Any:
    """Values are TOML literals (1e-4, true, "x", [1, 2]); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _needs_quotes(text: str) -> bool:
    """Whether ``--set k=text`` would read back as something else than this string (a number, bool, array...)."""
    if text == "" or text != text.strip():
        return True
    try:
        tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return False  # --set keeps a value that is no TOML literal as the bare string
    return True


def toml_literal(value: Any) -> str:
    """``value`` as ``--set`` parses it back: TOML literals, bare words for plain strings, ``none`` for None."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value) if _needs_quotes(value) else value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(v) if isinstance(v, str) else toml_literal(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a --set value")


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a dataclass field annotation; ints are accepted as floats."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        # "none" means None only where it is not itself a valid string ("--pretrained none" is random weights)
        if isinstance(value, str) and value.lower() == "none" and type(None) in args and str not in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except UsageError as exc:
                errors.append(exc)
        raise errors[0] if errors else UsageError(f"{key}: invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{key} expects a list, got {value!r}", f"e.g. --set {key}='[1, 2]'")
        inner = args[0] if args else Any
        return [_coerce(v, inner, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{key} expects a table, got {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{key} expects a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{key} expects an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{key} expects true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise UsageError(f"{key} expects a string, got {value!r}")
        return value
    return value


def build_dataclass(cls: type, values: dict, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``values``; unknown keys and wrong types are usage errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in fields:
            close = [f"{prefix}{c}" for c in __import__("difflib").get_close_matches(key, list(fields), n=3)]
            hint = ("did you mean " + " or ".join(close) + "?") if close else f"known keys: {', '.join(prefix + f for f in fields)}"
            raise UsageError(f"unknown config key {full!r}", hint)
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise UsageError(f"{full} is a section; set its keys, e.g. {full}.<key>=...")
            kwargs[key] = build_dataclass(annotation, value, prefix=f"{full}.")
        else:
            kwargs[key] = _coerce(value, annotation, full)
    return cls(**kwargs)


def resolve_run_config(layers: list[dict], method_options_type: type | None) -> tuple[RunConfig, Any]:
    """Merge config layers (dicts, lowest priority first) into a RunConfig and method options.

    ``method = "name"`` names the method; a ``[method]`` table holds its
    options (and may name it with ``name = "..."``).
    """
    merged: dict = {}
    for layer in layers:
        layer = dict(layer)
        if isinstance(layer.get("method"), str):  # must not erase an earlier [method] table
            layer["method"] = {"name": layer["method"]}
        merged = deep_merge(merged, layer)
    merged = dict(merged)
    method_table = merged.pop("method", None)
    if isinstance(method_table, dict):
        method_table = dict(method_table)
        if "name" in method_table:
            merged["method"] = method_table.pop("name")
        merged["method_options"] = deep_merge(merged.get("method_options", {}) or {}, method_table)
    elif method_table is not None:
        merged["method"] = method_table
    options_dict = merged.pop("method_options", {}) or {}
    cfg = build_dataclass(RunConfig, merged)
    if cfg.protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {cfg.protocol!r}", f"choose one of {', '.join(PROTOCOLS)}")
    check_run_config(cfg)
    options = None
    if method_options_type is not None:
        options = build_dataclass(method_options_type, options_dict, prefix="method.")
        cfg.method_options = dataclasses.asdict(options)
    else:
        cfg.method_options = dict(options_dict)
    return cfg, options
