"""SVIP's options: every switch the paper's ablations or the authors' public code change (docs/methods/svip.md).

Importable without torch: the plugin registers its specs from this module and
:mod:`zslbench_svip.model` is imported only when a model is built, so
``zslbench list`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from zslbench.errors import UsageError
from zslbench.models.catalog import AGGREGATIONS

#: S_M controls (the models are in :mod:`zslbench_svip.selection`).
SELECTIONS = ("learned", "random", "mask-oracle", "inverted")

CHOICES: dict[str, tuple[str, ...]] = {
    "aggregation": AGGREGATIONS,
    "pseudo_labels": ("soft", "topm"),
    "pooling": ("max", "mean"),
    "consistency": ("symmetric-kl", "mixture-jsd", "code-kl"),
    "consistency_scores": ("scaled", "unscaled"),
    "selection_in_training": ("classifier", "attention"),
    "p2a_groups": ("selected", "reference"),
    "group_score": ("grid", "raster"),
    "fill_layout": ("per-token", "interleaved"),
    "scoring": ("cosine", "dot"),
    "patch_logit": ("keep", "fill"),
    "selection": SELECTIONS,
}

#: Option values of earlier versions, with what they correspond to now (for the error hint).
_RENAMED = {
    ("consistency", "jsd"): "'jsd' (the mixture JSD) is now 'mixture-jsd'",
    ("consistency", "kl"): "'kl' (batch-mean KL(p_orig || p_ctx)) was replaced by 'code-kl', the public code's exact term",
}

#: The public code normalises class attribute vectors as a / (||a|| + 1e-5) (scoring ``dot``).
DOT_SCORING_EPS = 1e-5


@dataclass
class SVIPOptions:
    """Hyper-parameters of SVIP (``--set method.<field>=...``); defaults follow the paper.

    Per-dataset values (M, the patch-loss weight) come from the method's
    dataset defaults. See docs/methods/svip.md for each choice and what the
    authors' public code does instead (preset ``svip-reference``).
    """

    num_kept: int = 40  # M: kept (semantic-related) groups of the grouped grid (Eq. 8)
    # M follows the grid: num_kept counts groups of the dataset's default backbone grid (7x7 for ViT-B/16 at 224)
    # and is rescaled to the built backbone's group count (DINOv2 at 224: 8x8 groups, 40 -> 52); false: as given
    num_kept_follows_grid: bool = True
    group_size: int = 2  # patches are grouped group_size x group_size before selection
    sigma: float = 5.0  # cosine scale of Eq. 11
    lambda_jsd: float = 1.0  # lambda1 of Eq. 14 (consistency weight)
    lambda_patch: float = 3.0  # lambda2 of Eq. 14 (patch-classifier loss weight)
    aggregation: str = "eq4"  # eq4 (paper) | rollout (reference code)
    pseudo_labels: str = "soft"  # soft: regress the normalised score (paper) | topm: binary top-M (reference)
    pooling: str = "max"  # max (paper, Eq. 10) | mean (reference scripts)
    consistency: str = "symmetric-kl"  # Eq. 13 as written | mixture-jsd (its name) | code-kl (public code)
    consistency_temperature: float = 20.0  # T of code-kl
    consistency_scores: str = "scaled"  # consistency on sigma-scaled logits (Eq. 11's p) | unscaled scores (code)
    decorrelation_weight: float = 0.0  # attribute-group decorrelation of the predictions (public code only)
    decorrelation_weight_twice: bool = False  # the code multiplies the term by its weight twice (weight^2)
    lambda_mse: float = 0.0  # MSE of both passes' predictions to the class attributes (code; 0 in its scripts)
    selection_in_training: str = "classifier"  # S_M while training: classifier (Eq. 8) | attention (Algorithm 1)
    p2a_groups: str = "selected"  # groups P2A pools over: selected (paper) | reference (see docs)
    group_score: str = "grid"  # attention score of a group: its g x g patches | g^2 consecutive raster patches (code)
    fill_layout: str = "per-token"  # e's slots: one D-sized token each | interleaved across g^2 D (code)
    scoring: str = "cosine"  # Eq. 11's cosine | dot: prediction . a / (||a|| + 1e-5) (code)
    patch_logit: str = "keep"  # what PatchCls's logit scores: keep (S_M) | fill (code: label 1 = unrelated)
    patch_classifier_hidden: int = 512  # PatchCls: g^2 D -> hidden -> ReLU -> 1
    use_ssps: bool = True  # False: no selection, e added to all groups, no patch loss (w/o SSPS)
    use_psc: bool = True  # False: unselected groups are removed instead (w/o PSC)
    use_w2p: bool = True  # False: e is a learnable random embedding (w/o W2P)
    use_p2a: bool = True  # False: attributes from the class token (w/o P2A)
    selection: str = "learned"  # S_M control, training and inference: learned | random | mask-oracle | inverted

    def validate(self) -> None:
        """Raise a UsageError naming the first invalid option."""
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                hint = f"choose one of {', '.join(allowed)}"
                if (name, value) in _RENAMED:  # configs stored before issue 20
                    hint = _RENAMED[(name, value)] + "; " + hint
                raise UsageError(f"method.{name}={value!r} is not valid", hint)
        for name in ("num_kept", "group_size", "patch_classifier_hidden"):
            if getattr(self, name) < 1:
                raise UsageError(f"method.{name} must be at least 1, got {getattr(self, name)}")
        if self.sigma <= 0 or self.consistency_temperature <= 0:
            raise UsageError("method.sigma and method.consistency_temperature must be positive")
        for name in ("lambda_jsd", "lambda_patch", "decorrelation_weight", "lambda_mse"):
            if getattr(self, name) < 0:
                raise UsageError(f"method.{name} must not be negative, got {getattr(self, name)}")
        if self.selection != "learned" and not self.use_ssps:
            raise UsageError(f"method.selection={self.selection} replaces SSPS's selection, and use_ssps is off",
                             "use method.selection=learned without SSPS")
