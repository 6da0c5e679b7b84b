"""Tiny random CLIP / SigLIP / DINOv2-shaped models in the Hugging Face cache layout and as local files.

Nothing is downloaded: :func:`offline_hf_cache` points ``HF_HUB_CACHE`` / ``HF_HOME``
at a temporary folder with ``HF_HUB_OFFLINE=1``; :func:`put_in_hf_cache` writes a
repository snapshot there as ``huggingface_hub`` lays it out
(``models--org--name/refs/main`` + ``snapshots/<rev>/<file>``).
:func:`tiny_towers` shrinks the registered foundation backbones to width 32,
one block (timm constructor overrides), so the real code paths build them in
milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

#: An open_clip model configuration at small width: ViT-B/16's geometry (224 px, 16 px patches), width 32, 1 layer.
TINY_OPEN_CLIP = {
    "embed_dim": 16, "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}

#: timm overrides that make every registered foundation tower tiny (its patch size and image size kept).
TINY_TIMM_ARGS = (("embed_dim", 32), ("depth", 1), ("num_heads", 2))


def offline_hf_cache(tmp_path: Path, monkeypatch) -> Path:
    """An empty, offline Hugging Face cache for this test; returns the hub cache folder."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return hub


def put_in_hf_cache(hub: Path, repo_id: str, files: dict[str, bytes | Path], revision: str = "0" * 40) -> Path:
    """Write ``files`` (name -> bytes or a file to copy) as the snapshot ``revision`` of ``repo_id``; the snapshot folder."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for name, content in files.items():
        (snapshot / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return snapshot


def tiny_towers(monkeypatch) -> None:
    """Shrink every registered foundation backbone (timm side) to :data:`TINY_TIMM_ARGS`."""
    from zslbench.models import catalog

    for name, vit in list(catalog.PRETRAINED_VITS.items()):
        monkeypatch.setitem(catalog.PRETRAINED_VITS, name, dataclasses.replace(vit, model_args=TINY_TIMM_ARGS))


def tiny_open_clip(seed: int = 0):
    """A random open_clip CLIP of :data:`TINY_OPEN_CLIP`."""
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**TINY_OPEN_CLIP).eval()


def save_open_clip(model, folder: Path, weights_name: str = "open_clip_model.safetensors") -> Path:
    """Write ``model`` as open_clip's hub files into ``folder`` (config + weights); the weights file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_OPEN_CLIP, "preprocess_cfg": {}}))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = folder / weights_name
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def cache_open_clip(hub: Path, model, backbone: str = "clip-vit-b16-openai") -> Path:
    """Put ``model`` in the cache under the open_clip repository of registered ``backbone``; the weights file."""
    from zslbench.models.catalog import PRETRAINED_VITS

    staged = save_open_clip(model, hub.parent / "staging" / backbone)
    snapshot = put_in_hf_cache(hub, PRETRAINED_VITS[backbone].open_clip_hub_id,
                               {staged.name: staged, "open_clip_config.json": staged.with_name("open_clip_config.json")})
    return snapshot / staged.name


def cache_timm_tower(hub: Path, backbone: str, seed: int = 0, revision: str = "0" * 40) -> Path:
    """A tiny random timm tower of registered ``backbone`` in the cache (``model.safetensors`` of snapshot
    ``revision``, which becomes the current one); the file.

    Needs :func:`tiny_towers` first (the tower is built with the catalog's overrides).
    """
    from safetensors.torch import save_file

    from zslbench.models.backbones import create_backbone
    from zslbench.models.catalog import PRETRAINED_VITS

    torch.manual_seed(seed)
    adapter = create_backbone(backbone, "none")
    staged = hub.parent / "staging" / f"{backbone}-{seed}.safetensors"
    staged.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in adapter.vit.state_dict().items()}, str(staged))
    snapshot = put_in_hf_cache(hub, PRETRAINED_VITS[backbone].hf_hub_id, {"model.safetensors": staged},
                               revision=revision)
    return snapshot / "model.safetensors"
