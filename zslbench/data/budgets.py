"""Training lengths that are facts of an embedded benchmark's scale, not of a method's recipe.

``synthetic-full`` exists to give a method the optimiser steps that SVIP's
patch classifier needs (docs/synthetic.md, "synthetic-full"); every method's
per-dataset recipe reads its length from here so that the floor holds for all
of them. No numpy, no torch: plugins read it while they register.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingLength:
    """``train.epochs`` and ``train.min_epochs`` of a scale (under gbu the epoch count is chosen in between)."""

    epochs: int
    min_epochs: int
    batch_size: int = 64

    def train_overrides(self) -> dict[str, int]:
        """The TrainConfig fields this length sets."""
        return {"epochs": self.epochs, "min_epochs": self.min_epochs, "batch_size": self.batch_size}

    def min_steps(self, trainval_images: int) -> int:
        """The fewest optimiser steps of the final training under gbu (the engine drops the last partial batch)."""
        return self.min_epochs * (trainval_images // self.batch_size)


#: dataset name -> its training length (the other embedded presets keep theirs in each method's recipe).
TRAINING_LENGTHS: dict[str, TrainingLength] = {
    "synthetic-full": TrainingLength(epochs=24, min_epochs=20),
}
