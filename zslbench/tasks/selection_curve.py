"""The selection's learning curve: after every epoch of a run's final training, how well the method's patch
selection finds the objects, and how much the consistency term pulls against classification.

Stored in ``metrics["selection_curve"]``, one entry per epoch:
``{"epoch", "step", "selection_auroc", "consistency_over_classification_grad"}`` (a key is absent where the
method or dataset cannot give it). Both numbers are taken at epoch end on small batches fixed once per run,
so the training steps are untouched (no host-device sync inside the step loop) and every epoch is measured
on the same images:

* ``selection_auroc``: AUROC of ``model.selection_scores`` against the object patches of the first
  :data:`PROBE_IMAGES` images of each test split (held out from training; datasets with masks only);
* ``consistency_over_classification_grad``: the norm of the gradient of the weighted consistency term over
  that of the classification loss, over all trainable parameters, on the first :data:`GRADIENT_IMAGES`
  training images (methods whose ``loss_term_weights()`` name a ``consistency`` weight).

The random state is forked around the probe, so a run with the curve trains exactly as one without it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

#: Held-out images per test split for the selection AUROC.
PROBE_IMAGES = 64
#: Training images for the gradient ratio.
GRADIENT_IMAGES = 32

AUROC_KEY = "selection_auroc"
GRADIENT_KEY = "consistency_over_classification_grad"


def _first_items(dataset: Any, count: int):
    """(images, targets, dataset indices) of the first ``count`` items of an engine dataset."""
    import torch

    items = [dataset[i] for i in range(min(count, len(dataset)))]
    images = torch.stack([item[0] for item in items])
    targets = torch.as_tensor([int(item[1]) for item in items], dtype=torch.long)
    index = torch.as_tensor([int(item[2]) for item in items], dtype=torch.long)
    return images, targets, index


def _grad_norm(loss, params: Sequence) -> float:
    import torch

    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))


def consistency_gradient_ratio(model: Any, images, targets, index, class_attributes, weight: float) -> float:
    """||grad(weight * consistency)|| / ||grad(cls)|| over the trainable parameters, on one batch."""
    model.train()
    if hasattr(model, "set_batch_indices"):
        model.set_batch_indices(index)
    terms = model.training_losses(images, targets, class_attributes)
    params = [p for p in model.parameters() if p.requires_grad]
    if weight == 0 or "consistency" not in terms:
        return 0.0
    cls_norm = _grad_norm(terms["cls"], params)
    return _grad_norm(weight * terms["consistency"], params) / max(cls_norm, 1e-30)


def selection_auroc_on(model: Any, images, index, masks: np.ndarray) -> float | None:
    """AUROC of the model's selection scores against the object patches of ``masks[index]``; None without scores."""
    import torch

    from zslbench.data.masks import object_patches
    from zslbench.evaluation.diagnostics import selection_auroc

    model.eval()
    with torch.no_grad():
        if hasattr(model, "set_batch_indices"):
            model.set_batch_indices(index)
        scores = model.selection_scores(images)
    if scores is None:
        return None
    truth = object_patches(masks[index.cpu().numpy()], tuple(model.patch_grid))
    return selection_auroc(scores.float().cpu().numpy(), truth)


def curve_hook(model: Any, train_set: Any, test_sets: dict, class_attributes, masks: np.ndarray | None,
               steps_per_epoch: int, device: Any) -> Callable[[int], dict] | None:
    """An engine ``on_epoch_end`` that returns the epoch's curve entry (flat keys), or None when there is nothing
    to measure (no selection scores or no masks, and no consistency weight)."""
    import torch

    weights = model.loss_term_weights() if hasattr(model, "loss_term_weights") else {}
    scored = masks is not None and hasattr(model, "selection_scores") and hasattr(model, "patch_grid")
    weighted = "consistency" in weights
    if not (scored or weighted):
        return None
    probe = None
    if scored:
        parts = [_first_items(test_sets[split], PROBE_IMAGES) for split in ("test_unseen", "test_seen")]
        probe = (torch.cat([p[0] for p in parts]).to(device), torch.cat([p[2] for p in parts]).to(device))
    grad_batch = tuple(t.to(device) for t in _first_items(train_set, GRADIENT_IMAGES)) if weighted else None
    attrs = class_attributes.to(device)

    def on_epoch_end(epoch: int) -> dict:
        entry: dict = {"step": (epoch + 1) * steps_per_epoch}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if probe is not None:
                auroc = selection_auroc_on(model, probe[0], probe[1], masks)
                if auroc is not None:
                    entry[AUROC_KEY] = float(auroc)
            if grad_batch is not None:
                entry[GRADIENT_KEY] = consistency_gradient_ratio(model, *grad_batch, attrs, float(weights["consistency"]))
        model.train()
        return entry

    return on_epoch_end


def curve_from_history(history: Sequence[dict]) -> list[dict]:
    """``metrics["selection_curve"]`` from the engine's history entries (their ``extra``)."""
    out = []
    for entry in history:
        extra = entry.get("extra") or {}
        if "step" not in extra:
            continue
        point = {"epoch": int(entry["epoch"]) + 1, "step": int(extra["step"])}
        point.update({k: float(extra[k]) for k in (AUROC_KEY, GRADIENT_KEY) if k in extra})
        out.append(point)
    return out
