"""Numerical precision of losses and scores, one rule for the whole core.

Under bf16 autocast, losses and attention statistics are computed in float32;
a float64 model keeps float64, so whole computations can be compared in
float64 on any CPU (tests never compare float32 differences of near-equal numbers).
"""

from __future__ import annotations

import torch


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in at least float32: half types are upcast, float32 and float64 are kept."""
    return x if x.dtype == torch.float64 else x.float()
