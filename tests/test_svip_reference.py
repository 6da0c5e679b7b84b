"""svip-reference against an independent re-derivation of the public code's training step (uqzhichen/SVIP).

The public code cannot run here (it needs CUDA, hand-made pickles and absolute
paths), so ``_code_step`` below re-derives what its ``VisionTransformer.forward``
(training branch), ``forward_inference`` and ``main.train_model`` compute, from
docs/methods/svip.md's table and the reference text, written out plainly with
torch primitives: its own attention and blocks, its reshapes, its loss modules.
It shares nothing with the plugin but the parameter tensors, so both must give
the same numbers and gradients for the same weights and batch.

Names below follow the code: ``token_cls`` = PatchCls, ``v2p`` / ``p2t`` = W2P,
``head_1`` = P2A, ``keep_token`` = M, ``att_dec`` = the decorrelation weight.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zslbench.config import resolve_run_config
from zslbench.methods import MethodContext

from zslbench_svip.plugin import method_specs

# the code's nn.KLDivLoss() (reduction "mean") warns that it divides by B * C: that is the behaviour reproduced
pytestmark = pytest.mark.filterwarnings("ignore:reduction.*mean:UserWarning")

K, SEEN, BATCH, KEEP = 10, 5, 4, 12
GROUPS = [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]
KL_T, SCALE, PATCH_CLS, ATT_DEC = 20.0, 5.0, 3.0, 0.3


def _reference_model():
    spec = {s.name: s for s in method_specs()}["svip-reference"]
    vectors = np.random.default_rng(1).normal(size=(K, 50)).astype(np.float32)
    context = MethodContext(dataset_name="synthetic", attribute_names=[f"a{i}" for i in range(K)], num_attributes=K,
                            image_size=64, attribute_groups=GROUPS, attribute_vectors=lambda: vectors,
                            backbone="vit-synthetic", seed=0)
    method = {"num_kept": KEEP, "lambda_patch": PATCH_CLS, "decorrelation_weight": ATT_DEC, "sigma": SCALE,
              "consistency_temperature": KL_T, "patch_classifier_hidden": 16}
    options = resolve_run_config([{"method": {"name": "svip-reference", **method}}], spec.options_type)[1]
    torch.manual_seed(0)
    model = spec.build(context, options)
    with torch.no_grad():  # non-trivial biases and norms, so every parameter matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.train()


def _batch():
    g = torch.Generator().manual_seed(3)
    images = torch.randn(BATCH, 3, 64, 64, generator=g)
    targets = torch.randint(0, SEEN, (BATCH,), generator=g)
    attributes = torch.rand(SEEN, K, generator=g) * 3  # raw attribute vectors; the code normalises them
    return images, targets, attributes


# ----------------------------------------------------------------------------- the code, re-derived


def _group(x: torch.Tensor, rows: int) -> torch.Tensor:
    """The code's ``reshape(B, 7, 2, 7, 2, 768).transpose(2, 3).reshape(B, 7, 7, -1).view(B, 49, 4 * 768)``."""
    b, _, d = x.shape
    return x.reshape(b, rows, 2, rows, 2, d).transpose(2, 3).reshape(b, rows, rows, -1).reshape(b, rows * rows, 4 * d)


def _ungroup(x: torch.Tensor, rows: int) -> torch.Tensor:
    """The code's ``view(B, 7, 7, 2, 2, 768).transpose(2, 3).reshape(B, 196, 768)``."""
    b, _, gd = x.shape
    return x.reshape(b, rows, rows, 2, 2, gd // 4).transpose(2, 3).reshape(b, rows * rows * 4, gd // 4)


def _code_vit(vit, patches: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """cls token, + pos_embed, the blocks with their explicit softmax attention maps, final norm."""
    b, _, d = patches.shape
    x = torch.cat([vit.cls_token.expand(b, -1, -1), patches], dim=1) + vit.pos_embed
    maps = []
    for blk in vit.blocks:
        assert blk.norm1.eps == 1e-6  # the code's partial(nn.LayerNorm, eps=1e-6)
        heads = blk.attn.num_heads
        h = F.layer_norm(x, (d,), blk.norm1.weight, blk.norm1.bias, 1e-6)
        n = h.shape[1]
        qkv = F.linear(h, blk.attn.qkv.weight, blk.attn.qkv.bias).reshape(b, n, 3, heads, d // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (d // heads) ** -0.5).softmax(dim=-1)
        maps.append(attn)
        x = x + F.linear((attn @ v).transpose(1, 2).reshape(b, n, d), blk.attn.proj.weight, blk.attn.proj.bias)
        h = F.layer_norm(x, (d,), blk.norm2.weight, blk.norm2.bias, 1e-6)
        x = x + F.linear(F.gelu(F.linear(h, blk.mlp.fc1.weight, blk.mlp.fc1.bias)), blk.mlp.fc2.weight, blk.mlp.fc2.bias)
    return F.layer_norm(x, (d,), vit.norm.weight, vit.norm.bias, 1e-6), maps


def _rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    rollout = None
    for attn in maps:
        avg = attn.mean(dim=1)
        aug = avg + torch.eye(avg.shape[-1]).unsqueeze(0)
        aug = aug / aug.sum(dim=-1, keepdim=True)
        rollout = aug if rollout is None else torch.bmm(aug, rollout)
    return rollout


def _code_step(model, images, targets, raw_attributes) -> dict:
    vit = model.backbone.vit
    token_cls, head_1 = model.patch_classifier, model.attribute_head
    v2p, p2t, w2v = model.w2p.to_token, model.w2p.across_attributes, model.word_vectors
    rows = vit.patch_embed.grid_size[0] // 2
    groups = rows * rows
    b = images.shape[0]
    embed = lambda: F.conv2d(images, vit.patch_embed.proj.weight, vit.patch_embed.proj.bias,  # noqa: E731
                             stride=vit.patch_embed.proj.stride).flatten(2).transpose(1, 2)
    # forward_source_branch
    x_patches = _group(embed(), rows)
    patch_pred = torch.sigmoid(token_cls(x_patches).squeeze(-1))
    x, maps = _code_vit(vit, _ungroup(x_patches, rows))
    att_fm = _group(x[:, 1:], rows)
    sim_query = _rollout(maps)[:, 0, 1:].reshape(b, groups, 4).mean(-1)  # view(B, 1, 7, 7, 4).mean(-1)
    kept = torch.sort(sim_query.topk(KEEP)[1])[0]
    source_att = head_1(torch.gather(att_fm, 1, kept.unsqueeze(-1).expand(-1, -1, att_fm.shape[-1]))).mean(1)
    patch_labels = torch.ones(b, groups).scatter_(1, kept, 0)
    # forward_features: the fill token added (scatter_add_) to the unselected groups
    fill = p2t(v2p(w2v).transpose(-2, -1)).reshape(1, -1)
    unselected = torch.ones(b, groups, dtype=torch.bool).scatter_(1, kept, False)
    rest = torch.arange(groups).repeat(b, 1)[unselected].reshape(b, -1, 1)
    x_patches2 = _group(embed(), rows)
    x_patches2 = x_patches2.scatter_add(1, rest.expand(-1, -1, x_patches2.shape[-1]),
                                        fill.expand(b, groups - KEEP, -1))
    x2, _ = _code_vit(vit, _ungroup(x_patches2, rows))
    pruned_fm = _group(x2[:, 1:], rows)
    pruned_att = pruned_fm.mean(1, keepdim=True)  # AdaptiveAvgPool1d over the groups
    chosen = torch.sort((pruned_att @ pruned_fm.transpose(-1, -2)).squeeze(1).topk(KEEP)[1])[0]
    target_att = head_1(torch.gather(pruned_fm, 1, chosen.unsqueeze(-1).expand(-1, -1, pruned_fm.shape[-1]))).mean(1)
    # main.train_model
    semantics = raw_attributes / (raw_attributes.norm(p=2, dim=1, keepdim=True) + 1e-5)
    bce = nn.BCELoss()(patch_pred, patch_labels)
    cos_source = torch.einsum("bd,nd->bn", source_att, semantics)
    cos_target = torch.einsum("bd,nd->bn", target_att, semantics)
    kl = nn.KLDivLoss()(F.log_softmax(cos_source / KL_T, dim=1), F.softmax(cos_target / KL_T, dim=1)) * KL_T * KL_T
    ce_source = F.cross_entropy(cos_source * SCALE, targets)
    ce_target = F.cross_entropy(cos_target * SCALE, targets)
    loss_att = 0
    for group in GROUPS:
        loss_att = loss_att + torch.norm(target_att.T[group], p=2, dim=0).mean()
    loss_att = loss_att / len(GROUPS) * ATT_DEC
    loss = PATCH_CLS * bce + kl + ce_source + ce_target + ATT_DEC * loss_att
    return dict(sim_query=sim_query, kept=kept, patch_logits=token_cls(x_patches).squeeze(-1), patch_labels=patch_labels,
                fill=fill.reshape(-1), chosen=chosen, source_att=source_att, target_att=target_att,
                cos_source=cos_source, cos_target=cos_target, bce=bce, kl=kl, ce_source=ce_source,
                ce_target=ce_target, loss_att=loss_att, loss=loss)


def _code_inference_scores(model, images, raw_attributes) -> torch.Tensor:
    """forward_inference + evaluate_dual: classifier picks the groups, mean over all groups, x5."""
    vit = model.backbone.vit
    rows = vit.patch_embed.grid_size[0] // 2
    groups = rows * rows
    b = images.shape[0]
    x_patches = _group(F.conv2d(images, vit.patch_embed.proj.weight, vit.patch_embed.proj.bias,
                                stride=vit.patch_embed.proj.stride).flatten(2).transpose(1, 2), rows)
    kept = torch.sigmoid(model.patch_classifier(x_patches)).squeeze(-1).topk(KEEP, largest=False)[1].sort()[0]
    fill = model.w2p.across_attributes(model.w2p.to_token(model.word_vectors).transpose(-2, -1)).reshape(1, -1)
    unselected = torch.ones(b, groups, dtype=torch.bool).scatter_(1, kept, False)
    rest = torch.arange(groups).repeat(b, 1)[unselected].reshape(b, -1, 1)
    x_patches = x_patches.scatter_add(1, rest.expand(-1, -1, x_patches.shape[-1]), fill.expand(b, groups - KEEP, -1))
    x, _ = _code_vit(vit, _ungroup(x_patches, rows))
    predicted = model.attribute_head(_group(x[:, 1:], rows)).mean(1)
    semantics = raw_attributes / (raw_attributes.norm(p=2, dim=1, keepdim=True) + 1e-5)
    return torch.einsum("bd,nd->bn", predicted, semantics) * 5


# ----------------------------------------------------------------------------- the comparison

# The whole computation runs in float64 on both sides. In float32 the two sides differ by the CPU's kernels
# (AVX2 vs AVX-512 sums differ by 1-2 ulp, and the KL of two near-equal distributions, a difference of
# near-equal sums times T^2 = 400, turns that into ~1e-6): such a test checks rounding, not the formulas.
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def float64_default():
    """Tensors the code's re-derivation creates (eye, ones, randn) are float64 like the model."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def step(float64_default):
    model = _reference_model().double()
    images, targets, attributes = _batch()
    trace = model.training_trace(images, targets, attributes)
    code = _code_step(model, images, targets, attributes)
    return model, images, targets, attributes, trace, code


def test_selection_group_scores_and_fill_vector_are_the_codes(step):
    model, _, _, _, trace, code = step
    torch.testing.assert_close(trace.attention_group_scores, code["sim_query"].detach(), **TOL)
    assert torch.equal(trace.kept_ids, code["kept"])
    assert torch.equal(trace.context_pool_ids, code["chosen"])
    torch.testing.assert_close(trace.fill_vector, code["fill"], **TOL)
    # the code's PatchCls scores "fill" (label 1 = semantic-unrelated); ours is the same logit, negated as keep-logit
    torch.testing.assert_close(trace.patch_logits, -code["patch_logits"], **TOL)
    torch.testing.assert_close(trace.patch_targets, 1 - code["patch_labels"])


def test_predicted_attributes_and_class_scores_of_both_passes_are_the_codes(step):
    _, _, _, _, trace, code = step
    torch.testing.assert_close(trace.attributes_original, code["source_att"], **TOL)
    torch.testing.assert_close(trace.attributes_context, code["target_att"], **TOL)
    torch.testing.assert_close(trace.scores_original, code["cos_source"], **TOL)
    torch.testing.assert_close(trace.scores_context, code["cos_target"], **TOL)
    torch.testing.assert_close(trace.logits_original, code["cos_source"] * 5, **TOL)
    torch.testing.assert_close(trace.logits_context, code["cos_target"] * 5, **TOL)


def test_every_loss_term_and_the_total_are_the_codes(step):
    _, _, _, _, trace, code = step
    terms = trace.losses
    torch.testing.assert_close(terms["patch"], code["bce"], **TOL)
    torch.testing.assert_close(trace.ce_original, code["ce_source"], **TOL)
    torch.testing.assert_close(trace.ce_context, code["ce_target"], **TOL)
    torch.testing.assert_close(terms["consistency"], code["kl"], **TOL)
    torch.testing.assert_close(terms["decorrelation"] * ATT_DEC, code["loss_att"], **TOL)  # the code logs w * term
    torch.testing.assert_close(terms["loss"], code["loss"], **TOL)


def test_gradients_of_every_parameter_are_the_codes(step):
    model, _, _, _, trace, code = step
    params = [p for p in model.parameters()]
    ours = torch.autograd.grad(trace.losses["loss"], params, retain_graph=True, allow_unused=True)
    theirs = torch.autograd.grad(code["loss"], params, retain_graph=True, allow_unused=True)
    names = [n for n, _ in model.named_parameters()]
    for name, a, b in zip(names, ours, theirs):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, **TOL, msg=lambda m, n=name: f"{n}: {m}")
    total = torch.sqrt(sum((g ** 2).sum() for g in ours if g is not None))
    reference = torch.sqrt(sum((g ** 2).sum() for g in theirs if g is not None))
    torch.testing.assert_close(total, reference, **TOL)


def test_the_comparison_runs_in_float64(step):
    model, images, _, attributes, trace, code = step
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert images.dtype == attributes.dtype == torch.float64
    assert trace.losses["loss"].dtype == code["loss"].dtype == torch.float64
    assert trace.losses["consistency"].dtype == torch.float64  # no float32 cast inside the losses


def test_inference_scores_are_the_codes(step, float64_default):
    model, images, _, attributes, _, _ = step
    with torch.no_grad():
        torch.testing.assert_close(model.class_scores(images, attributes), _code_inference_scores(model, images, attributes),
                                   **TOL)


# ----------------------------------------------------------------------------- precision of the preset


@pytest.mark.parametrize("dataset", ["synthetic", "synthetic-tiny", "cub", "awa2", "sun"])
def test_reference_preset_trains_in_fp32_unless_amp_is_asked_for(dataset):
    from zslbench.runner import resolve_run

    assert resolve_run("svip-reference", dataset).config.train.amp is False  # the public code has no autocast
    assert resolve_run("svip-reference", dataset, set_items=["train.amp=true"]).config.train.amp is True
    assert resolve_run("svip", dataset).config.train.amp is True  # svip itself keeps the engine's default
