"""How object-centred is a backbone's class-token attention? AUROC against the object masks of a synthetic dataset.

SVIP's patch classifier learns to imitate the class-token attention of its
backbone (Eq. 4-6); if that attention does not single out the object, learned
selection cannot either. This measures the attention itself, for the
pretrained tiny backbone of ``synthetic`` and for the same ViT untrained:

    python benchmarks/attention_auroc.py --dataset synthetic --images 1000

0.5 is chance; 1.0 ranks every object patch above every other patch.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from zslbench.data.masks import object_patches
from zslbench.evaluation.diagnostics import selection_auroc


def attention_auroc(dataset_name: str, pretrained: str, images: int, aggregation: str) -> float:
    from torch.utils.data import DataLoader

    import zslbench
    from zslbench.data.transforms import ImageDataset, build_transform
    from zslbench.models.backbones import create_backbone
    from zslbench.models.catalog import synthetic_backbone
    from zslbench.training.pretrain import ensure_pretrained

    dataset = zslbench.load_dataset(dataset_name)
    weights = str(ensure_pretrained(dataset_name, 0)) if pretrained == "synthetic-pretrained" else pretrained
    size = dataset.meta["image_size"]
    backbone = create_backbone(synthetic_backbone(dataset_name, ""), weights, size).eval()
    index = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])[:images]
    loader = DataLoader(ImageDataset(dataset, index, build_transform("synthetic-fixed", size, train=False)),
                        batch_size=128)
    with torch.no_grad():
        rows = [backbone.forward_tokens(backbone.patch_embed(batch), need_cls_attention=True,
                                        aggregation=aggregation).cls_attention for batch, _, _ in loader]
    truth = object_patches(dataset.masks[index], tuple(backbone.grid))
    return selection_auroc(torch.cat(rows).numpy(), truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    for aggregation in ("eq4", "rollout"):
        for pretrained in ("synthetic-pretrained", "none"):
            value = attention_auroc(args.dataset, pretrained, args.images, aggregation)
            print(f"{args.dataset}: class-token attention ({aggregation}) of the {pretrained} backbone, "
                  f"AUROC vs object patches {value:.3f}")


if __name__ == "__main__":
    main()
