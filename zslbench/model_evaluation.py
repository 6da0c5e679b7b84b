"""Evaluating a model held in memory (:func:`zslbench.evaluate_model`): a training-free run's evaluation, unstored.

The model is scored as it is, with the runner's own evaluation
(:func:`zslbench.runner.score_built_model`): the task's test metrics, and under
``gbu`` the calibration gamma chosen on the validation benchmark derived from
trainval, exactly as a run of a training-free method chooses it. Nothing is
written to the run store.
"""

from __future__ import annotations

from typing import Any, Sequence

from zslbench.config import parse_set, resolve_run_config
from zslbench.errors import UsageError
from zslbench.registry import DatasetSpec

#: The protocols a model in memory can be evaluated under (``published`` picks epochs on test data: it needs training).
PROTOCOLS = ("standard", "gbu")


def _as_module(model: Any) -> Any:
    """``model`` itself when it is a torch module, else a module that forwards ``class_scores`` to it."""
    import torch

    if isinstance(model, torch.nn.Module):
        return model

    class ClassScores(torch.nn.Module):
        def __init__(self, scorer: Any):
            super().__init__()
            self.scorer = scorer

        def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
            return self.scorer.class_scores(images, class_attributes)

    return ClassScores(model)


def evaluate_in_memory(model: Any, dataset_spec: DatasetSpec, protocol: str, set_items: Sequence[str] = (),
                       overrides: dict | None = None) -> dict:
    """The metrics of ``model`` on the dataset of ``dataset_spec`` (``set_items``/``overrides``: run config layers)."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"evaluate_model takes protocol {' or '.join(map(repr, PROTOCOLS))}, not {protocol!r}",
                         "the published protocol chooses epochs on test data: it needs a training run")
    if not callable(getattr(model, "class_scores", None)):
        raise UsageError(f"the model ({type(model).__name__}) has no class_scores(images, class_attributes) method")
    from zslbench.plugins import ensure_loaded
    from zslbench.runner import default_image_size, load_dataset, score_built_model
    from zslbench.tasks import get_task
    from zslbench.training import engine

    ensure_loaded()
    layers = [parse_set(list(set_items)), dict(overrides or {}), {"dataset": dataset_spec.name, "protocol": protocol}]
    cfg, _ = resolve_run_config(layers, None)
    if cfg.data.image_size is None:
        cfg.data.image_size = default_image_size(cfg.backbone, dataset_spec)
    task = get_task(dataset_spec.task)
    if protocol not in task.protocols:
        raise UsageError(f"{task.name} datasets have no {protocol!r} protocol", f"choose {', '.join(task.protocols)}")
    dataset = load_dataset(cfg, dataset_spec=dataset_spec)
    device = engine.resolve_device(cfg.train.device)
    engine.seed_everything(cfg.seed)
    metrics, _ = score_built_model(_as_module(model), task, dataset, cfg, device)
    metrics["counts"] = dataset.counts()
    return metrics
