"""Classic feature-level zero-shot methods, fitted on frozen backbone features (``kind="feature"``).

* ``eszsl``: Romera-Paredes & Torr, "An embarrassingly simple approach to
  zero-shot learning", ICML 2015 (closed form).
* ``sae``: Kodirov, Xiang & Gong, "Semantic Autoencoder for Zero-Shot
  Learning", CVPR 2017 (a Sylvester equation).
* ``ale``: Akata, Perronnin, Harchaoui & Schmid, "Label-Embedding for Image
  Classification", TPAMI 2016 (bilinear compatibility, rank-weighted hinge).
* ``devise``: Frome et al., "DeViSE: A Deep Visual-Semantic Embedding Model",
  NeurIPS 2013 (bilinear compatibility, hinge rank loss).
* ``feat-attr-head`` (alias ``linear-probe``): a linear attribute head on
  frozen features, cosine softmax over the seen classes (the head of the ViT
  baseline, without fine-tuning the backbone).

Each model has ``fit(features (N, D), targets (N,), class_attributes (S, K))``
(targets index the rows of ``class_attributes``, the seen classes) and
``class_scores(features, class_attributes (C, K)) -> (N, C)`` numpy scores.
Reference numbers are those of Xian et al. (TPAMI 2019, "GBU") on the published
ResNet-101 features with the Proposed Split, for AwA1, AwA2, aPY, CUB and SUN
(GBU has no FLO); see docs/methods/classic.md for where each was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np  # torch and scipy are imported where they compute: registering stays light

from zslbench.errors import DataError, UsageError
from zslbench.methods import MethodContext, MethodSpec
from zslbench.models.catalog import synthetic_backbone


SOURCE = "Xian et al., TPAMI 2019 (GBU), Proposed Split, ResNet-101 features (res101.mat)"
#: Where the GBU tables were read (the paper's ZSL top-1 and GZSL u/s/H tables, quoted verbatim).
QUOTED_ALE_DEVISE_ESZSL = "as quoted in the ucbdrive/tafe-net README"
QUOTED_SAE = "as quoted in mvp18/Popular-ZSL-Algorithms SAE/README.md"
#: The backbone name of the published res101 features (zslbench.features.RES101_BACKBONE).
RES101_BACKBONE = "resnet101-xlsa17"
#: The datasets whose res101.mat carries the published features (zslbench.data.xlsa17.DATASETS).
XLSA17_DATASETS = ("awa1", "awa2", "apy", "cub", "sun", "flo")


# --------------------------------------------------------------------------- shared helpers


def default_backbone(dataset_name: str) -> str:
    """The published res101 features for the xlsa17 datasets, the small ViTs for synthetic data, else ViT-B/16."""
    name = dataset_name.lower()
    if name in XLSA17_DATASETS:
        return RES101_BACKBONE
    return synthetic_backbone(name, "vit_base_patch16_224")


def _fit_inputs(features: np.ndarray, targets: np.ndarray,
                class_attributes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arguments of a fit call as arrays, after checking shapes and target range.

    Violations are data errors, not tracebacks deep in linear algebra.
    """
    features, targets, class_attributes = np.asarray(features), np.asarray(targets), np.asarray(class_attributes)
    if features.ndim != 2 or class_attributes.ndim != 2 or targets.ndim != 1:
        raise DataError(f"expected features (N, D), targets (N,), class attributes (S, K); got "
                        f"{features.shape}, {targets.shape}, {class_attributes.shape}")
    if len(features) != len(targets) or len(features) == 0:
        raise DataError(f"{len(features)} feature rows but {len(targets)} targets")
    if targets.min() < 0 or targets.max() >= len(class_attributes):
        raise DataError(f"targets must index the {len(class_attributes)} seen classes, found "
                        f"{int(targets.min())}..{int(targets.max())}")
    return features, targets, class_attributes


def _l2_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _float64_rows(features: np.ndarray, l2_normalize: bool) -> np.ndarray:
    """Features as float64 numpy rows, L2-normalised when asked (the closed-form methods)."""
    x = np.asarray(features, dtype=np.float64)
    return _l2_rows(x) if l2_normalize else x


def _float32_rows(features: np.ndarray, l2_normalize: bool) -> torch.Tensor:
    """Features as a float32 torch tensor, L2-normalised when asked (the trained methods)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    return F.normalize(x, dim=1) if l2_normalize else x


def _train_epochs(optim: torch.optim.Optimizer, batch_loss: Callable[[torch.Tensor], torch.Tensor], num_rows: int,
                  epochs: int, batch_size: int, generator: torch.Generator) -> list[float]:
    """Minibatch training: each epoch visits the rows in a fresh order drawn from ``generator``.

    ``batch_loss(rows)`` is the loss of the batch of row indices ``rows``;
    returns the mean loss of each epoch.
    """
    import torch

    history = []
    for _ in range(epochs):
        total = torch.zeros(())
        for batch in torch.randperm(num_rows, generator=generator).split(batch_size):
            loss = batch_loss(batch)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.detach() * len(batch)
        history.append(float(total) / num_rows)
    return history


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``."""
    return _l2_rows(a) @ _l2_rows(b).T


def _require(condition: bool, message: str, hint: str | None = None) -> None:
    if not condition:
        raise UsageError(message, hint)


# --------------------------------------------------------------------------- ESZSL


@dataclass
class ESZSLOptions:
    """ESZSL hyper-parameters (``--set method.<field>=...``); regularisers are powers of ten.

    gamma = 10**gamma_exp regularises the visual side (X X^T + gamma I),
    lambda = 10**lambda_exp the semantic side (S S^T + lambda I); the paper
    selects both from 10^-3..10^3 on validation classes.
    """

    gamma_exp: float = 0.0
    lambda_exp: float = 0.0
    targets: str = "bipolar"  # "bipolar": Y in {-1, 1} as in the paper; "onehot": Y in {0, 1}
    l2_normalize_features: bool = False


class ESZSL:
    """Closed form V = (X X^T + gamma I)^-1 X Y S^T (S S^T + lambda I)^-1; scores x^T V s_c.

    Notation of the paper: X (d, m) features as columns, Y (m, z) ground truth
    (1 for the true class, -1 elsewhere), S (a, z) class attributes as columns,
    V (d, a). Computed in float64.
    """

    def __init__(self, options: ESZSLOptions):
        _require(options.targets in ("bipolar", "onehot"), f"method.targets must be bipolar or onehot, got {options.targets!r}")
        self.options = options
        self.V: np.ndarray | None = None

    def _prepare(self, features: np.ndarray) -> np.ndarray:
        return _float64_rows(features, self.options.l2_normalize_features)

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        features, targets, class_attributes = _fit_inputs(features, targets, class_attributes)
        X = self._prepare(features).T  # (d, m)
        S = np.asarray(class_attributes, dtype=np.float64).T  # (a, z)
        off = -1.0 if self.options.targets == "bipolar" else 0.0
        Y = np.full((X.shape[1], S.shape[1]), off)
        Y[np.arange(X.shape[1]), targets] = 1.0
        gamma, lam = 10.0 ** self.options.gamma_exp, 10.0 ** self.options.lambda_exp
        left = np.linalg.solve(X @ X.T + gamma * np.eye(X.shape[0]), X @ Y @ S.T)  # (d, a)
        # right-multiplication by the symmetric (S S^T + lambda I)^-1, as a solve on the transpose
        self.V = np.linalg.solve(S @ S.T + lam * np.eye(S.shape[0]), left.T).T

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        if self.V is None:
            raise UsageError("ESZSL: call fit() before class_scores()")
        return self._prepare(features) @ self.V @ np.asarray(class_attributes, dtype=np.float64).T


# --------------------------------------------------------------------------- SAE


SAE_SCORINGS = ("semantic_to_visual", "visual_to_semantic")


@dataclass
class SAEOptions:
    """SAE hyper-parameters (``--set method.<field>=...``).

    ``scoring``: "semantic_to_visual" decodes class attributes into the feature
    space (W^T s) and compares them with the image features; "visual_to_semantic"
    encodes the images (W x) and compares with the class attributes. Both use
    cosine similarity, as the authors' code; the paper reports both directions
    and semantic-to-visual is the stronger one on res101 features, hence the
    default.
    """

    lambda_reg: float = 0.2
    scoring: str = "semantic_to_visual"
    l2_normalize_features: bool = True


class SAE:
    """Semantic autoencoder: W (k, d) solving S S^T W + lambda W X X^T = (1 + lambda) S X^T.

    X (d, N) features as columns, S (k, N) the attribute vectors of each image's
    class. Solved with :func:`scipy.linalg.solve_sylvester` (A W + W B = Q with
    A = S S^T, B = lambda X X^T, Q = (1 + lambda) S X^T), in float64.
    """

    def __init__(self, options: SAEOptions):
        _require(options.scoring in SAE_SCORINGS, f"method.scoring must be one of {', '.join(SAE_SCORINGS)}, "
                 f"got {options.scoring!r}")
        _require(options.lambda_reg > 0, f"method.lambda_reg must be positive, got {options.lambda_reg}")
        self.options = options
        self.W: np.ndarray | None = None

    def _prepare(self, features: np.ndarray) -> np.ndarray:
        return _float64_rows(features, self.options.l2_normalize_features)

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        import scipy.linalg

        features, targets, class_attributes = _fit_inputs(features, targets, class_attributes)
        X = self._prepare(features).T  # (d, N)
        S = np.asarray(class_attributes, dtype=np.float64)[targets].T  # (k, N)
        lam = self.options.lambda_reg
        W = scipy.linalg.solve_sylvester(S @ S.T, lam * (X @ X.T), (1.0 + lam) * (S @ X.T))
        if not np.all(np.isfinite(W)):
            raise DataError("SAE: the Sylvester equation is singular for these features",
                            "use more training images than feature dimensions, or another method.lambda_reg")
        self.W = W

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        if self.W is None:
            raise UsageError("SAE: call fit() before class_scores()")
        x = self._prepare(features)
        s = np.asarray(class_attributes, dtype=np.float64)
        if self.options.scoring == "semantic_to_visual":
            return _cosine(x, s @ self.W)  # decoded class prototypes W^T s_c in feature space
        return _cosine(x @ self.W.T, s)  # encoded images W x in attribute space


# --------------------------------------------------------------------------- bilinear compatibility (ALE, DeViSE)


@dataclass
class BilinearOptions:
    """Training of a bilinear compatibility F(x, y) = x^T W phi(y) (``--set method.<field>=...``)."""

    margin: float = 1.0  # Delta(y_n, y) for y != y_n
    lr: float = 1e-3
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"  # adam | sgd
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    l2_normalize_features: bool = True


@dataclass
class ALEOptions(BilinearOptions):
    """ALE: the 0/1 loss Delta = 1 with the rank-weighted (WARP-style) hinge of Akata et al."""


@dataclass
class DeViSEOptions(BilinearOptions):
    """DeViSE: the hinge rank loss with the paper's margin 0.1."""

    margin: float = 0.1


def harmonic_weights(num_classes: int) -> torch.Tensor:
    """``w[r] = l_r / r`` with ``l_r = sum_{i<=r} 1/i`` (ALE's rank weights, alpha_i = 1/i); ``w[0] = 0``."""
    import torch

    ranks = torch.arange(1, num_classes + 1, dtype=torch.float64)
    weights = torch.cumsum(1.0 / ranks, 0) / ranks
    return torch.cat([torch.zeros(1, dtype=torch.float64), weights]).float()


def _margin_violations(scores: torch.Tensor, targets: torch.Tensor, margin: float) -> torch.Tensor:
    """``max(0, margin + F(x, y) - F(x, y_n))`` for every wrong class y (0 for the true class), (B, C)."""
    import torch

    true = scores.gather(1, targets[:, None])
    wrong = torch.ones_like(scores, dtype=torch.bool).scatter_(1, targets[:, None], False)
    return torch.clamp(margin + scores - true, min=0.0) * wrong


def devise_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """DeViSE hinge rank loss: sum over wrong classes of max(0, margin - F(x, y_n) + F(x, y)), batch mean."""
    return _margin_violations(scores, targets, margin).sum(1).mean()


def ale_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """ALE's weighted approximate ranking loss, with the exact rank instead of WARP's sampled estimate.

    Per image: (l_r / r) * sum over wrong classes of max(0, Delta + F(x, y) - F(x, y_n)),
    where r is the number of wrong classes violating the margin (0 -> no loss)
    and l_r = sum_{i<=r} 1/i; the weight is a constant of the step (no gradient).
    Batch mean.
    """
    violations = _margin_violations(scores, targets, margin)
    ranks = (violations > 0).sum(1)
    weights = harmonic_weights(scores.shape[1]).to(scores.device)[ranks]
    return (weights * violations.sum(1)).mean()


class BilinearCompatibility:
    """F(x, y) = x^T W phi(y), phi(y) the class attribute vector, W (D, K) trained with a ranking loss.

    Trained on the CPU with torch, seeded: W starts N(0, 1/D) and the batches
    are shuffled by a generator seeded with the run seed.
    """

    def __init__(self, options: BilinearOptions, loss: str, seed: int = 0):
        _require(options.optimizer in ("adam", "sgd"), f"method.optimizer must be adam or sgd, got {options.optimizer!r}")
        _require(options.epochs >= 1 and options.batch_size >= 1 and options.lr > 0,
                 "method.epochs, method.batch_size and method.lr must be positive")
        _require(loss in ("ale", "devise"), f"unknown ranking loss {loss!r}")
        self.options, self.loss_name, self.seed = options, loss, seed
        self.W: torch.Tensor | None = None
        self.loss_history: list[float] = []  # mean loss of each epoch

    def _prepare(self, features: np.ndarray) -> torch.Tensor:
        return _float32_rows(features, self.options.l2_normalize_features)

    def loss(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The configured ranking loss of a batch of scores (B, S) over the seen classes."""
        fn = ale_loss if self.loss_name == "ale" else devise_loss
        return fn(scores, targets, self.options.margin)

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        import torch

        features, targets, class_attributes = _fit_inputs(features, targets, class_attributes)
        opts = self.options
        x, y = self._prepare(features), torch.as_tensor(targets, dtype=torch.long)
        phi = torch.as_tensor(class_attributes, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        W = (torch.randn(x.shape[1], phi.shape[1], generator=gen) / x.shape[1] ** 0.5).requires_grad_()
        optim = (torch.optim.Adam([W], lr=opts.lr, weight_decay=opts.weight_decay) if opts.optimizer == "adam"
                 else torch.optim.SGD([W], lr=opts.lr, momentum=opts.momentum, weight_decay=opts.weight_decay))
        self.loss_history = _train_epochs(optim, lambda batch: self.loss(x[batch] @ W @ phi.T, y[batch]), len(x),
                                          opts.epochs, opts.batch_size, gen)
        self.W = W.detach()

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        import torch

        if self.W is None:
            raise UsageError(f"{self.loss_name}: call fit() before class_scores()")
        with torch.no_grad():
            phi = torch.as_tensor(np.asarray(class_attributes), dtype=torch.float32)
            return (self._prepare(features) @ self.W @ phi.T).numpy()


# --------------------------------------------------------------------------- linear attribute head


@dataclass
class AttributeHeadOptions:
    """Linear attribute head on frozen features (``--set method.<field>=...``)."""

    sigma: float = 5.0  # cosine scale, as the ViT baseline (SVIP's sigma)
    lr: float = 1e-3
    epochs: int = 30
    batch_size: int = 64
    weight_decay: float = 0.0
    l2_normalize_features: bool = False


class LinearAttributeHead:
    """a_hat = W x + b; p(y | x) = softmax over the seen classes of sigma * cos(a_hat, a_y); Adam, seeded, CPU."""

    def __init__(self, options: AttributeHeadOptions, seed: int = 0):
        _require(options.sigma > 0, f"method.sigma must be positive, got {options.sigma}")
        _require(options.epochs >= 1 and options.batch_size >= 1 and options.lr > 0,
                 "method.epochs, method.batch_size and method.lr must be positive")
        self.options, self.seed = options, seed
        self.head: torch.nn.Linear | None = None
        self.loss_history: list[float] = []

    def _prepare(self, features: np.ndarray) -> torch.Tensor:
        return _float32_rows(features, self.options.l2_normalize_features)

    def _logits(self, x: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        assert self.head is not None
        return self.options.sigma * F.normalize(self.head(x), dim=1) @ F.normalize(class_attributes, dim=1).T

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        import torch
        import torch.nn.functional as F

        features, targets, class_attributes = _fit_inputs(features, targets, class_attributes)
        opts = self.options
        x, y = self._prepare(features), torch.as_tensor(targets, dtype=torch.long)
        attrs = torch.as_tensor(class_attributes, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.manual_seed(self.seed)
            self.head = torch.nn.Linear(x.shape[1], attrs.shape[1])
        optim = torch.optim.Adam(self.head.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        self.loss_history = _train_epochs(optim, lambda batch: F.cross_entropy(self._logits(x[batch], attrs), y[batch]),
                                          len(x), opts.epochs, opts.batch_size, gen)

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        import torch

        if self.head is None:
            raise UsageError("feat-attr-head: call fit() before class_scores()")
        with torch.no_grad():
            return self._logits(self._prepare(features), torch.as_tensor(np.asarray(class_attributes),
                                                                          dtype=torch.float32)).numpy()


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Published:
    """One method's GBU numbers: ZSL T1 and GZSL U / S / H (%) per dataset, and where they were read."""

    rows: dict[str, tuple[float, float, float, float]]
    quoted: str

    def reference_results(self) -> dict:
        source = f"{SOURCE}, {self.quoted}"
        return {d: {"T1": t1, "U": u, "S": s, "H": h, "source": source} for d, (t1, u, s, h) in self.rows.items()}


# ZSL T1 and GZSL U / S / H (%) of Xian et al. (GBU) on res101 features with the Proposed Split.
_ESZSL_PUBLISHED = Published({"awa1": (58.2, 6.6, 75.6, 12.1), "awa2": (58.6, 5.9, 77.8, 11.0),
                              "apy": (38.3, 2.4, 70.1, 4.6), "cub": (53.9, 12.6, 63.8, 21.0),
                              "sun": (54.5, 11.0, 27.9, 15.8)}, QUOTED_ALE_DEVISE_ESZSL)
_SAE_PUBLISHED = Published({"awa1": (53.0, 1.8, 77.1, 3.5), "awa2": (54.1, 1.1, 82.2, 2.2),
                            "apy": (8.3, 0.4, 80.9, 0.9), "cub": (33.3, 7.8, 54.0, 13.6),
                            "sun": (40.3, 8.8, 18.0, 11.8)}, QUOTED_SAE)
_ALE_PUBLISHED = Published({"awa1": (59.9, 16.8, 76.1, 27.5), "awa2": (62.5, 14.0, 81.8, 23.9),
                            "apy": (39.7, 4.6, 73.7, 8.7), "cub": (54.9, 23.7, 62.8, 34.4),
                            "sun": (58.1, 21.8, 33.1, 26.3)}, QUOTED_ALE_DEVISE_ESZSL)
_DEVISE_PUBLISHED = Published({"awa1": (54.2, 13.4, 68.7, 22.4), "awa2": (59.7, 17.1, 74.7, 27.8),
                               "apy": (39.8, 4.9, 76.9, 9.2), "cub": (52.0, 23.8, 53.0, 32.8),
                               "sun": (56.5, 16.9, 27.4, 20.9)}, QUOTED_ALE_DEVISE_ESZSL)


def build_eszsl(context: MethodContext, options: ESZSLOptions) -> ESZSL:
    return ESZSL(options)


def build_sae(context: MethodContext, options: SAEOptions) -> SAE:
    return SAE(options)


def build_ale(context: MethodContext, options: ALEOptions) -> BilinearCompatibility:
    return BilinearCompatibility(options, "ale", seed=context.seed)


def build_devise(context: MethodContext, options: DeViSEOptions) -> BilinearCompatibility:
    return BilinearCompatibility(options, "devise", seed=context.seed)


def build_attribute_head(context: MethodContext, options: AttributeHeadOptions) -> LinearAttributeHead:
    return LinearAttributeHead(options, seed=context.seed)


def _feature_spec(name: str, build: Callable[..., Any], options_type: type, description: str,
                  published: Published | None = None, aliases: tuple[str, ...] = ()) -> MethodSpec:
    """A frozen-feature method with the classic default backbones and, when given, Xian et al.'s numbers."""
    return MethodSpec(name=name, aliases=aliases, build=build, options_type=options_type, kind="feature",
                      description=description, reference_results=published.reference_results() if published else {},
                      default_backbone=default_backbone)


CLASSIC_METHODS: list[MethodSpec] = [
    _feature_spec("eszsl", build_eszsl, ESZSLOptions,
                  "ESZSL (Romera-Paredes & Torr, ICML 2015): closed-form bilinear map on frozen features",
                  _ESZSL_PUBLISHED),
    _feature_spec("sae", build_sae, SAEOptions,
                  "SAE (Kodirov et al., CVPR 2017): semantic autoencoder, a Sylvester equation on frozen features",
                  _SAE_PUBLISHED),
    _feature_spec("ale", build_ale, ALEOptions,
                  "ALE (Akata et al., TPAMI 2016): bilinear compatibility, rank-weighted hinge loss", _ALE_PUBLISHED),
    _feature_spec("devise", build_devise, DeViSEOptions,
                  "DeViSE (Frome et al., NeurIPS 2013): bilinear compatibility, hinge rank loss", _DEVISE_PUBLISHED),
    _feature_spec("feat-attr-head", build_attribute_head, AttributeHeadOptions,
                  "linear attribute head on frozen features, cosine softmax over the seen classes",
                  aliases=("linear-probe",)),
]


def method_specs() -> list[MethodSpec]:
    """The classic feature-level methods (for zslbench_baselines.plugin.SPEC_SOURCES)."""
    return list(CLASSIC_METHODS)
