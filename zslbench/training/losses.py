"""The pairwise ranking loss of multi-label zero-shot learning (LESA, BiAM), shared by methods.

Per image, every (positive p, negative n) pair of annotated labels contributes
the hinge ``max(0, margin + s_n - s_p)``; the image's loss is the sum over its
pairs divided by the number of pairs that violate the margin (hinge > 0), and
the batch loss is the mean over the images of the batch (an image without a
violating pair contributes 0). Labels annotated 0 take part in no pair. Only
the labels annotated for some image of the batch, and only the positives on
one side of the pairs, are materialised, so the pair tensor stays small.

It lives in the core so that every method plugin uses the same loss without
plugins importing each other.
"""

from __future__ import annotations

import torch

from zslbench.models.precision import full_precision

#: Added to the violation count so an image without violations divides 0 by a non-zero number.
_EPS = 1e-8


def _gather_side(scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The scores where ``mask`` holds, packed left per row: (B, K) scores and validity, K = max count per row."""
    count = int(mask.sum(dim=1).max()) if mask.numel() else 0
    order = torch.argsort(mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :count]
    return scores.gather(1, order), mask.gather(1, order)


def rank_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean over images of the margin-violating pairwise hinge, normalised by violating pairs.

    Args:
        scores: (B, L) label scores.
        targets: (B, L) annotations: +1 present, -1 absent, 0 not annotated.
        margin: the hinge margin (1 in LESA/BiAM).

    Returns:
        A scalar tensor (float32; float64 for float64 scores).

    The pairs are formed between the positives, packed into a (B, P) tensor
    (P = the most positives of any image; usually a handful), and all labels:
    a (B, P, L) hinge instead of (B, L, L).
    """
    if scores.shape != targets.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)} differ in shape")
    annotated = (targets != 0).any(dim=0)
    scores = full_precision(scores[:, annotated])
    targets = targets[:, annotated]
    negative = (targets < 0).to(scores.dtype)
    positive_scores, positive_valid = _gather_side(scores, targets > 0)
    pair_mask = positive_valid.to(scores.dtype).unsqueeze(2) * negative.unsqueeze(1)  # [b, p, n]
    hinge = torch.clamp(margin + scores.unsqueeze(1) - positive_scores.unsqueeze(2), min=0) * pair_mask
    violations = (hinge > 0).sum(dim=(1, 2)).to(scores.dtype)
    per_image = hinge.sum(dim=(1, 2)) / (violations + _EPS)
    return per_image.mean() if per_image.numel() else scores.sum() * 0.0
