"""Epsilon's parts, the shared ranking loss and the multi-label baseline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from zslbench.models.backbones import create_backbone
from zslbench.errors import UsageError
from zslbench.training.losses import rank_loss

REPO = Path(__file__).resolve().parent.parent
for plugin in ("epsilon", "baselines"):  # importable before `make install` has installed the plugins
    package = f"zslbench_{plugin}"
    if importlib.util.find_spec(package) is None:
        sys.path.insert(0, str(REPO / "plugins" / plugin))

from zslbench_epsilon.model import (EpsilonModel, EpsilonOptions, GlobalForwardPropagation,  # noqa: E402
                                    GroupPromptsAggregation)
from zslbench_epsilon.plugin import method_specs, training_recipe  # noqa: E402


# --------------------------------------------------------------------------- ranking loss


def test_rank_loss_by_hand_normalises_by_violating_pairs():
    scores = torch.tensor([[2.0, 0.5, 1.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0],
                           [5.0, 0.0, 0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1, 1, -1, 0],  # pairs (0,2): 0, (1,2): 1.5 -> 1.5 / 1 violating pair
                            [1, -1, -1, 1],  # 4 pairs of hinge 1 -> 4 / 4
                            [1, -1, 0, 0]], dtype=torch.float32)  # no violation -> 0
    loss = rank_loss(scores, targets)
    assert loss.item() == pytest.approx((1.5 + 1.0 + 0.0) / 3)
    loss.backward()
    # image 0: only the pair (1, 2) violates: d/ds1 = -1/3, d/ds2 = +1/3 (batch mean), the rest 0
    assert scores.grad[0].tolist() == pytest.approx([0.0, -1 / 3, 1 / 3, 0.0])
    assert scores.grad[2].abs().sum().item() == 0.0


def test_rank_loss_ignores_unannotated_labels_and_honours_the_margin():
    scores = torch.tensor([[1.0, 0.2, 9.0]])
    targets = torch.tensor([[1.0, -1.0, 0.0]])
    assert rank_loss(scores, targets).item() == pytest.approx(0.2)  # 1 + 0.2 - 1; label 2 is in no pair
    assert rank_loss(scores, targets, margin=0.5).item() == 0.0
    with pytest.raises(ValueError):
        rank_loss(scores, targets[:, :2])


# --------------------------------------------------------------------------- GPA and GFP


def test_gpa_prompts_attend_over_all_patches():
    torch.manual_seed(0)
    gpa = GroupPromptsAggregation(dim=16, num_prompts=3, heads=4, depth=2, self_attention=False, dropout=0.0)
    patches = torch.randn(2, 10, 16, requires_grad=True)
    prompts, attention = gpa(patches)
    assert prompts.shape == (2, 3, 16)
    assert attention.shape == (2, 4, 3, 10)  # (batch, heads, prompts, patches)
    assert torch.allclose(attention.sum(dim=-1), torch.ones(2, 4, 3), atol=1e-5)
    assert (attention > 0).all()
    (prompts[0] * torch.randn_like(prompts[0])).sum().backward()  # (a plain sum of a LayerNorm output is constant)
    per_patch = patches.grad[0].abs().sum(dim=-1)
    assert (per_patch > 0).all()  # every patch of the image influences the semantic prompts
    assert patches.grad[1].abs().sum() == 0  # and nothing leaks across images


def test_gpa_with_prompt_self_attention_reports_patch_attention_only():
    gpa = GroupPromptsAggregation(dim=8, num_prompts=2, heads=2, depth=1, self_attention=True, dropout=0.0)
    _, attention = gpa(torch.randn(3, 5, 8))
    assert attention.shape == (3, 2, 2, 5)
    assert (attention.sum(dim=-1) < 1.0).all()  # the rest of the mass goes to the prompts themselves


def test_gfp_gives_the_requested_global_vectors():
    gfp = GlobalForwardPropagation(dim=8, outputs=3, source="cls+mean", hidden_ratio=2.0, dropout=0.0)
    assert gfp(torch.randn(4, 8), torch.randn(4, 6, 8)).shape == (4, 3, 8)


# --------------------------------------------------------------------------- the model


def tiny_model(**options) -> EpsilonModel:
    torch.manual_seed(0)
    return EpsilonModel(create_backbone("vit-synthetic-tiny"), word_dim=12, options=EpsilonOptions(**options))


@pytest.mark.parametrize("fusion", ["gate", "residual", "union"])
def test_model_scores_and_losses_for_every_fusion(fusion):
    model = tiny_model(fusion=fusion, regulariser="prompt-diversity")
    images, labels = torch.randn(4, 3, 32, 32), torch.randn(7, 12)
    targets = torch.tensor([[1, -1, -1, 0, 1, -1, -1]] * 4, dtype=torch.float32)
    assert model.class_scores(images, labels).shape == (4, 7)
    losses = model.training_losses(images, targets, labels)
    assert set(losses) == {"loss", "rank", "regulariser"} and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert model.gpa.prompts.grad is not None and model.gpa.prompts.grad.abs().sum() > 0
    if fusion != "union":  # with union, a max may pick only prompts in a small batch
        assert model.gfp.mlp[0].weight.grad.abs().sum() > 0
        assert model.fusion_parameter.grad is not None and model.fusion_parameter.grad.abs() > 0


def test_union_fusion_is_the_max_over_both_branches():
    model = tiny_model(fusion="union").eval()
    images, labels = torch.randn(2, 3, 32, 32), torch.randn(5, 12)
    out = model.forward_outputs(images, labels)
    vectors = torch.cat([out.local_vectors, out.global_vectors], dim=1)
    expected = torch.einsum("bvd,ld->blv", vectors, labels).amax(dim=-1)
    assert torch.allclose(out.scores, expected, atol=1e-5)
    assert out.attention.shape == (2, 4, 8, 16)  # default 4 heads x 8 prompts over the 4x4 patch grid


def test_prompt_diversity_regulariser_is_zero_for_orthogonal_prompts():
    model = tiny_model()
    from zslbench_epsilon.model import EpsilonOutputs

    eye = torch.eye(3).repeat(2, 1, 1)
    outputs = EpsilonOutputs(torch.zeros(2, 1), eye, torch.zeros(2, 1, 3), torch.zeros(1))
    assert model._regulariser(outputs).item() == pytest.approx(0.0)
    same = torch.ones(2, 3, 3)
    assert model._regulariser(EpsilonOutputs(torch.zeros(2, 1), same, torch.zeros(2, 1, 3), torch.zeros(1))).item() \
        == pytest.approx(1.0)


def test_frozen_backbone_gets_no_gradient():
    model = tiny_model(freeze_backbone=True)
    model.training_losses(torch.randn(2, 3, 32, 32), torch.tensor([[1.0, -1.0]] * 2), torch.randn(2, 12))["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(id(p) not in {id(q) for q in model.backbone.parameters()} for p in model.head_parameters())


@pytest.mark.parametrize("options", [{"gpa_heads": 5}, {"fusion": "concat"}, {"num_prompts": 0},
                                     {"regulariser": "l1"}, {"global_source": "patches"}])
def test_invalid_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        tiny_model(**options)


def test_method_spec_declares_multilabel_and_default_backbones():
    spec = method_specs()[0]
    assert spec.name == "epsilon" and spec.tasks == ("multi-label",) and spec.kind == "image"
    assert spec.default_backbone("synthetic-multilabel") == "vit-synthetic"
    assert spec.default_backbone("synthetic-multilabel-tiny") == "vit-synthetic-tiny"
    assert spec.default_backbone("nus-wide") == "vit_base_patch16_224"
    assert spec.dataset_defaults("synthetic-multilabel")["train"]["epochs"] == 12


# --------------------------------------------------------------------------- the baseline


def test_mlzsl_baseline_scores_are_projection_dot_label_vectors():
    from zslbench_baselines.mlzsl_baseline import MLZSL_METHODS, MLZSLBaselineOptions
    from zslbench_baselines.mlzsl_baseline_model import PooledLinearEmbedding
    from zslbench_baselines.mlzsl_baseline import training_recipe as baseline_recipe

    torch.manual_seed(0)
    model = PooledLinearEmbedding(create_backbone("vit-synthetic-tiny"), 12, MLZSLBaselineOptions()).eval()
    images, labels = torch.randn(3, 3, 32, 32), torch.randn(6, 12)
    assert torch.equal(model.class_scores(images, labels), model.embed(images) @ labels.T)  # same ops, same bits
    loss = model.training_losses(images, torch.tensor([[1.0, -1.0, 0, 0, 0, 0]] * 3), labels)["loss"]
    assert torch.isfinite(loss)
    assert [s.name for s in MLZSL_METHODS] == ["mlzsl-baseline", "mlzsl-feat-linear"]
    assert all(spec.tasks == ("multi-label",) for spec in MLZSL_METHODS)
    assert [spec.kind for spec in MLZSL_METHODS] == ["image", "feature"]
    for dataset in ("synthetic-multilabel", "synthetic-multilabel-tiny", "nus-wide"):
        assert baseline_recipe(dataset) == training_recipe(dataset)  # same recipe: the heads are what differ


def test_rank_loss_matches_the_all_pairs_formulation_on_random_data():
    """The packed-positives implementation equals the (B, L, L) all-pairs form, value and gradient."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(16, 40, generator=generator, dtype=torch.float64, requires_grad=True)  # compared in float64
    targets = torch.randint(-1, 2, (16, 40), generator=generator).double()
    positive, negative = (targets > 0).float(), (targets < 0).float()
    pairs = negative.unsqueeze(2) * positive.unsqueeze(1)  # [b, n, p]
    hinge = torch.clamp(1 + scores.unsqueeze(2) - scores.unsqueeze(1), min=0) * pairs
    expected = (hinge.sum(dim=(1, 2)) / ((hinge > 0).sum(dim=(1, 2)).double() + 1e-8)).mean()
    loss = rank_loss(scores, targets)
    (grad,) = torch.autograd.grad(loss, scores, retain_graph=True)
    (expected_grad,) = torch.autograd.grad(expected, scores)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


def test_backbone_is_frozen_by_default_except_for_the_from_scratch_synthetic_presets():
    from zslbench.config import resolve_run_config

    assert EpsilonOptions().freeze_backbone is True
    spec = method_specs()[0]
    for dataset, frozen in (("nus-wide", True), ("open-images", True), ("synthetic-multilabel", False),
                            ("synthetic-multilabel-tiny", False)):
        layers = [spec.dataset_defaults(dataset), {"method": {"name": "epsilon"}}]
        assert resolve_run_config(layers, spec.options_type)[1].freeze_backbone is frozen, dataset
    fine_tuned = tiny_model(freeze_backbone=False)
    fine_tuned.training_losses(torch.randn(2, 3, 32, 32), torch.tensor([[1.0, -1.0]] * 2),
                               torch.randn(2, 12))["loss"].backward()
    assert any(p.grad is not None for p in fine_tuned.backbone.parameters())
