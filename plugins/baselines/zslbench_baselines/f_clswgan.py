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
is :mod:`zslbench_baselines.generative`; the networks are in
:mod:`zslbench_baselines.f_clswgan_model` (this module registers the method without torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zslbench.methods import MethodContext, MethodSpec
from zslbench_baselines.classic import default_backbone
from zslbench_baselines.options import FCLSWGANOptions

if TYPE_CHECKING:
    from zslbench_baselines.generative import GenerativeZSL


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


def build_f_clswgan(context: MethodContext, options: FCLSWGANOptions) -> GenerativeZSL:
    # torch is imported here, when a run builds the model, not when the method is registered.
    from zslbench_baselines.f_clswgan_model import WGANGP
    from zslbench_baselines.generative import GenerativeZSL

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
