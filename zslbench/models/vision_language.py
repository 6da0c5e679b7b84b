"""Whole CLIP-family models (image and text towers) through open_clip, for training-free methods.

:func:`load_clip` builds the open_clip model of a registered backbone that has a
text tower (``catalog.PRETRAINED_VITS[name].open_clip_name``) from, in order:

* ``pretrained`` None / ``"timm"``: the Hugging Face cache (``open_clip_config.json`` and
  ``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin`` of the backbone's open_clip
  repository); nothing is downloaded, a missing file is one line saying how to fetch it;
* a path: a folder holding those files, or one weights file (``.safetensors``, or ``.bin``/``.pt``/``.pth``
  read with ``torch.load(weights_only=True)``), whose architecture is the ``open_clip_config.json``
  beside it, else open_clip's built-in configuration of the backbone;
* ``"none"``: open_clip's built-in configuration with random weights (seeded).

:func:`text_embeddings` encodes texts with the text tower and caches them on
disk (safetensors, no pickle), keyed by the weights' digest, the model
configuration and the texts themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zslbench.errors import DataError, UsageError
from zslbench.models.catalog import PRETRAINED_NONE, PRETRAINED_TIMM, PRETRAINED_VITS, PretrainedViT
from zslbench.models.hub_cache import hf_cache_dir, hf_cached_file

#: The files of an open_clip model in its Hugging Face repository (weights: first found wins).
OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

#: Seed of the random weights of ``--pretrained none`` (one fixed model, so its text cache is reusable).
RANDOM_INIT_SEED = 0


@dataclass
class ClipModel:
    """An open_clip model with what a method needs to use it.

    ``weights_digest`` identifies the weights (a content sample of the file, or
    the configuration and seed of a random initialisation); ``source`` says
    where they came from (shown in results).
    """

    model: Any  # open_clip CLIP / CustomTextCLIP (a torch.nn.Module)
    tokenizer: Callable[[list[str]], Any]
    model_config: dict
    weights_digest: str
    source: str
    tower: PretrainedViT


def clip_tower(backbone: str | None) -> PretrainedViT:
    """The registered backbone ``backbone`` if it has a text tower; a UsageError naming the ones that do otherwise."""
    with_text = [name for name, vit in PRETRAINED_VITS.items() if vit.open_clip_name]
    vit = PRETRAINED_VITS.get(backbone or "")
    if vit is None or not vit.open_clip_name:
        raise UsageError(f"backbone {backbone!r} has no text tower", f"choose one of {', '.join(with_text)}")
    return vit


def _open_clip():
    try:
        import open_clip
    except ImportError:
        raise UsageError("the CLIP text tower needs the open_clip_torch package",
                         "pip install 'zslbench[clip]'") from None
    return open_clip


def _weights_files(backbone: str, vit: PretrainedViT, pretrained: str | None) -> tuple[Path | None, Path | None, str]:
    """(config file or None, weights file or None, where they came from) for ``pretrained``."""
    if pretrained in (None, "", PRETRAINED_TIMM):
        hub = str(vit.open_clip_hub_id)
        weights = next((p for p in (hf_cached_file(hub, f) for f in OPEN_CLIP_WEIGHTS) if p is not None), None)
        if weights is None:
            raise DataError(
                f"open_clip weights of {backbone!r} ({hub}) are not in the Hugging Face cache {hf_cache_dir()}",
                f"fetch them with `huggingface-cli download {hub} {OPEN_CLIP_CONFIG} {OPEN_CLIP_WEIGHTS[0]}` "
                "(then copy the cache or set HF_HOME), or pass --pretrained PATH, or --pretrained none for random weights")
        return hf_cached_file(hub, OPEN_CLIP_CONFIG), weights, f"hf-hub:{hub}"
    if pretrained == PRETRAINED_NONE:
        return None, None, PRETRAINED_NONE
    path = Path(pretrained).expanduser()
    if path.is_dir():
        weights = next((path / f for f in OPEN_CLIP_WEIGHTS if (path / f).is_file()), None)
        if weights is None:
            raise DataError(f"no open_clip weights in {path} for {backbone!r}",
                            f"the folder needs one of {', '.join(OPEN_CLIP_WEIGHTS)} (and {OPEN_CLIP_CONFIG})")
        config = path / OPEN_CLIP_CONFIG
        return (config if config.is_file() else None), weights, str(path)
    if not path.is_file():
        raise DataError(f"checkpoint not found for {backbone!r}: {path}",
                        "pass --pretrained PATH to an open_clip .safetensors/.bin file or folder, or 'none'")
    config = path.with_name(OPEN_CLIP_CONFIG)
    return (config if config.is_file() else None), path, str(path)


def _model_config(open_clip: Any, vit: PretrainedViT, config_file: Path | None) -> dict:
    if config_file is None:
        config = open_clip.get_model_config(vit.open_clip_name)
        if config is None:  # pragma: no cover - the catalog names open_clip's built-in configurations
            raise UsageError(f"open_clip has no configuration {vit.open_clip_name!r}", "upgrade open_clip_torch")
        return config
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))["model_cfg"]
        if not isinstance(config, dict):
            raise TypeError("model_cfg is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the open_clip configuration {config_file}: {type(exc).__name__}: {exc}") from None
    return config


def _file_digest(path: Path) -> str:
    from zslbench.features.fingerprints import file_sample_digest

    return file_sample_digest(path)


def load_clip(backbone: str, pretrained: str | None = None) -> ClipModel:
    """The open_clip model of registered backbone ``backbone`` (see the module docstring for ``pretrained``)."""
    import torch

    vit = clip_tower(backbone)
    open_clip = _open_clip()
    config_file, weights, source = _weights_files(backbone, vit, pretrained)
    config = _model_config(open_clip, vit, config_file)
    from open_clip.model import CLIP, CustomTextCLIP, convert_to_custom_text_state_dict

    build_cfg = dict(config)
    custom_text = bool(build_cfg.pop("custom_text", False)) or "hf_model_name" in build_cfg.get("text_cfg", {})
    if "hf_model_name" in build_cfg.get("text_cfg", {}) or "timm_model_name" in build_cfg.get("vision_cfg", {}):
        # towers built by other libraries must not fetch their own weights
        build_cfg["text_cfg"] = {**build_cfg["text_cfg"], "hf_model_pretrained": False}
        build_cfg["vision_cfg"] = {**build_cfg["vision_cfg"], "timm_model_pretrained": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        try:
            model = (CustomTextCLIP if custom_text else CLIP)(**build_cfg)
        except (TypeError, ValueError, OSError, ImportError) as exc:
            raise DataError(f"cannot build the open_clip model of {backbone!r} from its configuration: {exc}") from None
    if weights is not None:
        from zslbench.models.backbones import read_checkpoint

        state = read_checkpoint(weights)
        if custom_text:
            state = convert_to_custom_text_state_dict(state)
        try:
            result = model.load_state_dict(state, strict=False)
            problems = [f"missing {k}" for k in result.missing_keys] + [f"unexpected {k}" for k in result.unexpected_keys]
        except RuntimeError as exc:  # shape mismatches: torch's message, first line
            problems = [str(exc).strip().splitlines()[-1].strip()]
        if problems:
            raise DataError(f"weights {weights} do not fit the open_clip model of {backbone!r}: "
                            + "; ".join(problems[:3]) + (f"; ... ({len(problems)} problems)" if len(problems) > 3 else ""),
                            f"the file must be an open_clip checkpoint of {vit.open_clip_name} (config: {config_file})")
        digest = _file_digest(weights)
    else:
        digest = "random:" + hashlib.sha256(json.dumps([config, RANDOM_INIT_SEED], sort_keys=True).encode()).hexdigest()
    model.eval()
    return ClipModel(model, _tokenizer(open_clip, config), config, digest, source, vit)


def _tokenizer(open_clip: Any, config: dict) -> Callable[[list[str]], Any]:
    text_cfg = config.get("text_cfg", {})
    context_length = int(text_cfg.get("context_length", 77))
    if "hf_tokenizer_name" in text_cfg:  # SigLIP: a Hugging Face tokenizer (transformers, from the HF cache)
        import importlib.util

        if importlib.util.find_spec("transformers") is None:  # open_clip's HFTokenizer imports it
            raise UsageError(f"the text tower of this model uses the Hugging Face tokenizer "
                             f"{text_cfg['hf_tokenizer_name']!r}, which needs the transformers package",
                             "pip install transformers (and fetch the tokenizer into the HF cache), "
                             "or use a CLIP backbone")
        from open_clip.tokenizer import HFTokenizer

        return HFTokenizer(text_cfg["hf_tokenizer_name"], context_length=context_length,
                           **text_cfg.get("tokenizer_kwargs", {}))
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length)


def text_embeddings(clip: ClipModel, texts: list[str], batch_size: int = 256, cache: bool = True) -> Any:
    """The text tower's embeddings (T, D) of ``texts``, unnormalised, in the model's dtype.

    Cached on disk under ``<cache>/text-embeddings`` (safetensors), keyed by the
    weights' digest, the model configuration, the dtype and the texts.
    """
    import torch

    dtype = next(clip.model.parameters()).dtype
    key = hashlib.sha256(json.dumps({"weights": clip.weights_digest, "config": clip.model_config,
                                     "dtype": str(dtype), "texts": texts}, sort_keys=True).encode()).hexdigest()
    path = None
    if cache:
        from zslbench.paths import cache_dir

        path = cache_dir("text-embeddings") / f"{key[:32]}.safetensors"
        found = _read_cached(path, len(texts), key)
        if found is not None:
            return found.to(dtype)
    device = next(clip.model.parameters()).device
    parts = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            tokens = clip.tokenizer(texts[start:start + batch_size]).to(device)
            parts.append(clip.model.encode_text(tokens).detach().cpu())
    embeddings = torch.cat(parts) if parts else torch.zeros(0, int(clip.model_config["embed_dim"]), dtype=dtype)
    if path is not None:
        from safetensors.torch import save_file

        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # one writer's own file, renamed into place
        save_file({"embeddings": embeddings.contiguous()}, str(tmp), metadata={"key": key})
        tmp.replace(path)
    return embeddings


def _read_cached(path: Path, rows: int, key: str) -> Any:
    """The cached embeddings at ``path`` if the file is whole and made for ``key``; else None (then recomputed)."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            if (fh.metadata() or {}).get("key") != key:
                return None
            embeddings = fh.get_tensor("embeddings")
    except Exception:  # a damaged cache file is recomputed, never trusted
        return None
    return embeddings if embeddings.ndim == 2 and embeddings.shape[0] == rows else None
