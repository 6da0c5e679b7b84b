"""Can SVIP's patch classifier learn its targets, given more steps than the run gave it?

SVIP's selection at inference is the patch classifier (Eq. 5), trained during
the run to imitate the class-token attention (Eq. 4-6). On ``synthetic`` its
selection sits at random while the attention it imitates is object-centred
(docs/results.md). This tells a budget problem from an impossible task: on the
trained run's frozen patch embeddings and its own pseudo labels, a freshly
initialised classifier of the same shape is fitted offline with the run's
optimiser settings (AdamW, ``train.lr``, ``train.weight_decay``, batches of
``train.batch_size`` images) for each step count given. Printed for held-out
test images: AUROC against the object patches of the attention, of the run's
own classifier and of each offline fit, their per-image Spearman correlation
with the attention, and the BCE to the pseudo labels.

    python -m benchmarks.patch_classifier_fit runs/synthetic/svip/<run-id> --steps 110,500,2000

The offline fit sees fixed embeddings and fixed targets; in training both move
(the backbone is fine-tuned), so this bounds what the budget could buy, it does
not replay the run.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from benchmarks.attention_auroc import first_test_images, fixed_loader
from zslbench.data.masks import object_patches
from zslbench.evaluation.diagnostics import selection_auroc
from zslbench.results.explain import load_trained_model


def _embeddings_and_targets(model, dataset, index: np.ndarray, batch_size: int = 128):
    """Grouped input patch embeddings (N, G, D), attention group scores (N, G), pseudo labels and the run's
    own classifier's keep-logits, for ``dataset`` images ``index`` (evaluation transform)."""
    from zslbench_svip import losses

    opt = model.options
    loader = fixed_loader(dataset, index, batch_size)
    grouped, attention, own = [], [], []
    with torch.no_grad():
        for images, _, _ in loader:
            v = model.backbone.patch_embed(images)
            out = model.backbone.forward_tokens(v, need_cls_attention=True, aggregation=opt.aggregation)
            g = model.group_tokens(v)
            grouped.append(g)
            attention.append(model.group_attention_scores(out.cls_attention))
            own.append(model.patch_scores(g))
    attention_scores = torch.cat(attention)
    targets = losses.pseudo_labels(attention_scores, opt.num_kept, opt.pseudo_labels)
    return torch.cat(grouped), attention_scores, targets, torch.cat(own)


def _mean_spearman(a: np.ndarray, b: np.ndarray, images: int = 300) -> float:
    """Mean over the first ``images`` images of the Spearman correlation of two (N, G) score arrays."""
    values = [spearmanr(x, y)[0] for x, y in zip(a[:images], b[:images])]
    return float(np.nanmean(values))


def fit_offline(classifier: torch.nn.Module, embeddings: torch.Tensor, targets: torch.Tensor, steps: int,
                lr: float, weight_decay: float, batch_images: int, seed: int = 0) -> torch.nn.Module:
    """A fresh copy of ``classifier`` (parameters re-initialised) fitted with BCE to ``targets`` for ``steps``."""
    torch.manual_seed(seed)
    fresh = copy.deepcopy(classifier)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    optimiser = torch.optim.AdamW(fresh.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        batch = torch.randint(0, embeddings.shape[0], (batch_images,))
        loss = F.binary_cross_entropy_with_logits(fresh(embeddings[batch]).squeeze(-1), targets[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return fresh


def fit_report(run_dir: str, steps: list[int], fit_images: int = 2000, eval_images: int = 1000) -> dict[str, float]:
    """AUROCs, Spearman correlations and BCEs of the attention, the run's classifier and offline fits (see module doc)."""
    loaded = load_trained_model(run_dir)
    model, dataset, cfg = loaded.model, loaded.dataset, loaded.config
    if model.options.group_size != 1 or dataset.masks is None or model.patch_classifier is None:
        raise SystemExit("patch_classifier_fit needs an SVIP run with SSPS, group_size 1 and a dataset with masks")
    torch.manual_seed(0)
    fit_index = dataset.splits["trainval"][:fit_images]
    eval_index = first_test_images(dataset, eval_images)
    fit_v, _, fit_targets, _ = _embeddings_and_targets(model, dataset, fit_index)
    eval_v, eval_attention, eval_targets, own = _embeddings_and_targets(model, dataset, eval_index)
    truth = object_patches(dataset.masks[eval_index], tuple(model.backbone.grid))
    attention = eval_attention.numpy()

    def describe(name: str, logits: torch.Tensor) -> dict[str, float]:
        return {f"{name} AUROC": selection_auroc(logits.numpy(), truth),
                f"{name} spearman vs attention": _mean_spearman(logits.numpy(), attention),
                f"{name} BCE to targets": float(F.binary_cross_entropy_with_logits(logits, eval_targets))}

    out = {"attention AUROC": selection_auroc(attention, truth), **describe("run's classifier", own)}
    for n in steps:
        fitted = fit_offline(model.patch_classifier, fit_v, fit_targets, n, cfg.train.lr, cfg.train.weight_decay,
                             cfg.train.batch_size)
        with torch.no_grad():
            out.update(describe(f"fit {n} steps", fitted(eval_v).squeeze(-1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--steps", default="0,110,500,2000", help="comma-separated step counts of the offline fits")
    parser.add_argument("--fit-images", type=int, default=2000)
    parser.add_argument("--eval-images", type=int, default=1000)
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    for run in args.runs:
        report = fit_report(run, steps, args.fit_images, args.eval_images)
        print(run)
        for name, value in report.items():
            print(f"  {name}: {value:.3f}")


if __name__ == "__main__":
    main()
