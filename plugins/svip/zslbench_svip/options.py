"""SVIP's options (``--set method.<field>=...``), importable without torch.

The plugin registers its specs from this module and :mod:`zslbench_svip.model`
is imported only when a model is built, so ``zslbench list`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from zslbench.models.catalog import AGGREGATIONS
from zslbench.errors import UsageError

#: S_M controls (the models are in :mod:`zslbench_svip.selection`).
SELECTIONS = ("learned", "random", "mask-oracle", "inverted")

CHOICES: dict[str, tuple[str, ...]] = {
    "aggregation": AGGREGATIONS,
    "pseudo_labels": ("soft", "topm"),
    "pooling": ("max", "mean"),
    "consistency": ("jsd", "kl"),
    "selection_in_training": ("classifier", "attention"),
    "p2a_groups": ("selected", "reference"),
    "selection": SELECTIONS,
}


@dataclass
class SVIPOptions:
    """Hyper-parameters of SVIP (``--set method.<field>=...``); defaults follow the paper.

    Per-dataset values (M, the patch-loss weight) come from the method's
    dataset defaults. See docs/methods/svip.md for each choice and what the
    authors' public code does instead (preset ``svip-reference``).
    """

    num_kept: int = 40  # M: kept (semantic-related) groups of the grouped grid (Eq. 8)
    group_size: int = 2  # patches are grouped group_size x group_size before selection
    sigma: float = 5.0  # cosine scale of Eq. 11
    lambda_jsd: float = 1.0  # lambda1 of Eq. 14 (consistency weight)
    lambda_patch: float = 3.0  # lambda2 of Eq. 14 (patch-classifier loss weight)
    aggregation: str = "eq4"  # eq4 (paper) | rollout (reference code)
    pseudo_labels: str = "soft"  # soft: regress the normalised score (paper) | topm: binary top-M (reference)
    pooling: str = "max"  # max (paper, Eq. 10) | mean (reference scripts)
    consistency: str = "jsd"  # jsd (paper, Eq. 13) | kl (reference: T^2 * KL at temperature)
    consistency_temperature: float = 20.0  # temperature of the kl consistency
    decorrelation_weight: float = 0.0  # attribute-group decorrelation (reference code only)
    selection_in_training: str = "classifier"  # S_M while training: classifier (Eq. 8) | attention (reference)
    p2a_groups: str = "selected"  # groups P2A pools over: selected (paper) | reference (see docs)
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
                raise UsageError(f"method.{name}={value!r} is not valid", f"choose one of {', '.join(allowed)}")
        for name in ("num_kept", "group_size", "patch_classifier_hidden"):
            if getattr(self, name) < 1:
                raise UsageError(f"method.{name} must be at least 1, got {getattr(self, name)}")
        if self.sigma <= 0 or self.consistency_temperature <= 0:
            raise UsageError("method.sigma and method.consistency_temperature must be positive")
        for name in ("lambda_jsd", "lambda_patch", "decorrelation_weight"):
            if getattr(self, name) < 0:
                raise UsageError(f"method.{name} must not be negative, got {getattr(self, name)}")
        if self.selection != "learned" and not self.use_ssps:
            raise UsageError(f"method.selection={self.selection} replaces SSPS's selection, and use_ssps is off",
                             "use method.selection=learned without SSPS")
