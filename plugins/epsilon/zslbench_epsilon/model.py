"""Epsilon (Liu, Guo, Guo, Lu; arXiv 2408.12253) as its abstract describes it.

The paper's full text, equations and hyper-parameters were not available, so
every part the abstract leaves open is an option of :class:`EpsilonOptions`
with a stated default and reason (docs/methods/epsilon.md lists them). None of
the defaults is claimed to be the paper's setting.

Structure (what the abstract states):

* a backbone gives a grid of patch features (``ViTAdapter.encode``);
* **Group Prompts Aggregation (GPA)**: learnable group prompts attend over all
  patch features (prompts are the queries, the image features the keys and
  values) and become per-image *semantic prompts*, which group local
  information by semantics rather than by class;
* **Global Forward Propagation (GFP)**: a global branch from the class token
  and the mean patch feature, so that semantics missed locally are kept;
* a **learnable fusion** of the two branches;
* scores of each label against its word vector, trained with the field's
  **ranking loss plus a regulariser**.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models.backbones import ViTAdapter
from zslbench.training.losses import rank_loss

from zslbench_epsilon.options import EpsilonOptions

def _mlp(dim_in: int, hidden: int, dim_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim_out))


class GPABlock(nn.Module):
    """One GPA layer: pre-norm multi-head cross-attention of the prompts over the image tokens, then an MLP."""

    def __init__(self, dim: int, heads: int, self_attention: bool, dropout: float):
        super().__init__()
        self.self_attention = self_attention
        self.norm_queries = nn.LayerNorm(dim)
        self.norm_tokens = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = _mlp(dim, 4 * dim, dim, dropout)

    def forward(self, prompts: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompts (B, G, D), attention (B, heads, G, K)); K = patches (+ prompts with self-attention)."""
        queries = self.norm_queries(prompts)
        keys = self.norm_tokens(tokens)
        if self.self_attention:
            keys = torch.cat([queries, keys], dim=1)
        attended, weights = self.attention(queries, keys, keys, need_weights=True, average_attn_weights=False)
        prompts = prompts + attended
        return prompts + self.mlp(self.norm_mlp(prompts)), weights


class GroupPromptsAggregation(nn.Module):
    """GPA: ``num_prompts`` learnable group prompts aggregate all patch features into semantic prompts."""

    def __init__(self, dim: int, num_prompts: int, heads: int, depth: int, self_attention: bool, dropout: float):
        super().__init__()
        self.prompts = nn.Parameter(torch.empty(num_prompts, dim))
        nn.init.trunc_normal_(self.prompts, std=0.02)
        self.blocks = nn.ModuleList(GPABlock(dim, heads, self_attention, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Semantic prompts (B, G, D) and the last layer's attention over the patches (B, heads, G, N)."""
        prompts = self.prompts.unsqueeze(0).expand(patches.shape[0], -1, -1)
        weights = None
        for block in self.blocks:
            prompts, weights = block(prompts, patches)
        num_patches = patches.shape[1]
        return self.norm(prompts), weights[..., -num_patches:]


class GlobalForwardPropagation(nn.Module):
    """GFP: ``outputs`` global vectors from the class token and/or the mean patch feature through an MLP."""

    def __init__(self, dim: int, outputs: int, source: str, hidden_ratio: float, dropout: float):
        super().__init__()
        self.source = source
        self.outputs = outputs
        dim_in = 2 * dim if source == "cls+mean" else dim
        self.norm = nn.LayerNorm(dim_in)
        self.mlp = _mlp(dim_in, max(1, int(round(hidden_ratio * dim))), outputs * dim, dropout)
        self.dim = dim

    def forward(self, cls: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """Global vectors (B, J, D)."""
        parts = {"cls": [cls], "mean": [patches.mean(dim=1)], "cls+mean": [cls, patches.mean(dim=1)]}[self.source]
        x = self.mlp(self.norm(torch.cat(parts, dim=-1)))
        return x.view(x.shape[0], self.outputs, self.dim)


@dataclass
class EpsilonOutputs:
    """What one forward pass computes (for losses, scores and inspection)."""

    scores: torch.Tensor  # (B, L) fused label scores
    local_vectors: torch.Tensor  # (B, G, Dw) semantic prompts in word-vector space
    global_vectors: torch.Tensor  # (B, J, Dw) GFP outputs in word-vector space
    attention: torch.Tensor  # (B, heads, G, N) GPA attention over the patches


class EpsilonModel(nn.Module):
    """Backbone + GPA + GFP + learnable fusion, scored against label word vectors.

    Implements :class:`zslbench.methods.ImageZSLModel`'s interface: targets are
    (B, L_s) rows of +1 / -1 / 0 and ``class_attributes`` the label word vectors.
    """

    def __init__(self, backbone: ViTAdapter, word_dim: int, options: EpsilonOptions):
        super().__init__()
        options.validate(backbone.dim)
        self.options = options
        self.backbone = backbone
        dim = backbone.dim
        self.gpa = GroupPromptsAggregation(dim, options.num_prompts, options.gpa_heads, options.gpa_depth,
                                           options.prompt_self_attention, options.dropout)
        self.gfp = GlobalForwardPropagation(dim, options.global_outputs, options.global_source,
                                            options.global_hidden_ratio, options.dropout)
        self.local_projection = nn.Linear(dim, word_dim)
        self.global_projection = nn.Linear(dim, word_dim)
        # gate: logit of the GPA share of the scores (sigmoid(0) = 1/2 at the start);
        # residual: weight of the mean global vector added to every prompt (1 at the start, so GFP learns at once).
        self.fusion_parameter = nn.Parameter(torch.tensor(1.0 if options.fusion == "residual" else 0.0))
        if options.freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)

    @property
    def patch_grid(self) -> tuple[int, int]:
        return self.backbone.grid

    def _readout(self, vectors: torch.Tensor, label_vectors: torch.Tensor) -> torch.Tensor:
        """Per-label score over a set of vectors (B, V, Dw) -> (B, L): max (the field's) or logsumexp."""
        similarities = torch.einsum("bvd,ld->blv", vectors, label_vectors.to(vectors.dtype))
        if self.options.readout == "max":
            return similarities.amax(dim=-1)
        return torch.logsumexp(similarities, dim=-1)

    def forward_outputs(self, images: torch.Tensor, label_vectors: torch.Tensor) -> EpsilonOutputs:
        """Run the whole model on normalised images against label vectors (L, Dw)."""
        if self.options.freeze_backbone:
            with torch.no_grad():
                cls, patches = self.backbone.encode(images)
        else:
            cls, patches = self.backbone.encode(images)
        prompts, attention = self.gpa(patches)
        local_vectors = self.local_projection(prompts)
        global_vectors = self.global_projection(self.gfp(cls, patches))
        fusion = self.options.fusion
        if fusion == "gate":
            share = torch.sigmoid(self.fusion_parameter)
            scores = share * self._readout(local_vectors, label_vectors) + (1 - share) * self._readout(
                global_vectors, label_vectors)
        elif fusion == "residual":
            fused = local_vectors + self.fusion_parameter * global_vectors.mean(dim=1, keepdim=True)
            scores = self._readout(fused, label_vectors)
        else:  # union: both branches' vectors compete in one max
            scores = self._readout(torch.cat([local_vectors, global_vectors], dim=1), label_vectors)
        return EpsilonOutputs(scores, local_vectors, global_vectors, attention)

    def _regulariser(self, outputs: EpsilonOutputs) -> torch.Tensor:
        kind = self.options.regulariser
        if kind == "prompt-diversity":
            # Mean squared cosine similarity between different semantic prompts of an image.
            p = F.normalize(outputs.local_vectors.float(), dim=-1)
            gram = p @ p.transpose(1, 2)
            g = gram.shape[-1]
            if g < 2:
                return gram.new_zeros(())
            off_diagonal = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
            return off_diagonal.pow(2).sum(dim=(1, 2)).mean() / (g * (g - 1))
        if kind == "output-norm":
            vectors = torch.cat([outputs.local_vectors, outputs.global_vectors], dim=1).float()
            return vectors.pow(2).sum(dim=-1).mean()
        return outputs.scores.new_zeros((), dtype=torch.float32)

    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss = rank + regulariser_weight * regulariser`` on (B, L_s) targets."""
        outputs = self.forward_outputs(images, class_attributes)
        rank = rank_loss(outputs.scores.float(), targets, margin=self.options.margin)
        regulariser = self._regulariser(outputs)
        return {"loss": rank + self.options.regulariser_weight * regulariser, "rank": rank.detach(),
                "regulariser": regulariser.detach()}

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """Fused label scores (B, L) against the word vectors ``class_attributes`` (L, Dw)."""
        return self.forward_outputs(images, class_attributes).scores

    def head_parameters(self) -> Iterable[nn.Parameter]:
        """Everything but the backbone (trained alone during a heads-only warm-up)."""
        backbone = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if id(p) not in backbone]
