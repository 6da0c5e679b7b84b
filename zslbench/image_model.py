"""The base class of trainable image methods (re-exported as ``zslbench.methods.ImageZSLModel``).

Kept apart from :mod:`zslbench.methods` because it needs torch, and the method
specs must be importable without it.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class ImageZSLModel(nn.Module):
    """Base class of trainable image methods.

    ``targets`` index the rows of ``class_attributes`` (the engine passes the
    seen classes' attribute vectors while training, remapped to 0..S-1).
    """

    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of one batch; must contain ``"loss"``, the total that is minimised."""
        raise NotImplementedError

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """Compatibility scores (B, C) of each image with each class (higher = more likely)."""
        raise NotImplementedError

    def head_parameters(self) -> Iterable[nn.Parameter]:
        """Parameters trained during a heads-only warm-up (default: all)."""
        return self.parameters()

    # Optional: ``set_batch_indices(indices)`` - a model that defines it is told the dataset image
    # indices (B,) of the batch before each training step and each scoring call (e.g. to look up
    # per-image object masks for selection controls).
