"""Options of the baselines that train with torch (``--set method.<field>=...``), importable without it.

The spec modules (:mod:`~zslbench_baselines.vit_baseline`, :mod:`~zslbench_baselines.mlzsl_baseline`,
:mod:`~zslbench_baselines.f_clswgan`) register them; the model modules read them.
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


@dataclass
class GenerativeOptions:
    """Hyper-parameters of the shared recipe (``--set method.<field>=...``).

    Defaults are those of the f-CLSWGAN authors' code: generator training with
    Adam (beta1 0.5) on batches of 64 for ``epochs`` passes of N / batch_size
    iterations; a linear softmax pre-trained for 50 epochs (lr 1e-3, batch 100);
    a final linear softmax for 25 epochs (lr ``classifier_lr``, batch ``syn_num``).
    """

    syn_num: int = 300  # synthetic features per class that is not seen (0: none, a seen-only classifier)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-4
    beta1: float = 0.5
    hidden_dim: int = 4096
    noise_dim: int = 0  # 0: the class-embedding dimension, as the authors
    iterations_per_epoch: int = 0  # 0: N / batch_size, the authors' epoch
    preprocessing: bool = True  # min-max scaling of the features to [0, 1]
    pretrain_lr: float = 1e-3
    pretrain_epochs: int = 50
    pretrain_batch_size: int = 100
    classifier_lr: float = 1e-3
    classifier_epochs: int = 25
    classifier_batch_size: int = 0  # 0: syn_num (the authors' choice), or pretrain_batch_size when syn_num=0


@dataclass
class FCLSWGANOptions(GenerativeOptions):
    """f-CLSWGAN hyper-parameters (``--set method.<field>=...``, ``tune.<field>=[...]`` under ``--protocol gbu``)."""

    critic_iters: int = 5
    gp_weight: float = 10.0  # lambda of the gradient penalty
    cls_weight: float = 0.01  # beta of the classification regulariser (0: f-WGAN)
