"""f-CLSWGAN's networks and WGAN-GP training (registered by :mod:`zslbench_baselines.f_clswgan`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.errors import UsageError
from zslbench_baselines.generative import FeatureGenerator, TrainingData, init_linear_weights, noise, random_rows
from zslbench_baselines.options import FCLSWGANOptions


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
