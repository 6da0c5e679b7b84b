"""``zslbench pretrain``: build (or find) the pretrained tiny backbone of a synthetic v3 or v2 dataset."""

from __future__ import annotations

import click


@click.command("pretrain")
@click.argument("dataset", default="synthetic")
@click.option("--data-seed", type=int, default=0, show_default=True,
              help="The benchmark's data.synthetic_seed (it decides which classes are unseen, hence excluded).")
def pretrain_command(dataset: str, data_seed: int) -> None:
    """Pretrain the tiny ViT of DATASET (default: synthetic) on its disjoint pretraining set, once; cached.

    Runs on DATASET use it by default (--pretrained synthetic-pretrained); this
    command only builds it ahead of time and prints where it is.
    """
    from zslbench.training.pretrain import checkpoint_path, ensure_pretrained, fingerprint, recipe_for

    recipe = recipe_for(dataset, data_seed)
    existed = checkpoint_path(recipe).exists()
    path = ensure_pretrained(dataset, data_seed)
    click.echo(f"{'found' if existed else 'built'} {recipe.backbone} for {dataset} (data seed {data_seed}), "
               f"fingerprint {fingerprint(recipe)}: {path}")
