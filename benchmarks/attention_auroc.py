"""How object-centred is a backbone's class-token attention? AUROC against the object masks of a synthetic dataset.

SVIP's patch classifier learns to imitate the class-token attention of its
backbone (Eq. 4-6); if that attention does not single out the object, learned
selection cannot either. This measures the attention itself, for the
pretrained tiny backbone of ``synthetic`` and for the same ViT untrained:

    python -m benchmarks.attention_auroc --dataset synthetic --images 1000

0.5 is chance; 1.0 ranks every object patch above every other patch.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np
import torch

from zslbench.data.masks import object_patches
from zslbench.evaluation.diagnostics import selection_auroc


ScoreFn = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | None"]


def first_test_images(dataset, images: int) -> np.ndarray:
    """The first ``images`` test images (test_seen, then test_unseen)."""
    return np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])[:images]


def fixed_loader(dataset, index: np.ndarray, batch_size: int, targets: np.ndarray | None = None,
                 generator: torch.Generator | None = None):
    """Batches (images, targets, dataset indices) of ``dataset`` images ``index`` under the ``synthetic-fixed``
    evaluation transform (no flips: the masks stay aligned); shuffled when a ``generator`` is given."""
    from torch.utils.data import DataLoader

    from zslbench.data.transforms import ImageDataset, build_transform

    transform = build_transform("synthetic-fixed", dataset.meta["image_size"], train=False)
    return DataLoader(ImageDataset(dataset, index, transform, targets), batch_size=batch_size,
                      shuffle=generator is not None, generator=generator)


def mask_aurocs(dataset, index: np.ndarray, grid: tuple[int, int], scorers: dict[str, ScoreFn],
                batch_size: int = 128) -> dict[str, float]:
    """AUROC against the object patches of each scorer's (B, P) patch scores over ``dataset`` images ``index``,
    in one pass; ``scorer(images, batch_index)`` may return None (no scores: left out)."""
    loader = fixed_loader(dataset, index, batch_size)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
    with torch.no_grad():
        for images, _, batch_index in loader:
            for name, scorer in scorers.items():
                batch = scorer(images, batch_index)
                if batch is not None:
                    scores[name].append(batch.float().numpy())
    truth = object_patches(dataset.masks[index], grid)
    return {name: selection_auroc(np.concatenate(rows), truth) for name, rows in scores.items() if rows}


def class_token_attention(backbone, aggregation: str) -> ScoreFn:
    """A scorer: the class-token row of ``backbone``'s aggregated attention over the patches."""
    return lambda images, _: backbone.forward_tokens(backbone.patch_embed(images), need_cls_attention=True,
                                                     aggregation=aggregation).cls_attention


def attention_auroc(dataset_name: str, pretrained: str, images: int, aggregation: str, init_seed: int = 0) -> float:
    """AUROC of the class-token attention of ``dataset_name``'s tiny ViT (``pretrained``: weights, or "none" for a
    random init drawn from ``init_seed``) against the object patches of its first ``images`` test images."""
    import zslbench
    from zslbench.models.backbones import create_backbone
    from zslbench.models.catalog import synthetic_backbone
    from zslbench.training.pretrain import ensure_pretrained

    dataset = zslbench.load_dataset(dataset_name)
    weights = str(ensure_pretrained(dataset_name, 0)) if pretrained == "synthetic-pretrained" else pretrained
    torch.manual_seed(init_seed)  # an untrained backbone's attention depends on its init
    backbone = create_backbone(synthetic_backbone(dataset_name, ""), weights, dataset.meta["image_size"]).eval()
    scorers = {"attention": class_token_attention(backbone, aggregation)}
    return mask_aurocs(dataset, first_test_images(dataset, images), tuple(backbone.grid), scorers)["attention"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    for aggregation in ("eq4", "rollout"):
        value = attention_auroc(args.dataset, "synthetic-pretrained", args.images, aggregation)
        print(f"{args.dataset}: class-token attention ({aggregation}) of the pretrained backbone, "
              f"AUROC vs object patches {value:.3f}")
        untrained = [attention_auroc(args.dataset, "none", args.images, aggregation, seed) for seed in (0, 1, 2)]
        print(f"{args.dataset}: class-token attention ({aggregation}) of the untrained backbone, init seeds 0-2: "
              + ", ".join(f"{v:.3f}" for v in untrained))

if __name__ == "__main__":
    main()
