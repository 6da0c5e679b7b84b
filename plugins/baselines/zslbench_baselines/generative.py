"""Feature-generating GZSL baselines: the recipe every generator shares.

A feature generator learns p(x | a), the distribution of image features x of a
class given its class embedding a, from the seen classes; features synthesised
for the unseen classes then turn zero-shot learning into ordinary supervised
classification. The recipe (Xian et al., "Feature Generating Networks for
Zero-Shot Learning", CVPR 2018, Sec. 3-4):

1. scale the features to [0, 1] per dimension (min-max fitted on the training
   features; the authors' ``--preprocessing``);
2. pre-train a linear softmax classifier on the real seen features (members
   such as f-CLSWGAN use it as a regulariser of the generator);
3. train the member's conditional generator on (feature, class embedding) pairs
   of the seen classes (:class:`FeatureGenerator`);
4. for the classes a benchmark scores, synthesise ``syn_num`` features of every
   class that is not seen and train a final linear softmax classifier:
   over all classes on real seen + synthetic features (the GZSL head) when the
   scored classes include seen ones, over the scored classes on synthetic
   features only (the ZSL head) when they do not.

A further generator is one file: a :class:`GenerativeOptions` subclass with its
hyper-parameters and a :class:`FeatureGenerator` (see ``f_clswgan.py``).

Deviation from the authors' code, on purpose: their final classifier reports
the epoch with the best test accuracy; here the last epoch is used, so no
choice is made on test data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zslbench.errors import DataError, UsageError

from zslbench_baselines.options import GenerativeOptions


@dataclass
class TrainingData:
    """What a generator trains on: preprocessed seen features, their targets and the seen class embeddings."""

    features: torch.Tensor  # (N, D) float32, on the training device
    targets: torch.Tensor  # (N,) long, rows of ``class_embeddings``
    class_embeddings: torch.Tensor  # (S, K) float32
    seen_classifier: nn.Module  # linear softmax over the S seen classes, frozen
    generator: torch.Generator  # the run's random stream (noise, batches)


class FeatureGenerator(Protocol):
    """A member of the family: trains on seen features, then synthesises features of any class embedding."""

    def train(self, data: TrainingData) -> list[dict[str, float]]:
        """Train on ``data``; returns one record of mean losses per epoch."""
        ...

    def synthesise(self, class_embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Features (M, D) for M class-embedding rows (M, K), one noise draw each."""
        ...


def init_linear_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases for every linear layer, as the authors' ``weights_init``."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)


def random_rows(num_rows: int, batch_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``batch_size`` row indices drawn uniformly with replacement (the authors' ``next_batch``)."""
    return torch.randint(num_rows, (batch_size,), generator=generator, device="cpu").to(device)


def noise(rows: int, dim: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard normal noise (rows, dim) from the run's generator (drawn on the CPU: identical on every device)."""
    return torch.randn(rows, dim, generator=generator).to(device)


class MinMaxScaler:
    """Per-dimension (x - min) / (max - min) fitted on training features; constant dimensions map to 0."""

    def __init__(self, features: np.ndarray):
        self.low = features.min(axis=0)
        span = features.max(axis=0) - self.low
        self.scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.low) * self.scale).astype(np.float32)


def train_softmax(features: torch.Tensor, targets: torch.Tensor, num_classes: int, lr: float, beta1: float,
                  epochs: int, batch_size: int, generator: torch.Generator) -> nn.Linear:
    """A linear softmax classifier (log-softmax + NLL), Adam, shuffled minibatches drawn from ``generator``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        classifier = nn.Linear(features.shape[1], num_classes).to(features.device)
    optim = torch.optim.Adam(classifier.parameters(), lr=lr, betas=(beta1, 0.999))
    for _ in range(epochs):
        for batch in torch.randperm(len(features), generator=generator).to(features.device).split(batch_size):
            loss = F.cross_entropy(classifier(features[batch]), targets[batch])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
    classifier.eval()
    return classifier


def _embedding_key(rows: np.ndarray) -> bytes:
    return np.ascontiguousarray(rows, dtype=np.float32).tobytes()


class GenerativeZSL:
    """The recipe around one :class:`FeatureGenerator`; a ``FeatureZSLModel`` for the core's runner.

    ``fit`` trains the generator on the seen classes. ``class_scores(features,
    class_embeddings)`` returns log-probabilities (N, C) of the final softmax for
    those C classes: classes whose embedding equals a seen class's are seen (real
    features), the others are synthesised. The final classifier of a class set
    is trained once and reused for every later call with the same set.
    """

    def __init__(self, options: GenerativeOptions, generator: FeatureGenerator, seed: int = 0, device: str = "cpu"):
        positive = ("epochs", "batch_size", "hidden_dim", "pretrain_epochs", "pretrain_batch_size", "classifier_epochs")
        bad = [k for k in positive if getattr(options, k) < 1]
        if bad or options.lr <= 0 or options.classifier_lr <= 0 or options.pretrain_lr <= 0 or options.syn_num < 0:
            raise UsageError(f"invalid options: {', '.join(bad) or 'a learning rate or syn_num'} out of range",
                             "epochs, batch sizes, hidden_dim and learning rates must be positive; syn_num >= 0")
        self.options, self.member, self.seed = options, generator, seed
        self.device = torch.device(device)
        self.scaler: MinMaxScaler | None = None
        self.real_seen: tuple[torch.Tensor, torch.Tensor] | None = None
        self.seen_rows: dict[bytes, int] = {}
        self.history: list[dict[str, float]] = []
        self._rng: torch.Generator | None = None
        self._head: tuple[bytes, nn.Linear] | None = None

    def _prepare(self, features: np.ndarray) -> torch.Tensor:
        x = np.asarray(features, dtype=np.float32)
        if self.scaler is not None:
            x = self.scaler(x)
        return torch.as_tensor(x, device=self.device)

    def fit(self, features: np.ndarray, targets: np.ndarray, class_attributes: np.ndarray) -> None:
        features, targets = np.asarray(features, dtype=np.float32), np.asarray(targets)
        seen = np.asarray(class_attributes, dtype=np.float32)
        if features.ndim != 2 or len(features) != len(targets) or len(features) == 0 or seen.ndim != 2:
            raise DataError(f"expected features (N, D), targets (N,), class attributes (S, K); got "
                            f"{features.shape}, {targets.shape}, {seen.shape}")
        if targets.min() < 0 or targets.max() >= len(seen):
            raise DataError(f"targets must index the {len(seen)} seen classes")
        opts = self.options
        self._rng = torch.Generator().manual_seed(self.seed)
        self.scaler = MinMaxScaler(features) if opts.preprocessing else None
        x = self._prepare(features)
        y = torch.as_tensor(targets, dtype=torch.long, device=self.device)
        embeddings = torch.as_tensor(seen, device=self.device)
        seen_classifier = train_softmax(x, y, len(seen), opts.pretrain_lr, opts.beta1, opts.pretrain_epochs,
                                        opts.pretrain_batch_size, self._rng)
        seen_classifier.requires_grad_(False)
        # Without synthesis (syn_num=0: the seen-only classifier) a generator would never be used.
        self.history = (self.member.train(TrainingData(x, y, embeddings, seen_classifier, self._rng))
                        if opts.syn_num > 0 else [])
        self.real_seen = (x, y)
        self.seen_rows = {_embedding_key(row): i for i, row in enumerate(seen)}
        self._head = None

    def _final_classifier(self, class_embeddings: np.ndarray) -> nn.Linear:
        """The softmax over the rows of ``class_embeddings``: GZSL head with seen rows, ZSL head without."""
        key = hashlib.sha256(_embedding_key(class_embeddings)).digest()
        if self._head is not None and self._head[0] == key:
            return self._head[1]
        if self.real_seen is None or self._rng is None:
            raise UsageError("generative model: call fit() before class_scores()")
        opts = self.options
        seen_index = np.array([self.seen_rows.get(_embedding_key(row), -1) for row in class_embeddings])
        synthetic_classes = np.flatnonzero(seen_index < 0)
        xs, ys = [], []
        if (seen_index >= 0).any():  # GZSL head: the real seen features, relabelled to their columns here
            column_of_seen = torch.full((len(self.seen_rows),), -1, dtype=torch.long, device=self.device)
            present = np.flatnonzero(seen_index >= 0)
            column_of_seen[torch.as_tensor(seen_index[present], device=self.device)] = torch.as_tensor(
                present, device=self.device)
            x_real, y_real = self.real_seen
            keep = column_of_seen[y_real] >= 0
            xs.append(x_real[keep])
            ys.append(column_of_seen[y_real[keep]])
        if opts.syn_num > 0 and synthetic_classes.size:
            rows = torch.as_tensor(np.repeat(class_embeddings[synthetic_classes], opts.syn_num, axis=0),
                                   dtype=torch.float32, device=self.device)
            with torch.no_grad():
                xs.append(self.member.synthesise(rows, self._rng))
            ys.append(torch.as_tensor(np.repeat(synthetic_classes, opts.syn_num), device=self.device))
        if not xs:
            raise DataError("no training features for the final classifier: no seen class among the scored "
                            "classes and method.syn_num=0", "set method.syn_num to a positive number")
        batch = opts.classifier_batch_size or opts.syn_num or opts.pretrain_batch_size
        head = train_softmax(torch.cat(xs), torch.cat(ys), len(class_embeddings), opts.classifier_lr, opts.beta1,
                             opts.classifier_epochs, batch, self._rng)
        self._head = (key, head)
        return head

    def class_scores(self, features: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        head = self._final_classifier(np.asarray(class_attributes, dtype=np.float32))
        with torch.no_grad():
            return F.log_softmax(head(self._prepare(features)), dim=1).cpu().numpy()
