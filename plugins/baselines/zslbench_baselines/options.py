"""Options of the image baselines (``--set method.<field>=...``), importable without torch.

The spec modules (:mod:`~zslbench_baselines.vit_baseline`, :mod:`~zslbench_baselines.mlzsl_baseline`)
register them; the model modules read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ViTBaselineOptions:
    """Hyper-parameters of the ViT attribute-head baseline (``--set method.<field>=...``)."""

    sigma: float = 5.0  # cosine scale (softmax temperature 1/sigma)


@dataclass
class MLZSLBaselineOptions:
    """Options of ``mlzsl-baseline`` (``--set method.<field>=...``)."""

    pooling: str = "mean"  # what is projected: mean patch feature | cls | both concatenated
    margin: float = 1.0  # ranking-loss margin


@dataclass
class FeatureLinearOptions:
    """Options of ``mlzsl-feat-linear`` (``--set method.<field>=...``)."""

    margin: float = 1.0  # ranking-loss margin
    lr: float = 1e-3
    epochs: int = 20
    batch_size: int = 256
    weight_decay: float = 0.0
    l2_normalize_features: bool = True
