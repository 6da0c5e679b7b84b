"""``zslbench explain``: what a trained model looks at, for one image.

The run's stored config is resolved again (like ``--resume``, but for complete
runs too), the model rebuilt with its method's factory and ``checkpoint.safetensors``
loaded (safetensors, never pickle: see :mod:`zslbench.checkpoints`). Then, for one image of the dataset (``--index``) or any image file
(``--image``), after the dataset's evaluation transform:

* a method that selects patches (``patch_selection(images) -> (B, rows*cols)``
  bool and ``patch_grid``) gets the image with kept patches clear and
  contextualized ones hatched (SVIP paper, Fig. 6a);
* a method that localizes attributes (``attribute_maps(images) -> (B, K, rows,
  cols)``) gets the maps of its top predicted attributes (Fig. 5); an
  attribute's strength is the maximum of its map.

On data with object masks (the synthetic datasets) the object outline is
drawn on top.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench import store
from zslbench.config import RunConfig
from zslbench.data.dataset import ZSLDataset
from zslbench.errors import DataError, UsageError, ZSLBenchError
from zslbench.methods import MethodSpec


@dataclass
class LoadedRun:
    """A stored run with its model rebuilt and its trained weights loaded (in eval mode)."""

    run_dir: Path
    config: RunConfig
    spec: MethodSpec
    options: Any
    dataset: ZSLDataset
    model: torch.nn.Module
    device: torch.device


def load_trained_model(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load its ``checkpoint.safetensors`` (UsageError naming what is missing)."""
    import torch  # here, with the checkpoint loader: `zslbench --help` imports this module

    from zslbench.checkpoints import LEGACY_SUFFIX, load_checkpoint
    from zslbench.training.engine import resolve_device
    from zslbench.runner import load_dataset, method_context, read_run_dir, resolve_stored_run

    run_dir = Path(run_dir)
    record = read_run_dir(run_dir, "pass a directory under <runs>/<dataset>/<method>/")
    checkpoint_path = run_dir / store.CHECKPOINT_FILE
    resolved = resolve_stored_run(record)
    cfg, spec, options = resolved.config, resolved.method, resolved.options
    if not checkpoint_path.exists() and not checkpoint_path.with_suffix(LEGACY_SUFFIX).exists():
        raise _missing_checkpoint_error(run_dir, record.status.get("state"), spec.kind)
    torch_device = resolve_device(device)
    dataset = load_dataset(cfg)
    # Every weight comes from the checkpoint: building with random init skips reading pretrained weights.
    build_cfg = dataclasses.replace(cfg, pretrained="none")
    model = spec.build(method_context(build_cfg, dataset, torch_device), options)
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"method {spec.name!r} is not an image method: nothing to explain")
    checkpoint = load_checkpoint(checkpoint_path)  # the same safe loader as --resume
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise DataError(f"cannot load {checkpoint_path}: {type(exc).__name__}: {first_line}",
                        "the checkpoint is damaged or from another model configuration") from None
    model.to(torch_device).eval()
    return LoadedRun(run_dir, cfg, spec, options, dataset, model, torch_device)


def _missing_checkpoint_error(run_dir: Path, state: str | None, kind: str) -> UsageError:
    """Why a run has no model to explain: a feature method, or an image run stopped before its first epoch."""
    if kind in ("feature", "training-free"):
        return UsageError(f"run {run_dir} is of a {kind} method, which stores no model",
                          "explain needs a run of an image method (e.g. svip, baseline)")
    if state in ("interrupted", "failed", "running"):
        return UsageError(f"run {run_dir} is {state} and stopped before its first epoch finished: "
                          f"there is no {store.CHECKPOINT_FILE} yet",
                          f"continue it with `zslbench run --resume {run_dir}`, then explain it")
    return UsageError(f"run {run_dir} has no {store.CHECKPOINT_FILE}",
                      "the file was removed; re-run the method to explain it")


def default_image_index(dataset: ZSLDataset) -> int:
    """The image explained when none is named: the first test image of an unseen class (test data, never training)."""
    for split in ("test_unseen", "test", "test_seen"):
        indices = np.asarray(dataset.splits.get(split, []))
        if len(indices):
            return int(indices[0])
    raise DataError(f"dataset {dataset.name} has no test images", "pass --index N or --image PATH")


# --------------------------------------------------------------------------- images


@dataclass
class PreparedImage:
    """One image as the model sees it, and as it is drawn."""

    tensor: torch.Tensor  # (3, S, S), normalised by the eval transform
    display: np.ndarray  # (S, S, 3) floats in [0, 1]
    mask: np.ndarray | None  # (S, S) bool object mask, when the dataset has masks
    label: int | None  # true class id, for a dataset image
    caption: str


def _normalisation(transform: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) per channel applied by a transform, when it can be read off it."""
    from zslbench.data.transforms import SyntheticTransform

    if isinstance(transform, SyntheticTransform):
        return np.full(3, 0.5), np.full(3, 0.5)
    for step in getattr(transform, "transforms", []):
        if hasattr(step, "mean") and hasattr(step, "std"):
            return np.asarray(step.mean, dtype=np.float64), np.asarray(step.std, dtype=np.float64)
    return None


def to_display(tensor: torch.Tensor, transform: Any) -> np.ndarray:
    """Undo the transform's normalisation for drawing; min-max scaling when it is unknown."""
    array = tensor.detach().float().cpu().numpy().transpose(1, 2, 0).astype(np.float64)
    norm = _normalisation(transform)
    if norm is not None:
        mean, std = norm
        return np.clip(array * std + mean, 0.0, 1.0)
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def prepare_image(loaded: LoadedRun, index: int | None = None, image_path: str | Path | None = None) -> PreparedImage:
    """Image ``index`` of the run's dataset, or an image file, through the dataset's eval transform.

    With neither, the first unseen test image (:func:`default_image_index`).
    """
    from zslbench.data.dataset import FileImages
    from zslbench.data.transforms import ImageDataset, build_transform
    from zslbench.results.plots import resize_mask

    dataset = loaded.dataset
    size = int(loaded.config.data.image_size)
    from zslbench.runner import input_normalisation

    transform = build_transform(dataset.meta.get("recipe", dataset.name), size, train=False,
                                mean_std=input_normalisation(loaded.config))
    if index is not None and image_path is not None:
        raise UsageError("pass at most one of --index N and --image PATH")
    if index is None and image_path is None:
        index = default_image_index(dataset)
    if index is not None:
        if not 0 <= index < len(dataset.labels):
            raise UsageError(f"image index {index} is outside 0..{len(dataset.labels) - 1} of {dataset.name}")
        tensor, label, _ = ImageDataset(dataset, np.asarray([index]), transform)[0]
        # Masks follow the image through resize-only transforms (the synthetic recipe).
        mask = resize_mask(dataset.masks[index], tensor.shape[-1]) if dataset.masks is not None else None
        split = next((s for s, idx in dataset.splits.items() if np.any(np.asarray(idx) == index)), "no split")
        kind = "unseen" if np.any(np.asarray(dataset.unseen_classes) == label) else "seen"
        caption = f"{dataset.name} image {index} ({split}): {dataset.class_names[label]} [{kind}]"
        return PreparedImage(tensor, to_display(tensor, transform), mask, int(label), caption)
    path = Path(image_path)
    if not path.is_file():
        raise UsageError(f"image file not found: {path}")
    try:
        raw = FileImages([path]).load(0)
    except (RuntimeError, OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}", "pass a JPEG or PNG file") from None
    tensor = transform(raw)
    return PreparedImage(tensor, to_display(tensor, transform), None, None, f"{path.name}")


# --------------------------------------------------------------------------- explanation


def _grid(model: torch.nn.Module) -> tuple[int, int]:
    grid = model.patch_grid() if callable(model.patch_grid) else model.patch_grid
    rows, cols = (int(g) for g in grid)
    return rows, cols


def explain(loaded: LoadedRun, image: PreparedImage, out: str | Path, top_k: int = 6) -> dict:
    """Draw what the model does with ``image`` into ``out`` (PNG); returns the plotted data (see plots.plot_explanation).

    Adds ``"predicted"`` (class id) and ``"top_attributes"`` (attribute ids) to the returned dict.
    """
    import torch  # here, not at module level: `zslbench --help` imports this module

    with torch.no_grad():
        return _explain(loaded, image, out, top_k)


def _explain(loaded: LoadedRun, image: PreparedImage, out: str | Path, top_k: int) -> dict:
    import torch

    from zslbench.results.plots import plot_explanation

    model, dataset = loaded.model, loaded.dataset
    selects = hasattr(model, "patch_selection") and hasattr(model, "patch_grid")
    localizes = hasattr(model, "attribute_maps")
    if not (selects or localizes):
        raise UsageError(f"method {loaded.spec.name!r} neither selects patches nor localizes attributes",
                         "explain needs a model with patch_selection()/patch_grid or attribute_maps()")
    batch = image.tensor.unsqueeze(0).to(loaded.device)
    kept = None
    if selects:
        rows, cols = _grid(model)
        kept = model.patch_selection(batch)[0].reshape(rows, cols).cpu().numpy().astype(bool)
    maps = names = scores = top = None
    if localizes:
        try:
            all_maps = model.attribute_maps(batch)[0].float().cpu().numpy()  # (K, rows, cols)
        except ZSLBenchError:
            if kept is None:
                raise
            all_maps = None  # a variant without attribute maps (e.g. no P2A): show the selection only
        if all_maps is not None:
            strength = all_maps.reshape(all_maps.shape[0], -1).max(axis=1)
            top = np.argsort(-strength, kind="stable")[:max(1, top_k)]
            maps, scores = all_maps[top], strength[top]
            names = [dataset.attribute_names[i] for i in top]
    attrs = torch.as_tensor(dataset.class_attributes, dtype=torch.float32, device=loaded.device)
    predicted = int(model.class_scores(batch, attrs)[0].argmax())
    title = f"{loaded.spec.name}: {image.caption}\npredicted: {dataset.class_names[predicted]}"
    data = plot_explanation(image.display, out, kept=kept, maps=maps, attribute_names=names,
                            attribute_scores=scores, mask=image.mask, title=title)
    data["predicted"] = predicted
    data["top_attributes"] = None if top is None else [int(i) for i in top]
    return data
