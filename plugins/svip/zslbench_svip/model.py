"""The SVIP model: semantically contextualised visual patches for zero-shot learning.

Chen, Zhao, Guo, Li, Huang, "SVIP: Semantically Contextualized Visual Patches
for Zero-Shot Learning", ICCV 2025 (arXiv 2503.10252). Equation numbers below
are the paper's.

* SSPS (Eq. 4-6): the class-token row of the aggregated attention scores the
  (2x2-grouped) patches; a patch classifier on the input patch embeddings
  learns those scores (BCE on pseudo labels) so inference needs no attention.
* PSC (Eq. 7-9): a fill vector ``e`` projected from the attribute names' word
  vectors (W2P) is added to the patch embeddings of the groups outside the
  top-M selection S_M.
* Attribute localisation (Eq. 10-11): P2A maps output group tokens to attribute
  values, pooled over groups; classes are scored by ``sigma * cos``.
* Training (Eq. 12-14): two passes (original and contextualised patches), CE of
  both, a consistency term between them, the patch loss.

Every switch that an ablation or the authors' public code changes is a field
of :class:`SVIPOptions`; variants are configurations of the one model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models.backbones import ViTAdapter
from zslbench.errors import UsageError
from zslbench.methods import ImageZSLModel

from zslbench_svip import losses, selection
from zslbench_svip.options import DOT_SCORING_EPS, SVIPOptions


class WordToPatch(nn.Module):
    """W2P (Eq. 7): attribute-name word vectors (K, Dw) -> one grouped-patch fill vector (g^2 D).

    Each word vector is projected to token width (Linear Dw -> D), then the K
    projections are mixed into g^2 token-sized slots (Linear K -> g^2), as in
    the authors' code. ``layout`` says how the (D, g^2) slots become one grouped
    vector: ``per-token`` gives slot s the s-th D-sized token of the group (one
    slot per patch); ``interleaved`` flattens (D, g^2) row-major as the code's
    reshape does (element g^2 d + s is slot s of dimension d).
    """

    def __init__(self, word_dim: int, num_attributes: int, token_dim: int, group_area: int,
                 layout: str = "per-token"):
        super().__init__()
        self.to_token = nn.Linear(word_dim, token_dim)
        self.across_attributes = nn.Linear(num_attributes, group_area)
        self.layout = layout

    def forward(self, word_vectors: torch.Tensor) -> torch.Tensor:
        per_attribute = self.to_token(word_vectors)  # (K, D)
        slots = self.across_attributes(per_attribute.T)  # (D, g^2)
        return slots.reshape(-1) if self.layout == "interleaved" else slots.T.reshape(-1)


@dataclass
class PassOutput:
    """Output of one transformer pass, as grouped tokens.

    ``groups`` (B, G', g^2 D) holds all G groups in grid order, or, when
    unselected groups were removed (w/o PSC), only the kept ones (``group_ids``
    (B, G') says which).
    """

    groups: torch.Tensor
    cls: torch.Tensor
    group_ids: torch.Tensor | None = None
    cls_attention: torch.Tensor | None = None  # (B, N) over patches, no grad

    def split(self, size: int) -> tuple["PassOutput", "PassOutput"]:
        """The first ``size`` images and the rest (two passes run as one batch; the attention row,
        if any, belongs to the first part)."""
        groups, cls = self.groups.split(size), self.cls.split(size)
        return (PassOutput(groups[0], cls[0], None, self.cls_attention),
                PassOutput(groups[1], cls[1], None, None))


@dataclass
class _Passes:
    """Both training passes and the selection between them."""

    original: PassOutput
    contextualised: PassOutput
    kept_ids: torch.Tensor | None  # (B, M) sorted group ids of S_M; None without SSPS
    attention_group_scores: torch.Tensor | None  # (B, G), no grad
    patch_logits: torch.Tensor | None  # (B, G) keep-logits of PatchCls
    patch_targets: torch.Tensor | None  # (B, G) keep targets in [0, 1]


@dataclass
class TrainingTrace:
    """A training step's intermediate values (``SVIPModel.training_trace``); tests compare them with the code's."""

    losses: dict[str, torch.Tensor]  # what training_losses returns
    ce_original: torch.Tensor  # Eq. 12, pass on Z^0
    ce_context: torch.Tensor  # Eq. 12, pass on Z^0'
    kept_ids: torch.Tensor | None
    attention_group_scores: torch.Tensor | None
    patch_logits: torch.Tensor | None
    patch_targets: torch.Tensor | None
    fill_vector: torch.Tensor | None  # e (g^2 D)
    context_pool_ids: torch.Tensor | None  # groups P2A pooled over in the second pass (None: all)
    attributes_original: torch.Tensor  # (B, K) predicted attributes
    attributes_context: torch.Tensor
    scores_original: torch.Tensor  # (B, C) before sigma
    scores_context: torch.Tensor
    logits_original: torch.Tensor  # sigma * scores
    logits_context: torch.Tensor


class SVIPModel(ImageZSLModel):
    """SVIP on a :class:`ViTAdapter`; switches in ``options`` give the ablation variants.

    ``word_vectors`` (K, Dw) are the attribute names' word vectors (needed when
    ``use_w2p``); ``attribute_groups`` are column-index lists (needed when
    ``decorrelation_weight`` > 0).
    """

    def __init__(self, backbone: ViTAdapter, num_attributes: int, options: SVIPOptions,
                 word_vectors: np.ndarray | torch.Tensor | None = None,
                 attribute_groups: list[list[int]] | None = None, object_masks: np.ndarray | None = None):
        super().__init__()
        options.validate()
        self.options = options
        self.backbone = backbone
        self.fuse_passes = True  # run independent passes as one 2B batch (tests compare both ways)
        self.num_attributes = num_attributes
        g = options.group_size
        self.register_buffer("group_index", backbone.group_index(g), persistent=False)  # (G, g^2)
        self.num_groups = int(self.group_index.shape[0])
        group_dim = g * g * backbone.dim
        if options.use_ssps and options.num_kept > self.num_groups:
            raise UsageError(
                f"method.num_kept={options.num_kept} exceeds the {self.num_groups} patch groups of {backbone.name}",
                f"set method.num_kept to at most {self.num_groups}",
            )
        self.patch_classifier = (
            nn.Sequential(nn.Linear(group_dim, options.patch_classifier_hidden), nn.ReLU(),
                          nn.Linear(options.patch_classifier_hidden, 1))
            if options.use_ssps else None
        )
        if options.use_w2p:
            if word_vectors is None:
                raise UsageError("SVIP's W2P needs word vectors of the attribute names",
                                 "configure data.text_encoder, or use svip-no-w2p")
            vectors = torch.as_tensor(np.asarray(word_vectors), dtype=torch.float32)
            if vectors.ndim != 2 or vectors.shape[0] != num_attributes:
                raise UsageError(f"expected ({num_attributes}, D) attribute word vectors, got {tuple(vectors.shape)}")
            self.register_buffer("word_vectors", vectors)
            self.w2p = WordToPatch(vectors.shape[1], num_attributes, backbone.dim, g * g, options.fill_layout)
            self.fill_embedding = None
        else:
            self.word_vectors = None
            self.w2p = None
            self.fill_embedding = nn.Parameter(torch.randn(group_dim) * 0.02)
        # P2A on grouped output tokens (Eq. 10), or (w/o P2A) a head on the class token
        self.attribute_head = nn.Linear(group_dim if options.use_p2a else backbone.dim, num_attributes)
        self.register_buffer("group_membership", _membership(attribute_groups, num_attributes, options),
                             persistent=False)
        # mask-oracle control: share of object pixels per group of every dataset image (not a weight)
        selection.check_masks(options.selection, object_masks, "this dataset")
        self._object_fraction = (selection.object_fractions(object_masks, self.patch_grid)
                                 if options.selection == "mask-oracle" else None)
        self._batch_indices: torch.Tensor | None = None

    # ------------------------------------------------------------------ pieces
    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, cols) of the grouped grid the selection lives on."""
        rows, cols = self.backbone.grid
        g = self.options.group_size
        return rows // g, cols // g

    def fill_vector(self) -> torch.Tensor:
        """``e`` (g^2 D): W2P of the word vectors (Eq. 7), or the learnable embedding (w/o W2P)."""
        if self.w2p is not None:
            return self.w2p(self.word_vectors)
        return self.fill_embedding

    def group_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, G, g^2 D)."""
        return self.backbone.group_patches(tokens, self.options.group_size)

    def patch_scores(self, grouped_embeddings: torch.Tensor) -> torch.Tensor:
        """Eq. 5: the patch classifier's keep-logits (B, G) on grouped input patch embeddings.

        With ``patch_logit="fill"`` the classifier's own output scores "fill"
        (the code's label 1) and is negated here; BCE(sigmoid(-z), 1 - y) equals
        BCE(sigmoid(z), y), so the loss and its gradients are the code's.
        """
        raw = self.patch_classifier(grouped_embeddings).squeeze(-1)
        return -raw if self.options.patch_logit == "fill" else raw

    def group_attention_scores(self, cls_attention: torch.Tensor) -> torch.Tensor:
        """(B, N) class-token attention over patches -> (B, G) group scores used for selection.

        ``grid``: the mean over each group's g x g patches (the groups that are
        selected). ``raster``: the mean over g^2 consecutive raster-order patches,
        the code's ``view(B, 1, 7, 7, 4).mean(-1)``, which mostly are not the
        patches of the group it then selects.
        """
        if self.options.group_score == "raster":
            return cls_attention.reshape(cls_attention.shape[0], self.num_groups, -1).mean(-1)
        return cls_attention[:, self.group_index].mean(-1)

    def contextualise(self, grouped_embeddings: torch.Tensor, kept: torch.Tensor | None) -> torch.Tensor:
        """Eq. 9: add ``e`` to the groups outside S_M (``kept`` (B, G) bool; None: to every group)."""
        e = self.fill_vector().to(grouped_embeddings.dtype)
        if kept is None:
            return grouped_embeddings + e
        return grouped_embeddings + (~kept).unsqueeze(-1).to(grouped_embeddings.dtype) * e

    def _run(self, patch_embeddings: torch.Tensor, need_cls_attention: bool = False,
             attention_batch: int | None = None) -> PassOutput:
        out = self.backbone.forward_tokens(patch_embeddings, need_cls_attention=need_cls_attention,
                                           aggregation=self.options.aggregation, attention_batch=attention_batch)
        return PassOutput(self.group_tokens(out.patches), out.cls, None, out.cls_attention)

    def _run_kept_only(self, patch_embeddings: torch.Tensor, kept_ids: torch.Tensor) -> PassOutput:
        """w/o PSC: only the patches of the kept groups (B, M) enter the sequence."""
        b, m = kept_ids.shape
        keep_index = self.group_index[kept_ids].reshape(b, -1)  # group-major, so M groups reshape back
        out = self.backbone.forward_tokens(patch_embeddings, keep_index=keep_index)
        return PassOutput(out.patches.reshape(b, m, -1), out.cls, kept_ids)

    def _filled_embeddings(self, grouped: torch.Tensor, kept_ids: torch.Tensor | None) -> torch.Tensor:
        """Patch embeddings (B, N, D) of Z^0': ``e`` added outside S_M (everywhere when ``kept_ids`` is None)."""
        if kept_ids is None:
            filled = self.contextualise(grouped, None)
        else:
            kept = torch.zeros(grouped.shape[:2], dtype=torch.bool, device=grouped.device)
            filled = self.contextualise(grouped, kept.scatter_(1, kept_ids, True))
        return self.backbone.ungroup_patches(filled, self.options.group_size)

    def contextualised_pass(self, patch_embeddings: torch.Tensor, grouped: torch.Tensor,
                            kept_ids: torch.Tensor | None) -> PassOutput:
        """The pass on Z^0': contextualised (PSC), removed (w/o PSC) or all filled (w/o SSPS)."""
        if kept_ids is not None and not self.options.use_psc:
            return self._run_kept_only(patch_embeddings, kept_ids)
        return self._run(self._filled_embeddings(grouped, kept_ids))

    def predict_attributes(self, out: PassOutput, pool_ids: torch.Tensor | None) -> torch.Tensor:
        """Eq. 10: P2A on the groups ``pool_ids`` (B, M) (None: every group of ``out``), pooled.

        w/o P2A: the attribute head on the class token.
        """
        if not self.options.use_p2a:
            return self.attribute_head(out.cls)
        tokens = out.groups
        if pool_ids is not None:
            tokens = tokens.gather(1, pool_ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        per_group = self.attribute_head(tokens)  # (B, M, K)
        return self._pool(per_group)

    def _pool(self, values: torch.Tensor) -> torch.Tensor:
        """Pool (B, M, X) over the groups (dim 1)."""
        return values.amax(1) if self.options.pooling == "max" else values.mean(1)

    def _similar_groups(self, out: PassOutput) -> torch.Tensor:
        """Code, second pass: the M groups with the largest dot product with the pooled output group token."""
        pooled = self._pool(out.groups).unsqueeze(-1)  # (B, g^2 D, 1), pooled like the code's self.pool
        similarity = (out.groups @ pooled).squeeze(-1)  # (B, G)
        chosen = similarity.topk(min(self.options.num_kept, out.groups.shape[1]), dim=-1).indices
        return chosen.sort(dim=-1).values

    def _pool_ids(self, out: PassOutput, kept_ids: torch.Tensor | None, stage: str) -> torch.Tensor | None:
        """Which groups P2A pools over in ``stage`` ("original", "contextualised", "inference")."""
        if out.group_ids is not None:  # w/o PSC: only kept groups are present
            return None
        if self.options.p2a_groups == "selected" or stage == "original":
            return kept_ids
        if stage == "contextualised":
            return self._similar_groups(out)
        return None  # reference code at inference: every group

    def set_batch_indices(self, indices: torch.Tensor) -> None:
        """Dataset indices of the images of the next call (the engine calls this; mask-oracle needs it)."""
        self._batch_indices = indices

    def _batch_object_fraction(self) -> torch.Tensor | None:
        if self._object_fraction is None or self._batch_indices is None:
            return None
        return self._object_fraction[self._batch_indices.cpu()]

    def _select(self, scores: torch.Tensor) -> torch.Tensor:
        """S_M as sorted group ids (B, M): the top M of ``scores``, or of the selection control's scores."""
        return selection.select(self.options.selection, scores, self.options.num_kept, self._batch_object_fraction())

    def loss_term_weights(self) -> dict[str, float]:
        """The weights of the auxiliary terms in ``loss`` (the core's selection curve reads ``consistency``)."""
        weights = {"consistency": float(self.options.lambda_jsd)}
        if self.options.use_ssps:
            weights["patch"] = float(self.options.lambda_patch)
        return weights

    def selection_scores(self, images: torch.Tensor) -> torch.Tensor | None:
        """(B, G) scores whose top M is the inference selection (for the selection AUROC against masks);
        None without SSPS, which selects nothing and has no patch classifier to score with."""
        if not self.options.use_ssps:
            return None
        learned = self.patch_scores(self.group_tokens(self.backbone.patch_embed(images)))
        return selection.selection_scores(self.options.selection, learned, self._batch_object_fraction())

    def normalised_class_attributes(self, class_attributes: torch.Tensor) -> torch.Tensor:
        """Class attribute vectors as the scoring uses them (L2-normalised; the code adds 1e-5 to the norm)."""
        if self.options.scoring == "dot":
            return class_attributes / (class_attributes.norm(dim=-1, keepdim=True) + DOT_SCORING_EPS)
        return F.normalize(class_attributes, dim=-1)

    def _scores(self, attributes: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """Unscaled class scores (B, C): cos(a_hat, a_y) (Eq. 11) or the code's a_hat . a_y / (||a_y|| + 1e-5)."""
        if self.options.scoring == "dot":
            return attributes @ self.normalised_class_attributes(class_attributes).T
        return losses.cosine_logits(attributes, class_attributes, 1.0)

    def _logits(self, attributes: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        return self.options.sigma * self._scores(attributes, class_attributes)

    # ------------------------------------------------------------------ ImageZSLModel
    def training_losses(self, images: torch.Tensor, targets: torch.Tensor,
                        class_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 14 on one batch: ``loss`` plus its terms ``cls``, ``consistency``, ``patch``, ``decorrelation``, ``mse``."""
        return self.training_trace(images, targets, class_attributes).losses

    def training_trace(self, images: torch.Tensor, targets: torch.Tensor,
                       class_attributes: torch.Tensor) -> "TrainingTrace":
        """One training step's forward pass with its intermediate values (what the losses are made of)."""
        opt = self.options
        passes = self._two_passes(images)
        original, contextualised, kept_ids = passes.original, passes.contextualised, passes.kept_ids
        context_pool_ids = self._pool_ids(contextualised, kept_ids, "contextualised")
        attributes_original = self.predict_attributes(original, self._pool_ids(original, kept_ids, "original"))
        attributes_context = self.predict_attributes(contextualised, context_pool_ids)
        scores_original = self._scores(attributes_original, class_attributes)
        scores_context = self._scores(attributes_context, class_attributes)
        logits_original, logits_context = opt.sigma * scores_original, opt.sigma * scores_context
        ce_original = F.cross_entropy(losses.full_precision(logits_original), targets)
        ce_context = F.cross_entropy(losses.full_precision(logits_context), targets)
        terms: dict[str, torch.Tensor] = {"cls": ce_original + ce_context}
        pair = (logits_original, logits_context) if opt.consistency_scores == "scaled" else (scores_original, scores_context)
        terms["consistency"] = losses.consistency(opt.consistency, *pair, opt.consistency_temperature)
        loss = terms["cls"] + opt.lambda_jsd * terms["consistency"]
        if passes.patch_logits is not None:
            terms["patch"] = losses.patch_loss(passes.patch_logits, passes.patch_targets)
            loss = loss + opt.lambda_patch * terms["patch"]
        if opt.decorrelation_weight > 0:
            terms["decorrelation"] = losses.group_decorrelation(attributes_context, self.group_membership)
            weight = opt.decorrelation_weight ** 2 if opt.decorrelation_weight_twice else opt.decorrelation_weight
            loss = loss + weight * terms["decorrelation"]
        if opt.lambda_mse > 0:
            wanted = self.normalised_class_attributes(class_attributes)[targets]
            terms["mse"] = F.mse_loss(attributes_original, wanted) + F.mse_loss(attributes_context, wanted)
            loss = loss + opt.lambda_mse * terms["mse"]
        return TrainingTrace(
            losses={"loss": loss, **terms}, ce_original=ce_original, ce_context=ce_context, kept_ids=kept_ids,
            attention_group_scores=passes.attention_group_scores, patch_logits=passes.patch_logits,
            patch_targets=passes.patch_targets, fill_vector=self.fill_vector() if kept_ids is not None else None,
            context_pool_ids=context_pool_ids, attributes_original=attributes_original,
            attributes_context=attributes_context, scores_original=scores_original, scores_context=scores_context,
            logits_original=logits_original, logits_context=logits_context,
        )

    def _two_passes(self, images: torch.Tensor) -> "_Passes":
        """The passes on Z^0 and Z^0', the selection S_M (B, M) or None, and the patch classifier's inputs to its loss.

        When the second pass's input does not depend on the first pass (selection
        by the patch classifier, or no selection) and both have the same length,
        the two run as one batch of 2B: the same result, fewer and larger kernels.
        """
        opt = self.options
        v = self.backbone.patch_embed(images)
        grouped = self.group_tokens(v)
        patch_logits = self.patch_scores(grouped) if opt.use_ssps else None
        independent = not opt.use_ssps or (opt.selection_in_training == "classifier" and opt.use_psc)
        if independent and self.fuse_passes:
            kept_ids = self._select(patch_logits) if opt.use_ssps else None
            filled = self._filled_embeddings(grouped, kept_ids)
            both = self._run(torch.cat([v, filled]), need_cls_attention=opt.use_ssps, attention_batch=v.shape[0])
            original, contextualised = both.split(v.shape[0])
        else:
            original = self._run(v, need_cls_attention=opt.use_ssps)
            kept_ids = None
        attention_scores = targets_patch = None
        if opt.use_ssps:
            attention_scores = self.group_attention_scores(original.cls_attention)  # Eq. 4 per group (B, G)
            targets_patch = losses.pseudo_labels(attention_scores, opt.num_kept, opt.pseudo_labels)
            if kept_ids is None:
                source = patch_logits if opt.selection_in_training == "classifier" else attention_scores
                kept_ids = self._select(source)
        if not (independent and self.fuse_passes):
            contextualised = self.contextualised_pass(v, grouped, kept_ids)
        return _Passes(original, contextualised, kept_ids, attention_scores, patch_logits, targets_patch)

    def _inference_pass(self, images: torch.Tensor) -> tuple[PassOutput, torch.Tensor | None]:
        """One pass: the patch classifier picks S_M, the rest is contextualised (or removed)."""
        v = self.backbone.patch_embed(images)
        grouped = self.group_tokens(v)
        kept_ids = self._select(self.patch_scores(grouped)) if self.options.use_ssps else None
        return self.contextualised_pass(v, grouped, kept_ids), kept_ids

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        """Eq. 11 scores (B, C) from one contextualised pass."""
        out, kept_ids = self._inference_pass(images)
        attributes = self.predict_attributes(out, self._pool_ids(out, kept_ids, "inference"))
        return self._logits(attributes, class_attributes)

    def head_parameters(self) -> Iterable[nn.Parameter]:
        """Patch classifier, W2P (or the fill embedding) and the attribute head: trained during warm-up."""
        modules = [m for m in (self.patch_classifier, self.w2p, self.attribute_head) if m is not None]
        params = [p for m in modules for p in m.parameters()]
        if self.fill_embedding is not None:
            params.append(self.fill_embedding)
        return params

    # ------------------------------------------------------------------ explain / selection score
    def patch_selection(self, images: torch.Tensor) -> torch.Tensor:
        """(B, rows*cols) bool over the grouped grid: True for kept groups (not contextualised).

        w/o SSPS selects nothing (every group is contextualised): all False.
        """
        b = images.shape[0]
        if not self.options.use_ssps:
            return torch.zeros(b, self.num_groups, dtype=torch.bool, device=images.device)
        grouped = self.group_tokens(self.backbone.patch_embed(images))
        kept_ids = self._select(self.patch_scores(grouped))
        return torch.zeros(b, self.num_groups, dtype=torch.bool, device=images.device).scatter_(1, kept_ids, True)

    def attribute_maps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K, rows, cols): P2A's attribute values of every group of the inference pass (Eq. 10 before pooling).

        w/o PSC: removed groups have no output token; their cells are 0.
        """
        if not self.options.use_p2a:
            raise UsageError("svip-no-p2a predicts attributes from the class token: it has no attribute maps")
        out, _ = self._inference_pass(images)
        per_group = self.attribute_head(out.groups)  # (B, G', K)
        if out.group_ids is not None:
            full = per_group.new_zeros(per_group.shape[0], self.num_groups, per_group.shape[-1])
            per_group = full.scatter(1, out.group_ids.unsqueeze(-1).expand(-1, -1, per_group.shape[-1]), per_group)
        rows, cols = self.patch_grid
        return per_group.transpose(1, 2).reshape(per_group.shape[0], -1, rows, cols)


def _membership(groups: list[list[int]] | None, num_attributes: int, options: SVIPOptions) -> torch.Tensor:
    """(R, K) 0/1 matrix of the attribute groups; empty when the decorrelation is off."""
    if options.decorrelation_weight <= 0:
        return torch.zeros(0, num_attributes)
    if not groups:
        raise UsageError("method.decorrelation_weight > 0 needs attribute groups, and this dataset has none",
                         "set method.decorrelation_weight=0")
    bad = sorted({i for g in groups for i in g if not 0 <= i < num_attributes})
    if bad:
        raise UsageError(f"attribute groups name attributes {bad[:5]} outside 0..{num_attributes - 1}")
    membership = torch.zeros(len(groups), num_attributes)
    for row, members in enumerate(groups):  # a few dozen groups at most, once at build time
        membership[row, members] = 1.0
    return membership
