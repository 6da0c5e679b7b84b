"""What steers a trained SVIP run: gradient norms of its loss terms, and how object-centred its attention is.

For each run directory given, the trained model is rebuilt from its
checkpoint; on a few training batches (the train classes of the run's
protocol) the gradient of each weighted loss term with respect to all
parameters is taken separately, and the ratio of its norm to that of the
classification loss is printed. A term whose gradient is a thousandth of the
classification loss's steers nothing. Also printed: the AUROC of the
backbone's class-token attention and of the patch classifier's scores
against the object masks (synthetic data).

    python -m benchmarks.svip_terms runs/synthetic/svip/<run-id> [...] --batches 4
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.attention_auroc import class_token_attention, first_test_images, fixed_loader, mask_aurocs
from zslbench.results.explain import load_trained_model


def _grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))


def term_gradients(run_dir: str, batches: int, batch_size: int = 64) -> dict[str, float]:
    loaded = load_trained_model(run_dir)
    model, dataset, options = loaded.model, loaded.dataset, loaded.options
    classes = np.asarray(dataset.train_classes if loaded.config.protocol == "gbu" else dataset.seen_classes)
    index = dataset.splits["trainval"][np.isin(dataset.labels[dataset.splits["trainval"]], classes)]
    targets = np.searchsorted(classes, dataset.labels[index])
    loader = fixed_loader(dataset, index, batch_size, targets, generator=torch.Generator().manual_seed(0))
    attrs = torch.as_tensor(dataset.class_attributes[classes], dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = {"consistency": options.lambda_jsd, "patch": options.lambda_patch}
    sums: dict[str, list[float]] = {}
    model.train()
    for step, (images, y, batch_index) in enumerate(loader):
        if step == batches:
            break
        if hasattr(model, "set_batch_indices"):
            model.set_batch_indices(batch_index)
        terms = model.training_losses(images, y, attrs)
        cls_norm = _grad_norm(terms["cls"], params)
        sums.setdefault("cls loss", []).append(float(terms["cls"].detach()))
        for name, weight in weights.items():
            if name in terms and weight > 0:
                sums.setdefault(f"{name} / cls, value", []).append(weight * float(terms[name].detach()) / float(terms["cls"].detach()))
                sums.setdefault(f"{name} / cls, gradient norm", []).append(
                    _grad_norm(weight * terms[name], params) / cls_norm)
    out = {k: float(np.mean(v)) for k, v in sums.items()}
    if dataset.masks is not None:
        model.eval()

        def selection_scores(images: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor | None:
            if hasattr(model, "set_batch_indices"):
                model.set_batch_indices(batch_index)
            return model.selection_scores(images) if options.group_size == 1 else None  # per patch only

        scorers = {"attention AUROC": class_token_attention(model.backbone, options.aggregation),
                   "selection scores AUROC": selection_scores}
        out.update(mask_aurocs(dataset, first_test_images(dataset, 512), tuple(model.backbone.grid), scorers))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    for run_dir in args.runs:
        values = term_gradients(run_dir, args.batches)
        print(run_dir + ": " + ", ".join(f"{k} {v:.3g}" for k, v in values.items()))


if __name__ == "__main__":
    main()
