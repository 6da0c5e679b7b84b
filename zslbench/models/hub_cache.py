"""Files in the local Hugging Face hub cache, found without the network and without torch.

Weights of the registered foundation backbones (timm's image towers, open_clip's
whole models) are read from this cache; the location follows the environment
at call time (``HF_HUB_CACHE``, else ``HF_HOME/hub``), so a test or a user can
point it elsewhere after ``huggingface_hub`` was imported.
"""

from __future__ import annotations

import os
from pathlib import Path


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, as set now; else huggingface_hub's default."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hf_cached_file(repo_id: str, filename: str) -> Path | None:
    """The cached file ``filename`` of Hugging Face repository ``repo_id``, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hf_cache_dir()))
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None

