"""Vision Transformer backbones behind one method-agnostic adapter.

Every image method that works on patch tokens (SVIP, the ViT attribute-head
baseline, the feature cache) talks to a :class:`ViTAdapter`, which wraps a timm
``VisionTransformer`` and exposes the steps such methods need separately:

* :meth:`ViTAdapter.patch_embed` - patch embeddings *before* position embeddings
  (the ``v_i`` of SVIP's Eq. 1, where semantic fill vectors are added);
* :meth:`ViTAdapter.forward_tokens` - position embeddings, class token, blocks
  and final norm from (possibly modified) patch embeddings, optionally on a
  subset of the patches, and optionally with the class-token row of an
  aggregated attention map (SVIP's Eq. 4, or attention rollout);
* :meth:`ViTAdapter.group_patches` - 2x2 neighbouring tokens concatenated
  (196 -> 49 groups of 3072-d for ViT-B/16 at 224 px).

Attention aggregation never keeps the per-layer attention maps alive: the
output tokens go through the fused ``F.scaled_dot_product_attention`` path (with
gradients), while the attention probabilities are formed one layer at a time
under ``torch.no_grad()`` from the same queries and keys and immediately reduced
to the one row the recursion carries.

Backbones are any timm ViT with a class token (by name, or ``timm:<name>``),
plus small from-scratch configurations for the synthetic datasets. Weights:
``"none"`` (random init), ``"timm"`` (timm's pretrained weights, read from the
local Hugging Face / torch hub cache only; an error says how to get them) or a
path to a ``.safetensors`` / ``.pth`` / ``.pt`` checkpoint (shapes checked).

This module is longer than 500 lines because the adapter and its construction belong together:
:func:`create_backbone` builds exactly the :class:`ViTAdapter` configurations defined here (synthetic
sizes, timm names, checkpoint layouts), and the token grouping and attention aggregation are the
adapter's own steps.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models import catalog
from zslbench.models.catalog import (AGGREGATIONS, PRETRAINED_NONE, PRETRAINED_TIMM, PRETRAINED_VITS,  # noqa: F401
                                     REGISTERED_TIMM_VITS, SYNTHETIC_VIT_CONFIGS, ViTConfig, backbone_names)
from zslbench.errors import DataError, UsageError
from zslbench.models.hub_cache import hf_cache_dir, hf_cached_file
from zslbench.models.precision import full_precision


@dataclass
class TokenOutput:
    """Output of :meth:`ViTAdapter.forward_tokens`.

    ``patches`` holds the output tokens of the patches that went in, in the order
    they went in; ``cls_attention`` (when requested) is the class-token row of
    the aggregated attention restricted to those patches, normalised so that the
    full row (prefix tokens included) sums to 1, without gradient.
    """

    cls: torch.Tensor  # (B, D)
    patches: torch.Tensor  # (B, N', D)
    cls_attention: torch.Tensor | None = None  # (B, N')


# --------------------------------------------------------------------------- grouping


def group_index(grid: tuple[int, int], group: int = 2) -> torch.Tensor:
    """Patch indices of each ``group x group`` block of a row-major patch grid.

    Returns a (G, group*group) long tensor: row ``j`` lists the patches of group
    ``j`` (groups in row-major order over the coarser grid; patches inside a
    group in row-major order). Concatenating the tokens of a row gives the
    grouped token of :func:`group_patches`.
    """
    rows, cols = grid
    if group < 1 or rows % group or cols % group:
        raise UsageError(
            f"a {rows}x{cols} patch grid cannot be grouped {group}x{group}",
            "choose a group size that divides the patch grid (e.g. group_size=1 or an image size that fits)",
        )
    patch_ids = torch.arange(rows * cols).reshape(rows // group, group, cols // group, group)
    return patch_ids.permute(0, 2, 1, 3).reshape(-1, group * group)


def group_patches(tokens: torch.Tensor, grid: tuple[int, int], group: int = 2) -> torch.Tensor:
    """Concatenate ``group x group`` neighbouring tokens: (B, N, D) -> (B, N/g^2, g^2 D)."""
    b, n, d = tokens.shape
    rows, cols = grid
    if n != rows * cols:
        raise UsageError(f"{n} tokens do not fill a {rows}x{cols} patch grid")
    group_index(grid, group)  # validates divisibility
    g = group
    x = tokens.reshape(b, rows // g, g, cols // g, g, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (rows // g) * (cols // g), g * g * d)


def ungroup_patches(grouped: torch.Tensor, grid: tuple[int, int], group: int = 2) -> torch.Tensor:
    """Inverse of :func:`group_patches`: (B, N/g^2, g^2 D) -> (B, N, D)."""
    b, _, gd = grouped.shape
    rows, cols = grid
    g = group
    d = gd // (g * g)
    x = grouped.reshape(b, rows // g, cols // g, g, g, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, rows * cols, d)


# --------------------------------------------------------------------------- attention aggregation


class AttentionAggregator:
    """The class-token row of an attention aggregation, carried layer by layer.

    ``eq4`` (SVIP, Eq. 4): ``W^1 = T^1``, ``W^l = W^{l-1} + W^{l-1} T^l`` with
    ``T^l`` the head-summed attention of block ``l``; only row 0 is needed, so
    the state is the row ``w`` (B, N) and each layer costs a vector-matrix
    product. The row is renormalised to sum 1 after each layer (the recursion is
    linear in ``w``, so this only rescales; it keeps 12 layers of 12 heads from
    growing like 13^12).

    ``rollout`` (Abnar & Zuidema, 2020): ``A^l = rownorm(mean_heads(attn^l) + I)``,
    ``R = A^L ... A^1``; this product runs from the last layer, so the state is
    the full (B, N, N) product so far (one matrix, not one per layer).

    ``update`` takes attention probabilities (B, H, N, N) and must be called
    inside ``torch.no_grad()``; computations run in float32 (float64 stays float64).
    """

    def __init__(self, method: str = "eq4"):
        if method not in AGGREGATIONS:
            raise UsageError(f"unknown attention aggregation {method!r}", f"choose one of {', '.join(AGGREGATIONS)}")
        self.method = method
        self._state: torch.Tensor | None = None

    def update(self, attention: torch.Tensor) -> None:
        """Fold in one block's attention probabilities (B, H, N, N)."""
        attention = full_precision(attention)
        if self.method == "eq4":
            if self._state is None:
                row = attention[:, :, 0, :].sum(1)  # W^1 = T^1, row 0
            else:
                row = self._state + torch.einsum("bn,bhnm->bm", self._state, attention)
            self._state = row / row.sum(-1, keepdim=True)
        else:
            n = attention.shape[-1]
            step = attention.mean(1) + torch.eye(n, device=attention.device, dtype=attention.dtype)
            step = step / step.sum(-1, keepdim=True)
            self._state = step if self._state is None else step @ self._state

    @property
    def cls_row(self) -> torch.Tensor:
        """Row 0 of the aggregation (B, N), summing to 1."""
        if self._state is None:
            raise RuntimeError("no attention was aggregated")
        if self.method == "eq4":
            return self._state
        row = self._state[:, 0, :]
        return row / row.sum(-1, keepdim=True)


def attention_probabilities(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale) in at least float32, (B, H, N, N); for no-grad inspection only."""
    with _autocast_disabled(q.device.type):
        logits = (full_precision(q) * scale) @ full_precision(k).transpose(-2, -1)
        return logits.softmax(dim=-1)


@contextlib.contextmanager
def _autocast_disabled(device_type: str) -> Iterator[None]:
    try:
        ctx = torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device type without autocast support
        ctx = contextlib.nullcontext()
    with ctx:
        yield


# --------------------------------------------------------------------------- the adapter


class ViTAdapter(nn.Module):
    """A timm ``VisionTransformer`` seen as patch embedding + token encoder.

    ``vit`` must have a class token and fixed image size (no ``dynamic_img_size``).
    ``name`` and ``pretrained`` record what was built (shown in results).
    """

    def __init__(self, vit: nn.Module, name: str = "vit", pretrained: str = PRETRAINED_NONE):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        has_cls = getattr(vit, "cls_token", None) is not None
        extra_prefix = int(getattr(vit, "num_prefix_tokens", 1)) - int(has_cls) - int(getattr(vit, "num_reg_tokens", 0) or 0)
        if not isinstance(vit, VisionTransformer) or extra_prefix:
            raise UsageError(f"backbone {name!r} ({type(vit).__name__}) is not a plain timm VisionTransformer",
                             "use a timm ViT/DeiT with a class token (distilled and non-ViT models are not supported)")
        if getattr(vit, "cls_token", None) is None and getattr(vit, "global_pool", "") not in ("map", "avg"):
            raise UsageError(f"backbone {name!r} has no class token", "use a ViT with class_token=True")
        if getattr(vit, "dynamic_img_size", False):
            raise UsageError(f"backbone {name!r} uses dynamic image size, which the adapter does not support")
        self.vit = vit
        self.name = name
        self.pretrained = pretrained
        # SigLIP-style towers pool their tokens (attention pooling) instead of reading a class token
        self.has_class_token = getattr(vit, "cls_token", None) is not None

    # ---- geometry
    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (rows, cols)."""
        rows, cols = self.vit.patch_embed.grid_size
        return int(rows), int(cols)

    @property
    def num_patches(self) -> int:
        rows, cols = self.grid
        return rows * cols

    @property
    def dim(self) -> int:
        """Token width D."""
        return int(self.vit.embed_dim)

    @property
    def image_size(self) -> int:
        size = self.vit.patch_embed.img_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def num_prefix_tokens(self) -> int:
        """Class token plus register tokens, in front of the patch tokens."""
        return int(self.vit.num_prefix_tokens)

    @property
    def input_mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Normalisation the weights expect (timm's pretrained config; 0.5/0.5 for from-scratch models)."""
        cfg = getattr(self.vit, "pretrained_cfg", None) or {}
        return tuple(cfg.get("mean", (0.5, 0.5, 0.5))), tuple(cfg.get("std", (0.5, 0.5, 0.5)))

    # ---- forward pieces
    def patch_embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch embeddings (B, N, D) of normalised images (B, 3, S, S), before position embeddings."""
        x = self.vit.patch_embed(images)
        if x.ndim == 4:  # NHWC output format
            x = x.flatten(1, 2)
        return x

    def _position_embeddings(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(prefix position embeddings (1, P, D) or None, patch position embeddings (1, N, D) or None)."""
        pos = self.vit.pos_embed
        if pos is None:
            return None, None
        if self.vit.no_embed_class:
            return None, pos
        p = self.num_prefix_tokens
        return pos[:, :p], pos[:, p:]

    def _prefix_tokens(self, batch: int, prefix_pos: torch.Tensor | None) -> torch.Tensor | None:
        parts = [self.vit.cls_token.expand(batch, -1, -1)] if self.has_class_token else []
        if getattr(self.vit, "reg_token", None) is not None:
            parts.append(self.vit.reg_token.expand(batch, -1, -1))
        if not parts:
            return None
        prefix = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return prefix + prefix_pos if prefix_pos is not None else prefix

    def forward_tokens(
        self,
        patch_embeddings: torch.Tensor,
        keep_index: torch.Tensor | None = None,
        need_cls_attention: bool = False,
        aggregation: str = "eq4",
        attention_batch: int | None = None,
    ) -> TokenOutput:
        """Run position embeddings, class token, blocks and final norm.

        ``patch_embeddings`` (B, N, D) as from :meth:`patch_embed` (possibly
        modified). ``keep_index`` (B, M) long selects the patches that enter the
        sequence (each keeps its own position embedding); the others are removed.
        With ``need_cls_attention`` the class-token row of the aggregated
        attention (``aggregation``: ``"eq4"`` or ``"rollout"``) is returned too,
        computed without gradient while the tokens keep theirs; ``attention_batch``
        restricts it to the first images of the batch (the row then has that many rows).
        """
        b, n, d = patch_embeddings.shape
        if n != self.num_patches:
            raise UsageError(f"expected {self.num_patches} patch embeddings, got {n}")
        if need_cls_attention and not self.has_class_token:
            raise UsageError(f"backbone {self.name!r} has no class token (it pools patch tokens), so there is no "
                             "class-token attention to select patches with",
                             "use a CLIP or DINOv2 backbone, or a method that needs no attention selection")
        prefix_pos, patch_pos = self._position_embeddings()
        x = patch_embeddings
        if patch_pos is not None:
            x = x + patch_pos
        if keep_index is not None:
            x = x.gather(1, keep_index.unsqueeze(-1).expand(-1, -1, d))
        prefix = self._prefix_tokens(b, prefix_pos)
        if prefix is not None:
            x = torch.cat([prefix, x], dim=1)
        x = self.vit.pos_drop(x)
        x = self.vit.norm_pre(x)
        row = None
        if need_cls_attention:
            aggregator = AttentionAggregator(aggregation)
            for block in self.vit.blocks:
                x = self._block_with_attention(block, x, aggregator, attention_batch)
            row = aggregator.cls_row[:, self.num_prefix_tokens:]
        else:
            x = self.vit.blocks(x)
        x = self.vit.norm(x)
        p = self.num_prefix_tokens
        if not self.has_class_token:  # the tower's own pooling (SigLIP: attention pooling) stands for the class token
            pooled = self.vit.forward_head(x, pre_logits=True)
            return TokenOutput(cls=pooled, patches=x[:, p:], cls_attention=row)
        return TokenOutput(cls=x[:, 0], patches=x[:, p:], cls_attention=row)

    def _block_with_attention(self, block: nn.Module, x: torch.Tensor, aggregator: AttentionAggregator,
                              attention_batch: int | None = None) -> torch.Tensor:
        """One pre-norm timm block, fused attention for the output, attention probabilities aside (no grad)."""
        attn = getattr(block, "attn", None)
        needed = ("norm1", "ls1", "drop_path1", "norm2", "mlp", "ls2", "drop_path2")
        if attn is None or not hasattr(attn, "qkv") or not all(hasattr(block, a) for a in needed):
            raise UsageError(
                f"backbone {self.name!r}: block type {type(block).__name__} does not expose its attention",
                "attention aggregation needs timm's standard ViT Block/Attention",
            )
        h = block.norm1(x)
        b, n, _ = h.shape
        heads, head_dim = attn.num_heads, attn.head_dim
        gate = attn.gate(h).sigmoid() if getattr(attn, "gate", None) is not None else None
        q, k, v = attn.qkv(h).reshape(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        with torch.no_grad():
            rows = slice(0, attention_batch)
            aggregator.update(attention_probabilities(q[rows].detach(), k[rows].detach(), attn.scale))
        drop = attn.attn_drop.p if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        o = attn.norm(o.transpose(1, 2).reshape(b, n, heads * head_dim))
        if gate is not None:
            o = o * gate
        o = attn.proj_drop(attn.proj(o))
        x = x + block.drop_path1(block.ls1(o))
        return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class token (B, D) and patch tokens (B, N, D) of normalised images."""
        out = self.forward_tokens(self.patch_embed(images))
        return out.cls, out.patches

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The class token (B, D), so the adapter also works as a plain feature extractor."""
        return self.encode(images)[0]

    # ---- grouping
    def group_index(self, group: int = 2) -> torch.Tensor:
        """(G, group^2) patch indices of each group of this backbone's grid."""
        return group_index(self.grid, group)

    def group_patches(self, tokens: torch.Tensor, group: int = 2) -> torch.Tensor:
        """(B, N, D) -> (B, N/group^2, group^2 D), neighbours concatenated as in SVIP."""
        return group_patches(tokens, self.grid, group)

    def ungroup_patches(self, grouped: torch.Tensor, group: int = 2) -> torch.Tensor:
        """Inverse of :meth:`group_patches`."""
        return ungroup_patches(grouped, self.grid, group)


# --------------------------------------------------------------------------- construction


def _timm():
    import timm

    return timm


def resolve_timm_name(name: str) -> str | None:
    """The timm model name behind ``name``, or None for a synthetic configuration; unknown names raise."""
    if name in SYNTHETIC_VIT_CONFIGS:
        return None
    if name in PRETRAINED_VITS:
        return PRETRAINED_VITS[name].timm_name
    if name.startswith("timm:"):
        timm_name = name[len("timm:"):]
        if not _timm().is_model(timm_name):
            raise UsageError(f"timm has no model {timm_name!r}", "see timm.list_models('vit_*') for names")
        return timm_name
    if name in REGISTERED_TIMM_VITS or _timm().is_model(name):
        return name  # any model timm knows; non-ViTs are refused when built
    from zslbench.errors import UnknownNameError

    known = backbone_names()
    raise UnknownNameError("backbone", name, difflib.get_close_matches(name, known, n=3, cutoff=0.5), known)


def expected_mean_std(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input normalisation backbone ``name``'s weights expect, without building it.

    timm's pretrained config for timm models (ImageNet statistics, or 0.5/0.5
    for e.g. the augreg weights); 0.5/0.5 for the from-scratch synthetic configs.
    """
    if name in PRETRAINED_VITS:  # recorded in the catalog: no timm import
        return PRETRAINED_VITS[name].mean, PRETRAINED_VITS[name].std
    timm_name = resolve_timm_name(name)
    if timm_name is None:
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    if cfg is None:
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return tuple(cfg.mean), tuple(cfg.std)


def create_backbone(name: str, pretrained: str | None = None, image_size: int | None = None) -> ViTAdapter:
    """Build backbone ``name`` as a :class:`ViTAdapter`.

    ``pretrained``: ``"none"`` (random init), ``"timm"`` (timm's weights from the
    local cache; never downloaded silently: a missing file is a DataError), a
    checkpoint path, or None for the backbone's default (``"timm"`` for timm
    models, ``"none"`` for the synthetic configurations). ``image_size`` None
    keeps the model's native size. Random weights are never a silent fallback.
    """
    timm_name = resolve_timm_name(name)
    if pretrained is None or pretrained == "":
        pretrained = PRETRAINED_NONE if timm_name is None else PRETRAINED_TIMM
    if timm_name is None:
        cfg = SYNTHETIC_VIT_CONFIGS[name]
        if pretrained == PRETRAINED_TIMM:
            raise UsageError(f"backbone {name!r} has no timm weights", "use pretrained 'none' or a checkpoint path")
        vit = _build_synthetic(cfg, image_size or cfg.image_size)
    else:
        entry = PRETRAINED_VITS.get(name)
        if entry is not None:  # foundation towers: their own image size (DINOv2 at 224, not 518) and grid
            image_size = image_size or entry.image_size
            if image_size % entry.patch_size:
                raise UsageError(f"image size {image_size} is not a multiple of {name}'s patch size {entry.patch_size}",
                                 f"set data.image_size to a multiple of {entry.patch_size}, e.g. {entry.image_size}")
        vit = _build_timm(timm_name, pretrained == PRETRAINED_TIMM, image_size,
                          dict(entry.model_args) if entry is not None else {})
    if pretrained not in (PRETRAINED_NONE, PRETRAINED_TIMM):
        load_checkpoint(vit, pretrained, convert=name in PRETRAINED_VITS)
    return ViTAdapter(vit, name=name, pretrained=pretrained)


def _build_synthetic(cfg: ViTConfig, image_size: int) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    if image_size % cfg.patch_size:
        raise UsageError(f"image size {image_size} is not a multiple of the patch size {cfg.patch_size}")
    return VisionTransformer(
        img_size=image_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, num_classes=0, qkv_bias=True,
    )


def _build_timm(timm_name: str, pretrained: bool, image_size: int | None, model_args: dict | None = None) -> nn.Module:
    timm = _timm()
    kwargs: dict = {**(model_args or {}), "num_classes": 0}
    if image_size is not None:
        kwargs["img_size"] = image_size
    if pretrained:
        kwargs["pretrained_cfg_overlay"] = {"file": str(cached_timm_weights(timm_name))}
    try:
        with _hub_offline():
            return timm.create_model(timm_name, pretrained=pretrained, **kwargs)
    except TypeError as exc:  # e.g. a CNN does not take img_size
        raise UsageError(f"timm model {timm_name!r} cannot be built as a ViT backbone: {exc}",
                         "use a timm ViT with a class token") from None


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for the duration: model construction must never reach the network."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def cached_timm_weights(timm_name: str) -> Path:
    """The local file of timm's pretrained weights for ``timm_name`` (HF cache or torch hub cache).

    Raises a DataError saying how to provide the weights when none is on disk.
    """
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    if cfg is None:
        raise UsageError(f"timm has no pretrained weights for {timm_name!r}", "use pretrained 'none' or a checkpoint path")
    candidates: list[Path] = []
    if cfg.hf_hub_id:
        filenames = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        candidates += [p for p in (hf_cached_file(cfg.hf_hub_id, f) for f in filenames) if p is not None]
    if cfg.url:
        candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url))
    for path in candidates:
        if path.is_file():
            return path
    where = f"the Hugging Face cache {hf_cache_dir()}" if cfg.hf_hub_id else f"{torch.hub.get_dir()}/checkpoints"
    fetch = (f"huggingface-cli download {cfg.hf_hub_id}" if cfg.hf_hub_id
             else f"python -c \"import timm; timm.create_model('{timm_name}', pretrained=True)\"")
    raise DataError(
        f"pretrained weights of {timm_name!r} ({cfg.hf_hub_id or cfg.url or timm_name}) are not in {where}",
        f"fetch them with `{fetch}` (then copy the cache or set HF_HOME), or pass --pretrained PATH to a "
        ".safetensors/.pth file, or --pretrained none for random weights",
    )


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` or ``.pth``/``.pt``/``.bin`` file (``model``/``state_dict`` unwrapped)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"checkpoint not found: {p}", "pass --pretrained PATH to an existing file, 'timm' or 'none'")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p), device="cpu")
        elif p.suffix in (".pth", ".pt", ".bin"):
            state = torch.load(str(p), map_location="cpu", weights_only=True)
        else:
            raise DataError(f"unsupported checkpoint format {p.suffix!r}: {p}", "use a .safetensors, .pth or .pt file")
    except DataError:
        raise
    except Exception as exc:  # corrupt or foreign files: one line, not a traceback
        raise DataError(f"cannot read checkpoint {p}: {type(exc).__name__}: {exc}") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"checkpoint {p} does not hold a state dict of tensors")
    return {_strip_prefix(k): v for k, v in state.items()}


def _strip_prefix(key: str) -> str:
    for prefix in ("module.", "vit."):  # DataParallel wrappers and saved ViTAdapters
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_checkpoint(vit: nn.Module, path: str | Path, convert: bool = False) -> None:
    """Load a checkpoint into ``vit``; missing, unexpected or mis-shaped tensors are a DataError.

    Classifier-head tensors (``head.*``) are ignored: backbones have no head.
    ``convert`` passes the file through timm's ViT checkpoint filter first: an
    open_clip / OpenAI CLIP checkpoint (``visual.*``, the text tower dropped)
    or a DINOv2 one becomes timm's layout, position embeddings resampled to the
    model's grid.
    """
    state = read_checkpoint(path)
    if convert:
        from timm.models.vision_transformer import checkpoint_filter_fn

        try:
            state = checkpoint_filter_fn(state, vit)
        except Exception as exc:  # a foreign layout: one line
            raise DataError(f"checkpoint {path} cannot be converted to {type(vit).__name__}: {exc}") from None
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    own = vit.state_dict()
    mismatched = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    problems = ([f"shape mismatch {m}" for m in mismatched] + [f"missing {k}" for k in missing]
                + [f"unexpected {k}" for k in unexpected])
    if problems:
        shown = "; ".join(problems[:3]) + (f"; ... ({len(problems)} problems)" if len(problems) > 3 else "")
        raise DataError(
            f"checkpoint {path} does not fit the backbone: {shown}",
            "the file must be a state dict of the same ViT architecture and image size",
        )
    vit.load_state_dict(state, strict=True)


def backbone_specs() -> list:
    """Specs of the registered backbones, built by :func:`create_backbone`."""
    return catalog.backbone_specs(create_backbone)
