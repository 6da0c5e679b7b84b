"""``zslbench cache``: build, list and remove feature cache entries (see :mod:`zslbench.features`)."""

from __future__ import annotations

import contextlib
import inspect
from typing import Iterator

import click

from zslbench.errors import UsageError, ZSLBenchError


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """zslbench errors become one-line click errors (usage errors exit 2, the rest 1)."""
    try:
        yield
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except ZSLBenchError as exc:
        raise click.ClickException(str(exc)) from None


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB"


@click.group("cache")
def cache() -> None:
    """Manage the feature cache (frozen backbone features of a dataset)."""


@cache.command("build")
@click.option("--dataset", "dataset_name", required=True, help="Dataset name (see `zslbench list datasets`).")
@click.option("--backbone", "backbone_name", required=True,
              help="Backbone name, or resnet101-xlsa17 to import the published res101 features.")
@click.option("--pretrained", default=None, help='Weights: "timm", "none" or a checkpoint path (default: the backbone\'s).')
@click.option("--dtype", type=click.Choice(["float16", "float32"]), default=None,
              help="Storage precision (default float16; float32 for resnet101-xlsa17).")
@click.option("--patches", is_flag=True, help="Also store the patch tokens (grouped 2x2).")
@click.option("--root", "--data-root", "root", default=None, help="Dataset root (default $ZSLBENCH_DATA/<dataset>).")
@click.option("--image-size", type=int, default=None, help="Input size (default: the dataset's).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per encoded chunk.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--image-embeddings", is_flag=True,
              help="Store the CLIP model's projected image embeddings (what clip-zeroshot scores on roots without "
                   "images) instead of the tower's class tokens.")
def build_command(dataset_name: str, backbone_name: str, pretrained: str | None, dtype: str | None, patches: bool,
                  root: str | None, image_size: int | None, batch_size: int, device: str,
                  image_embeddings: bool) -> None:
    """Encode a dataset once and store its features (resumes an interrupted build)."""
    from zslbench import registry
    from zslbench.config import DataConfig
    from zslbench.features import RES101_BACKBONE, FeatureCache, ensure_features
    from zslbench.plugins import ensure_loaded

    with _user_errors():
        if batch_size < 1:
            raise UsageError(f"--batch-size must be positive, got {batch_size}")
        if image_embeddings and (patches or dtype == "float16" or image_size is not None):
            raise UsageError("--image-embeddings stores float32 embeddings at the model's own image size",
                             "drop --patches, --dtype and --image-size")
        ensure_loaded()
        spec = registry.datasets.get(dataset_name)
        data_cfg = DataConfig(root=root, image_size=image_size or spec.default_image_size)
        loader_kwargs = {"require_images": False} if backbone_name == RES101_BACKBONE else {}
        dataset = _load_dataset(spec, data_cfg, loader_kwargs)
        cache = FeatureCache()
        if image_embeddings:
            entry = _build_image_embeddings(dataset, backbone_name, pretrained, cache, device, batch_size,
                                            data_cfg.num_workers)
            click.echo(f"{entry.path} ({_megabytes(entry.path.stat().st_size)}; "
                       + ", ".join(f"{name} {n}" for name, n in entry.split_sizes.items()) + ")")
            return

        def ensure():
            return ensure_features(dataset, backbone_name, data_cfg, pretrained, device, with_patches=patches,
                                   dtype=dtype, batch_size=batch_size, cache=cache)

        entry = ensure()
        problem = cache.verify_file(entry.path)  # an existing entry is only "complete" once every array checks out
        if problem is not None:
            click.echo(f"Warning: {entry.path} is corrupt ({problem}); rebuilding it", err=True)
            cache.rm(entry.fingerprint)
            entry = ensure()
        sizes = ", ".join(f"{name} {n}" for name, n in entry.split_sizes.items())
        click.echo(f"{entry.path} ({_megabytes(entry.path.stat().st_size)}; {sizes})")


def _build_image_embeddings(dataset, backbone_name: str, pretrained: str | None, cache, device: str,
                            batch_size: int, num_workers: int):
    """The entry of the CLIP model's image embeddings of ``dataset`` (see :mod:`zslbench.models.clip_image_cache`)."""
    from zslbench.features.extract import _resolve_device, _rich_progress
    from zslbench.models.backbones import expected_mean_std
    from zslbench.models.clip_image_cache import ImageEmbeddingRequest, ensure_image_embeddings
    from zslbench.models.vision_language import load_clip

    clip = load_clip(backbone_name, pretrained)
    request = ImageEmbeddingRequest(dataset, backbone_name, clip, clip.tower.image_size, expected_mean_std(backbone_name))
    bar, update = _rich_progress(f"image embeddings {dataset.name}/{backbone_name}")
    with bar:
        return ensure_image_embeddings(request, cache, _resolve_device(device), batch_size, num_workers, update)


def _load_dataset(spec, data_cfg, loader_kwargs: dict):
    """Load through the registry; a loader that accepts ``require_images`` may skip the image check."""
    try:
        accepted = inspect.signature(spec.load).parameters
    except (TypeError, ValueError):  # builtins or callables without a signature
        accepted = {}
    return spec.load(data_cfg, **{k: v for k, v in loader_kwargs.items() if k in accepted})


@cache.command("ls")
@click.option("--verify", is_flag=True, help="Read and check every array of every entry (status 'corrupt' if not).")
def ls_command(verify: bool) -> None:
    """List the cache entries, newest first, with where their weights came from."""
    from zslbench.features import FeatureCache, weights_provenance

    with _user_errors():
        cache = FeatureCache()
        entries = cache.ls(verify=verify)
    if not entries:
        click.echo("the feature cache is empty")
        return
    click.echo(f"{'fingerprint':<13} {'dataset':<16} {'backbone':<20} {'weights':<24} {'reproducible':<12} "
               f"{'dtype':<8} {'patches':<8} {'images':>7} {'size':>9}  {'status':<9} created")
    for e in entries:
        parts = e.parts
        images = sum(e.split_sizes.values())
        origin = weights_provenance(cache, parts) if parts else None
        reproducible = "?" if origin is None or origin.reproducible is None else ("yes" if origin.reproducible else "no")
        click.echo(f"{e.fingerprint[:12] or '-':<13} {parts.get('dataset', '?'):<16} {parts.get('backbone', '?'):<20} "
                   f"{origin.source if origin else '?':<24} {reproducible:<12} "
                   f"{parts.get('dtype', '?'):<8} {str(parts.get('with_patches', '?')).lower():<8} {images:>7} "
                   f"{_megabytes(e.size_bytes):>9}  {e.status:<9} {e.created or '-'}")
    if any(weights_provenance(cache, e.parts).reproducible is False for e in entries if e.parts):
        click.echo("reproducible no: the weights differ at every construction, so a run cannot reuse that entry")


@cache.command("verify")
def verify_command() -> None:
    """Check every array of every complete entry against its checksums; exit 1 if one is corrupt.

    A corrupt entry is rebuilt by the next `zslbench cache build` or run that needs it.
    """
    from zslbench.features import FeatureCache

    with _user_errors():
        entries = FeatureCache().ls(verify=True)
    corrupt = [e for e in entries if e.status == "corrupt"]
    for e in entries:
        detail = f": {e.problem}" if e.problem else ""
        click.echo(f"{e.fingerprint[:12] or '-':<13} {e.status:<10} {e.path.name}{detail}")
    if corrupt:
        raise click.ClickException(f"{len(corrupt)} of {len(entries)} feature cache entries are corrupt "
                                   "(hint: the next `zslbench cache build` or run rebuilds them)")
    click.echo(f"{len(entries)} entries checked, none corrupt")


@cache.command("rm")
@click.argument("fingerprint_prefix", required=False)
@click.option("--all", "all_entries", is_flag=True, help="Remove every entry.")
def rm_command(fingerprint_prefix: str | None, all_entries: bool) -> None:
    """Remove the entry whose fingerprint starts with FINGERPRINT_PREFIX, or --all."""
    from zslbench.features import FeatureCache

    with _user_errors():
        if all_entries and fingerprint_prefix:
            raise UsageError("give a fingerprint prefix or --all, not both")
        removed = FeatureCache().rm(fingerprint_prefix, all_entries=all_entries)
    for path in removed:
        click.echo(f"removed {path}")
    if not removed:
        click.echo("nothing to remove")
