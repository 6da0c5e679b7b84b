"""Loss terms and scoring of SVIP (Chen et al., ICCV 2025), as small pure functions.

Equation numbers refer to the paper (arXiv 2503.10252).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# losses in at least float32 under bf16 autocast; a float64 model (the reference tests) stays float64
from zslbench.models.precision import full_precision


def cosine_logits(predicted_attributes: torch.Tensor, class_attributes: torch.Tensor, scale: float) -> torch.Tensor:
    """Eq. 11 logits: ``scale * cos(a_hat, a_y)`` for every class, (B, K) x (C, K) -> (B, C)."""
    return scale * F.normalize(predicted_attributes, dim=-1) @ F.normalize(class_attributes, dim=-1).T


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Eq. 13 as written: batch mean of 1/2 KL(p_a || p_b) + 1/2 KL(p_b || p_a), p = softmax(logits), natural log.

    The paper calls it "Jensen-Shannon divergence", but the formula it prints is
    this symmetric KL (unbounded; about 4x the mixture JSD for close distributions).
    """
    log_p = F.log_softmax(full_precision(logits_a), dim=-1)
    log_q = F.log_softmax(full_precision(logits_b), dim=-1)
    kl_pq = (log_p.exp() * (log_p - log_q)).sum(-1)
    kl_qp = (log_q.exp() * (log_q - log_p)).sum(-1)
    return (0.5 * (kl_pq + kl_qp)).mean()


def mixture_jsd(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """The textbook Jensen-Shannon divergence (the name Eq. 13 uses, not its formula), batch mean.

    1/2 KL(p_a || m) + 1/2 KL(p_b || m) with m = (p_a + p_b) / 2; symmetric,
    zero for equal distributions, bounded by log 2.
    """
    log_p = F.log_softmax(full_precision(logits_a), dim=-1)
    log_q = F.log_softmax(full_precision(logits_b), dim=-1)
    log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - math.log(2.0)
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(-1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(-1)
    return (0.5 * (kl_pm + kl_qm)).mean()


def code_kl(scores_input: torch.Tensor, scores_target: torch.Tensor, temperature: float) -> torch.Tensor:
    """The public code's consistency term: ``nn.KLDivLoss()(log_softmax(input/T), softmax(target/T)) * T^2``.

    That is KL(p_target || p_input) summed over classes and divided by B * C
    (KLDivLoss's default reduction 'mean' is element-wise), times T^2. The code
    passes the original pass as input and the contextualised pass as target,
    without detaching either.
    """
    # The same operations as kl_div with a probability target (xlogy(q, q) - q log p): the value of
    # near-equal distributions is a cancellation, so only the same arithmetic gives the code's float32 value.
    log_input = F.log_softmax(full_precision(scores_input) / temperature, dim=-1)
    target = F.softmax(full_precision(scores_target) / temperature, dim=-1)
    pointwise = torch.xlogy(target, target) - target * log_input  # (B, C)
    return pointwise.mean() * temperature * temperature


def top_m_mask(scores: torch.Tensor, num_kept: int) -> torch.Tensor:
    """(B, G) bool, True for the ``num_kept`` highest scores of each row (Eq. 8's S_M)."""
    index = scores.topk(num_kept, dim=-1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, index, True)


def pseudo_labels(attention_scores: torch.Tensor, num_kept: int, mode: str) -> torch.Tensor:
    """Patch-classifier targets (B, G) in [0, 1] from the aggregated attention scores (Eq. 6).

    ``topm``: 1 for the ``num_kept`` best-scored groups, 0 for the rest (reference code).
    ``soft``: the scores min-max normalised per image (the paper regresses the
    score itself; the normalisation to [0, 1] that BCE needs is ours).
    Always detached: no gradient flows into the targets.
    """
    scores = full_precision(attention_scores.detach())
    if mode == "topm":
        return top_m_mask(scores, num_kept).to(scores.dtype)
    low = scores.amin(-1, keepdim=True)
    high = scores.amax(-1, keepdim=True)
    return (scores - low) / (high - low).clamp_min(1e-12)


def patch_loss(patch_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 6: binary cross-entropy between predicted patch scores (logits) and pseudo labels."""
    logits = full_precision(patch_logits)
    return F.binary_cross_entropy_with_logits(logits, targets.detach().to(logits.dtype))


def consistency(kind: str, first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """The consistency term between the passes' scores: ``first`` = original pass, ``second`` = contextualised."""
    if kind == "symmetric-kl":
        return symmetric_kl(first, second)
    if kind == "mixture-jsd":
        return mixture_jsd(first, second)
    return code_kl(first, second, temperature)


def group_decorrelation(predictions: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """The public code's attribute-group decorrelation term (not in the paper), before its weights.

    ``predictions`` (B, K) are predicted attribute vectors (the code: the
    contextualised pass), ``membership`` (R, K) a 0/1 matrix of R attribute
    groups. For each group, the L2 norm of each image's prediction restricted to
    the group's attributes, averaged over the batch; then the mean over groups.
    """
    predictions = full_precision(predictions)
    per_group = predictions.unsqueeze(1) * membership.to(predictions.dtype)  # (B, R, K), zeros outside g
    return per_group.norm(dim=-1).mean(0).mean()
