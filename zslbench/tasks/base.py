"""What a task type is: how targets are built, how scores are evaluated, which metrics and protocols it has.

A task (single-label, multi-label, later transductive or few-shot) is the
part of a run that depends on what a label *is*. The run flow
(:mod:`zslbench.runner`) is one for all tasks: it asks the dataset's task for
the training and evaluation image sets, trains with the engine, then lets the
task score and evaluate the model. A new task type is one module here,
registered through the ``register_tasks`` hook (:func:`zslbench.tasks.get_task`); it never imports the runner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence


class Task(ABC):
    """One task type. Subclasses set the class attributes and implement the abstract methods."""

    #: The ``ZSLDataset.task`` value this task serves.
    name: str
    #: Protocols a run of this task may use (the first is the default).
    protocols: tuple[str, ...]
    #: Method kinds (``MethodSpec.kind``) this task can train.
    method_kinds: tuple[str, ...]

    def method_context(self, context: Any, dataset: Any) -> Any:
        """The :class:`~zslbench.methods.MethodContext` a method of this task is built with."""
        return context

    def training_vectors(self, dataset: Any) -> Any:
        """The (seen, D) semantic vectors the engine trains against, as a float32 tensor."""
        import numpy as np
        import torch

        return torch.as_tensor(dataset.class_attributes[np.asarray(dataset.seen_classes)], dtype=torch.float32)

    #: Splits of a feature-level run: fitted on the first, evaluated on the others.
    feature_splits: tuple[str, ...]

    @abstractmethod
    def feature_targets(self, dataset: Any, image_ids: Any) -> Any:
        """The training targets of a feature-level method for the images ``image_ids``."""

    @abstractmethod
    def evaluate_features(self, model: Any, dataset: Any, features: dict[str, Any], gamma: float | None) -> dict:
        """Score the evaluation splits' features with a fitted feature-level model; the ``metrics.json`` entries."""

    @abstractmethod
    def image_sets(self, dataset: Any, image_size: int, num_workers: int = 0, mean_std: Any = None,
                   augment: bool = True) -> tuple[Any, dict[str, Any]]:
        """The training image set (its targets built for this task) and the evaluation sets by split name."""

    @abstractmethod
    def evaluate_model(self, model: Any, dataset: Any, eval_sets: dict[str, Any], cfg: Any, device: Any,
                       gamma: float | None) -> dict:
        """Score the evaluation sets with ``model``; the ``metrics.json`` entries (``test`` and the task's extras)."""

    @abstractmethod
    def evaluate_scores(self, scores: Any, labels: Any, seen_classes: Sequence[int],
                        unseen_classes: Sequence[int] | None = None, gamma: float | None = None,
                        top_k: Sequence[int] = (3, 5)) -> dict:
        """The test metrics (as stored) of ``scores`` (N, C) against ``labels`` in this task's label format."""

    @abstractmethod
    def summary_columns(self, test: dict) -> list[str]:
        """The test-metric keys of a run's summary table, in order (those present in ``test``)."""

    @abstractmethod
    def table_columns(self, present: Sequence[str], oracle: bool = False) -> list[str]:
        """The metric columns of a comparison table of this task's runs, from the keys they stored (``present``).

        ``oracle`` adds the columns chosen on test data, where the task has them
        (always labelled so in the table).
        """


def unseen_complement(num_classes: int, seen_classes: Sequence[int], unseen_classes: Sequence[int] | None) -> list[int]:
    """``unseen_classes``, by default every class id below ``num_classes`` that is not seen."""
    if unseen_classes is not None:
        return [int(c) for c in unseen_classes]
    seen = {int(c) for c in seen_classes}
    return [c for c in range(num_classes) if c not in seen]
