"""f-CLSWGAN (Xian, Lorenz, Schiele & Akata, "Feature Generating Networks for Zero-Shot Learning", CVPR 2018).

A Wasserstein GAN with gradient penalty, conditioned on the class embedding:

* generator G(z, a): [z, a] -> hidden (LeakyReLU 0.2) -> feature (ReLU), z ~ N(0, I);
* critic D(x, a): [x, a] -> hidden (LeakyReLU 0.2) -> a score;
* critic loss E[D(G(z, a), a)] - E[D(x, a)] + lambda E[(||grad_x D(x_hat, a)||_2 - 1)^2]
  on random interpolates x_hat of real and generated features (WGAN-GP);
* generator loss -E[D(G(z, a), a)] + beta * CE(P(y | G(z, a))), where P is the
  softmax classifier pre-trained on real seen features (the classification
  regulariser, frozen);
* ``critic_iters`` critic steps per generator step.

The paper's architecture (Sec. 4): one hidden layer of 4096 units in both
networks, LeakyReLU, ReLU output; lambda = 10. Per-dataset settings
(:data:`DATASET_DEFAULTS`) are those of the authors' released scripts.
The shared recipe (pre-training, synthesis, final softmax, GZSL and ZSL heads)
is :mod:`zslbench_baselines.generative`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.errors import UsageError
from zslbench.methods import MethodContext, MethodSpec
from zslbench_baselines.classic import default_backbone
from zslbench_baselines.generative import (FeatureGenerator, GenerativeOptions, GenerativeZSL, TrainingData,
                                           init_linear_weights, noise, random_rows)


@dataclass
class FCLSWGANOptions(GenerativeOptions):
    """f-CLSWGAN hyper-parameters (``--set method.<field>=...``, ``tune.<field>=[...]`` under ``--protocol gbu``)."""

    critic_iters: int = 5
    gp_weight: float = 10.0  # lambda of the gradient penalty
    cls_weight: float = 0.01  # beta of the classification regulariser (0: f-WGAN)


#: Per-dataset options from the f-CLSWGAN authors' released GZSL scripts (seed, ``--syn_num``, ``--nepoch``,
#: ``--lr``, ``--classifier_lr``, ``--cls_weight``), as reproduced in luca-rossi/grabzsl
#: ``scripts/run_clswgan_{awa,cub,flo,sun}_gzsl.py``. The paper evaluates AWA1 ("AWA"), CUB, FLO and SUN; AwA2
#: has AwA1's classes and attributes and takes AwA1's settings; aPY has no published setting and uses the
#: option defaults.
DATASET_DEFAULTS: dict[str, dict] = {
    "awa1": dict(syn_num=1800, epochs=30, lr=1e-5, classifier_lr=1e-3, cls_weight=0.01),
    "awa2": dict(syn_num=1800, epochs=30, lr=1e-5, classifier_lr=1e-3, cls_weight=0.01),
    "cub": dict(syn_num=300, epochs=56, lr=1e-4, classifier_lr=1e-3, cls_weight=0.01),
    "flo": dict(syn_num=1200, epochs=80, lr=1e-4, classifier_lr=1e-3, cls_weight=0.1),
    "sun": dict(syn_num=400, epochs=40, lr=2e-4, classifier_lr=1e-3, cls_weight=0.01),
}


class ConditionalMLP(nn.Module):
    """[input, class embedding] -> hidden (LeakyReLU 0.2) -> output (ReLU when ``relu_output``)."""

    def __init__(self, input_dim: int, embedding_dim: int, hidden_dim: int, output_dim: int, relu_output: bool):
        super().__init__()
        self.hidden = nn.Linear(input_dim + embedding_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, output_dim)
        self.relu_output = relu_output
        init_linear_weights(self)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.hidden(torch.cat([x, a], dim=1)), 0.2)
        out = self.out(h)
        return F.relu(out) if self.relu_output else out


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, embeddings: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """E[(||grad D(x_hat, a)||_2 - 1)^2] at x_hat = alpha x + (1 - alpha) x~, alpha ~ U(0, 1) per row."""
    alpha = torch.rand(len(real), 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, embeddings).sum(), mixed, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


class WGANGP(FeatureGenerator):
    """The f-CLSWGAN generator trainer: WGAN-GP conditioned on class embeddings plus the classifier regulariser."""

    def __init__(self, options: FCLSWGANOptions, seed: int = 0, device: str = "cpu"):
        self.options, self.seed, self.device = options, seed, torch.device(device)
        self.generator_net: ConditionalMLP | None = None
        self.critic: ConditionalMLP | None = None
        self.noise_dim = 0

    def _build(self, feature_dim: int, embedding_dim: int) -> None:
        opts = self.options
        self.noise_dim = nz = opts.noise_dim or embedding_dim
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.manual_seed(self.seed)
            self.generator_net = ConditionalMLP(nz, embedding_dim, opts.hidden_dim, feature_dim, relu_output=True)
            self.critic = ConditionalMLP(feature_dim, embedding_dim, opts.hidden_dim, 1, relu_output=False)
        self.generator_net.to(self.device)
        self.critic.to(self.device)

    def train(self, data: TrainingData) -> list[dict[str, float]]:
        opts = self.options
        if opts.critic_iters < 1 or opts.gp_weight < 0 or opts.cls_weight < 0:
            raise UsageError("method.critic_iters must be >= 1, method.gp_weight and method.cls_weight >= 0")
        self._build(data.features.shape[1], data.class_embeddings.shape[1])
        assert self.generator_net is not None and self.critic is not None
        G, D, rng = self.generator_net, self.critic, data.generator
        betas = (opts.beta1, 0.999)
        optim_g = torch.optim.Adam(G.parameters(), lr=opts.lr, betas=betas)
        optim_d = torch.optim.Adam(D.parameters(), lr=opts.lr, betas=betas)
        n, nz = len(data.features), self.noise_dim
        iterations = opts.iterations_per_epoch or max(1, n // opts.batch_size)
        history = []
        for _ in range(opts.epochs):
            totals = torch.zeros(4, device=self.device)  # summed on the device: no host sync per step
            for _ in range(iterations):
                for _ in range(opts.critic_iters):
                    rows = random_rows(n, opts.batch_size, rng, self.device)
                    real, a = data.features[rows], data.class_embeddings[data.targets[rows]]
                    with torch.no_grad():
                        fake = G(noise(len(rows), nz, rng, self.device), a)
                    wasserstein = D(real, a).mean() - D(fake, a).mean()
                    penalty = gradient_penalty(D, real, fake, a, rng)
                    loss_d = -wasserstein + opts.gp_weight * penalty
                    optim_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    optim_d.step()
                rows = random_rows(n, opts.batch_size, rng, self.device)
                y, a = data.targets[rows], data.class_embeddings[data.targets[rows]]
                fake = G(noise(len(rows), nz, rng, self.device), a)
                adversarial = -D(fake, a).mean()
                classification = F.cross_entropy(data.seen_classifier(fake), y)
                loss_g = adversarial + opts.cls_weight * classification
                optim_g.zero_grad(set_to_none=True)
                loss_g.backward()
                optim_g.step()
                totals += torch.stack([wasserstein.detach(), penalty.detach(), adversarial.detach(),
                                       classification.detach()])
            mean = (totals / iterations).tolist()
            history.append(dict(zip(("wasserstein", "gradient_penalty", "generator_adversarial",
                                     "generator_classification"), mean)))
        G.eval()
        return history

    def synthesise(self, class_embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.generator_net is None:
            raise UsageError("f-clswgan: train the generator before synthesising features")
        return self.generator_net(noise(len(class_embeddings), self.noise_dim, generator, self.device),
                                  class_embeddings.to(self.device))


def build_f_clswgan(context: MethodContext, options: FCLSWGANOptions) -> GenerativeZSL:
    return GenerativeZSL(options, WGANGP(options, seed=context.seed, device=context.device), seed=context.seed,
                         device=context.device)


def dataset_defaults(dataset: str) -> dict:
    """The authors' per-dataset settings as ``{"method": {...}}`` (empty for datasets without any)."""
    settings = DATASET_DEFAULTS.get(dataset.lower())
    return {"method": dict(settings)} if settings else {}


SOURCE_ZSL_GZSL = ("Xian et al., CVPR 2018 (f-CLSWGAN), res101 features, Proposed Split; T1 and H as quoted in "
                   "the ucbdrive/tafe-net README (ZSL and GZSL tables)")

#: Published ZSL T1 and GZSL H (%). U and S are left out: the quoting table lists them in an order that
#: contradicts its own header for CUB and AWA1; FLO is not in that table (not found, left out).
REFERENCE_RESULTS = {
    "awa1": {"T1": 68.2, "H": 59.6, "source": SOURCE_ZSL_GZSL},
    "cub": {"T1": 57.3, "H": 49.7, "source": SOURCE_ZSL_GZSL},
    "sun": {"T1": 60.8, "H": 39.4, "source": SOURCE_ZSL_GZSL},
}

F_CLSWGAN = MethodSpec(
    name="f-clswgan", aliases=("fclswgan", "clswgan"), build=build_f_clswgan, options_type=FCLSWGANOptions,
    kind="feature",
    description="f-CLSWGAN (Xian et al., CVPR 2018): attribute-conditioned WGAN-GP with a classifier regulariser "
                "synthesises unseen-class features; softmax on real seen + synthetic unseen",
    dataset_defaults=dataset_defaults, reference_results=REFERENCE_RESULTS, default_backbone=default_backbone,
)


def method_specs() -> list[MethodSpec]:
    """The feature-generating baselines of this module (for zslbench_baselines.plugin.SPEC_SOURCES)."""
    return [F_CLSWGAN]
