"""Tests of the SVIP plugin: selection, contextualisation, loss terms, variants, training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zslbench.config import TrainConfig, build_dataclass, resolve_run_config
from zslbench.errors import UsageError
from zslbench.methods import MethodContext

from zslbench_svip import losses
from zslbench_svip.attribute_groups import reference_attribute_groups
from zslbench_svip.model import SVIPModel, SVIPOptions
from zslbench_svip.plugin import VARIANTS, build_svip, method_specs, options_diff, register_methods

K = 10
SEEN = 5


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


def _context(dataset: str = "synthetic-tiny", seed: int = 0, vectors: np.ndarray | None = None) -> MethodContext:
    word_vectors = vectors if vectors is not None else np.random.default_rng(seed).normal(size=(K, 50)).astype(np.float32)
    return MethodContext(
        dataset_name=dataset, attribute_names=[f"attribute {i}" for i in range(K)], num_attributes=K, image_size=32,
        attribute_groups=[[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]], attribute_vectors=lambda: word_vectors, seed=seed,
    )


def _specs() -> dict:
    return {spec.name: spec for spec in method_specs()}


def _resolved_options(name: str, dataset: str = "synthetic-tiny", **overrides):
    spec = _specs()[name]
    defaults = spec.dataset_defaults(dataset)
    layers = [{"method": name}, {"train": defaults["train"], "method": defaults["method"]}]
    if overrides:
        layers.append({"method": overrides})
    return resolve_run_config(layers, spec.options_type)[1]


def _build(name: str = "svip", seed: int = 0, context: MethodContext | None = None, **overrides) -> SVIPModel:
    torch.manual_seed(seed)
    spec = _specs()[name]
    return spec.build(context or _context(), _resolved_options(name, **overrides))


def _batch(seed: int = 0, batch: int = 6):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, 32, 32, generator=g)
    targets = torch.randint(0, SEEN, (batch,), generator=g)
    class_attributes = torch.rand(SEEN, K, generator=g)
    return images, targets, class_attributes


# ----------------------------------------------------------------------------- selection and contextualisation


def test_top_m_mask_keeps_the_m_best_scores():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [4.0, 1.0, 3.0, 2.0]])
    assert losses.top_m_mask(scores, 2).tolist() == [[False, True, True, False], [True, False, True, False]]


def test_unselected_groups_get_exactly_v_plus_e_and_selected_stay_v():
    model = _build("svip")
    grouped = torch.randn(3, model.num_groups, model.group_index.shape[1] * model.backbone.dim)
    kept = losses.top_m_mask(torch.randn(3, model.num_groups), model.options.num_kept)
    with torch.no_grad():
        e = model.fill_vector()
        filled = model.contextualise(grouped, kept)
    assert torch.equal(filled[kept], grouped[kept])
    assert torch.equal(filled[~kept], grouped[~kept] + e)
    assert not torch.equal(e, torch.zeros_like(e))


def test_the_fill_vector_lands_on_the_patches_of_unselected_groups():
    model = _build("svip").eval()
    images, _, _ = _batch()
    with torch.no_grad():
        v = model.backbone.patch_embed(images)
        kept_ids = torch.tensor([[0, 1, 3]] * images.shape[0])  # group 2 is contextualised
        filled = model._filled_embeddings(model.group_tokens(v), kept_ids)
    changed = (filled != v).any(-1)  # (B, N) patches that received e
    expected = torch.zeros(16, dtype=torch.bool)
    expected[model.group_index[2]] = True  # patches 8, 9, 12, 13
    assert torch.equal(changed, expected.expand_as(changed))


def test_no_psc_removes_unselected_groups_from_the_sequence():
    model = _build("svip-no-psc").eval()
    images, _, _ = _batch()
    with torch.no_grad():
        v = model.backbone.patch_embed(images)
        kept_ids = torch.tensor([[0, 2, 3]] * images.shape[0])
        out = model.contextualised_pass(v, model.group_tokens(v), kept_ids)
        # removed patches do not influence anything: perturb them
        v2 = v.clone()
        v2[:, model.group_index[1]] += 5.0
        out2 = model.contextualised_pass(v2, model.group_tokens(v2), kept_ids)
        manual = model.backbone.forward_tokens(v, keep_index=model.group_index[kept_ids].reshape(len(v), -1))
    assert out.groups.shape == (len(v), 3, 4 * model.backbone.dim)
    torch.testing.assert_close(out.cls, out2.cls)
    torch.testing.assert_close(out.groups, manual.patches.reshape(len(v), 3, -1))


def test_svip_keeps_unselected_groups_in_the_sequence():
    model = _build("svip").eval()
    images, _, _ = _batch()
    with torch.no_grad():
        v = model.backbone.patch_embed(images)
        kept_ids = torch.tensor([[0, 2, 3]] * images.shape[0])
        out = model.contextualised_pass(v, model.group_tokens(v), kept_ids)
    assert out.groups.shape == (len(v), 4, 4 * model.backbone.dim)


def test_inference_selects_m_groups_with_the_patch_classifier():
    model = _build("svip").eval()
    images, _, class_attributes = _batch()
    with torch.no_grad():
        selection = model.patch_selection(images)
        scores = model.class_scores(images, class_attributes)
        maps = model.attribute_maps(images)
        classifier_pick = losses.top_m_mask(model.patch_scores(model.group_tokens(model.backbone.patch_embed(images))), 3)
    assert model.patch_grid == (2, 2)
    assert selection.shape == (6, 4) and selection.sum(1).tolist() == [3] * 6
    assert torch.equal(selection, classifier_pick)
    assert scores.shape == (6, SEEN) and torch.isfinite(scores).all()
    assert maps.shape == (6, K, 2, 2)


# ----------------------------------------------------------------------------- loss terms


def test_cosine_logits_match_a_hand_computation():
    a = torch.tensor([[3.0, 4.0]])
    classes = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(losses.cosine_logits(a, classes, 5.0), torch.tensor([[5 * 0.6, 5 * 0.8]]))


def _probabilities_as_logits(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).log()  # formulas are checked in float64, on any CPU


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_symmetric_kl_is_eq13_as_written_and_about_four_times_the_mixture_jsd():
    p, q = [0.5, 0.5], [0.9, 0.1]
    la, lb = _probabilities_as_logits(p), _probabilities_as_logits(q)
    written = 0.5 * _kl(p, q) + 0.5 * _kl(q, p)  # Eq. 13's formula
    m = [(a + b) / 2 for a, b in zip(p, q)]
    mixture = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)  # the divergence Eq. 13 is named after
    assert losses.symmetric_kl(la, lb).item() == pytest.approx(written, rel=1e-12)
    assert losses.mixture_jsd(la, lb).item() == pytest.approx(mixture, rel=1e-12)
    assert losses.symmetric_kl(lb, la).item() == pytest.approx(written, rel=1e-12)
    assert losses.symmetric_kl(la, la).item() == 0.0
    # close distributions: JSD ~ 1/8 sum (p - q)^2 / p, symmetric KL ~ 1/2 sum (p - q)^2 / p
    near = [0.52, 0.48]
    ratio = losses.symmetric_kl(la, _probabilities_as_logits(near)) / losses.mixture_jsd(la, _probabilities_as_logits(near))
    assert ratio.item() == pytest.approx(4.0, rel=1e-2)
    far = losses.mixture_jsd(torch.tensor([[50.0, -50.0]], dtype=torch.float64),
                             torch.tensor([[-50.0, 50.0]], dtype=torch.float64))
    assert far.item() == pytest.approx(math.log(2), rel=1e-12)


@pytest.mark.filterwarnings("ignore:reduction.*mean:UserWarning")
def test_code_kl_is_kldivloss_mean_over_batch_and_classes_times_t_squared():
    original = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 2.0]], dtype=torch.float64)
    context = torch.tensor([[0.0, 3.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    t = 2.0
    b, c = original.shape
    total = 0.0
    for row in range(b):  # KL(p_context || p_original) of each image, at temperature t
        p_ctx = [math.exp(x / t) for x in context[row].tolist()]
        p_ctx = [x / sum(p_ctx) for x in p_ctx]
        p_org = [math.exp(x / t) for x in original[row].tolist()]
        p_org = [x / sum(p_org) for x in p_org]
        total += _kl(p_ctx, p_org)
    expected = total / (b * c) * t * t  # KLDivLoss(reduction="mean") divides by B * C
    assert losses.code_kl(original, context, t).item() == pytest.approx(expected, rel=1e-12)
    as_in_the_code = torch.nn.KLDivLoss()(F.log_softmax(original / t, 1), F.softmax(context / t, 1)) * t * t
    assert losses.code_kl(original, context, t).item() == pytest.approx(as_in_the_code.item(), rel=1e-12)
    assert losses.consistency("code-kl", original, context, t).item() == pytest.approx(expected, rel=1e-12)
    assert losses.code_kl(original, original, t).item() == pytest.approx(0.0, abs=1e-15)


def test_patch_loss_is_binary_cross_entropy():
    logits, targets = torch.tensor([[2.0, -1.0]], dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    expected = -(math.log(1 / (1 + math.exp(-2.0))) + math.log(1 - 1 / (1 + math.exp(1.0)))) / 2
    assert losses.patch_loss(logits, targets).item() == pytest.approx(expected, rel=1e-12)


def test_pseudo_labels_topm_and_soft_and_no_gradient_into_them():
    scores = torch.tensor([[0.2, 0.6, 0.4, 1.0]], requires_grad=True)
    topm = losses.pseudo_labels(scores, 2, "topm")
    soft = losses.pseudo_labels(scores, 2, "soft")
    assert topm.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    torch.testing.assert_close(soft, torch.tensor([[0.0, 0.5, 0.25, 1.0]]))
    assert not topm.requires_grad and not soft.requires_grad
    logits = torch.zeros(1, 4, requires_grad=True)
    losses.patch_loss(logits, losses.pseudo_labels(scores * 2, 2, "soft")).backward()
    assert scores.grad is None and logits.grad is not None


def test_group_decorrelation_is_the_mean_over_groups_of_the_batch_mean_group_norm_of_predictions():
    predictions = torch.tensor([[3.0, 4.0, 1.0, 2.0, 2.0], [0.0, 1.0, 0.0, 0.0, 3.0]], dtype=torch.float64)
    groups = [[0, 1], [2, 3, 4]]
    membership = torch.zeros(2, 5)
    for row, members in enumerate(groups):
        membership[row, members] = 1
    # group 0: norms 5 and 1 -> 3; group 1: norms 3 and 3 -> 3; mean over groups 3
    assert losses.group_decorrelation(predictions, membership).item() == pytest.approx(3.0, rel=1e-12)
    per_group = [np.mean([np.linalg.norm(predictions[b, g].numpy()) for b in range(2)]) for g in groups]
    assert losses.group_decorrelation(predictions, membership).item() == pytest.approx(np.mean(per_group), rel=1e-12)


def test_total_loss_combines_the_terms_with_their_weights_and_the_codes_double_decorrelation_weight():
    model = _build("svip-reference")
    images, targets, class_attributes = _batch()
    trace = model.training_trace(images, targets, class_attributes)
    terms, opt = trace.losses, model.options
    assert opt.decorrelation_weight == 0.3 and opt.decorrelation_weight_twice
    expected = (terms["cls"] + opt.lambda_jsd * terms["consistency"] + opt.lambda_patch * terms["patch"]
                + 0.3 * 0.3 * terms["decorrelation"])  # the code: att_dec * (term * att_dec)
    torch.testing.assert_close(terms["loss"], expected)
    torch.testing.assert_close(terms["decorrelation"],
                               losses.group_decorrelation(trace.attributes_context, model.group_membership))
    once = _build("svip-reference", decorrelation_weight_twice=False)
    terms_once = once.training_losses(images, targets, class_attributes)
    torch.testing.assert_close(terms_once["loss"] - 0.3 * terms_once["decorrelation"],
                               terms["loss"] - 0.09 * terms["decorrelation"])


def test_mse_term_of_the_code_is_off_by_default_and_weighted_when_set():
    images, targets, class_attributes = _batch()
    assert "mse" not in _build("svip-reference").training_losses(images, targets, class_attributes)
    model = _build("svip-reference", lambda_mse=0.5)
    trace = model.training_trace(images, targets, class_attributes)
    wanted = model.normalised_class_attributes(class_attributes)[targets]
    expected = F.mse_loss(trace.attributes_original, wanted) + F.mse_loss(trace.attributes_context, wanted)
    torch.testing.assert_close(trace.losses["mse"], expected)


def test_dot_scoring_is_the_unnormalised_prediction_times_eps_normalised_attributes_times_sigma():
    model = _build("svip-reference")
    prediction = torch.tensor([[1.0, 2.0] + [0.0] * (K - 2)])
    classes = torch.zeros(2, K)
    classes[0, :2] = torch.tensor([3.0, 4.0])  # norm 5
    classes[1, 1] = 2.0  # norm 2
    expected = torch.tensor([[5 * (3 + 8) / (5 + 1e-5), 5 * 4 / (2 + 1e-5)]])
    torch.testing.assert_close(model._logits(prediction, classes), expected)
    cosine = _build("svip")._logits(prediction, classes)  # the paper's Eq. 11: 5 cos
    torch.testing.assert_close(cosine, torch.tensor([[5 * 11 / (5 * math.sqrt(5)), 5 * 4 / (2 * math.sqrt(5))]]))


def test_group_scores_grid_average_the_groups_patches_raster_averages_consecutive_patches():
    model = _build("svip-reference")  # vit-synthetic-tiny: 4x4 patches, 2x2 groups
    row = torch.arange(16, dtype=torch.float32).unsqueeze(0)  # the attention of patch n is n
    raster = model.group_attention_scores(row)
    torch.testing.assert_close(raster, torch.tensor([[1.5, 5.5, 9.5, 13.5]]))  # means of 0-3, 4-7, ...
    grid = _build("svip-reference", group_score="grid").group_attention_scores(row)
    torch.testing.assert_close(grid, torch.tensor([[2.5, 4.5, 10.5, 12.5]]))  # means of {0,1,4,5}, {2,3,6,7}, ...


def test_interleaved_fill_layout_is_the_codes_row_major_reshape():
    per_token = _build("svip-reference", fill_layout="per-token")
    interleaved = _build("svip-reference")
    with torch.no_grad():
        slots = interleaved.w2p.across_attributes(interleaved.w2p.to_token(interleaved.word_vectors).T)  # (D, 4)
        d = slots.shape[0]
        e = interleaved.fill_vector()
        for dim, slot in ((0, 0), (0, 3), (5, 2), (d - 1, 1)):
            assert e[4 * dim + slot] == slots[dim, slot]
        torch.testing.assert_close(per_token.fill_vector().reshape(4, -1), per_token.w2p.across_attributes(
            per_token.w2p.to_token(per_token.word_vectors).T).T)


def test_fill_patch_logit_is_the_negated_keep_logit_with_the_same_loss():
    keep = _build("svip-reference", patch_logit="keep")
    fill = _build("svip-reference")
    fill.load_state_dict(keep.state_dict())
    images, targets, class_attributes = _batch()
    with torch.no_grad():
        grouped = keep.group_tokens(keep.backbone.patch_embed(images))
        torch.testing.assert_close(fill.patch_scores(grouped), keep.patch_scores(grouped).neg())
        raw = keep.patch_classifier(grouped).squeeze(-1)
        targets_keep = (torch.rand(raw.shape) > 0.5).float()
        code_bce = torch.nn.BCELoss()(torch.sigmoid(raw), 1 - targets_keep)  # the code: sigmoid + BCE, 1 = fill
        torch.testing.assert_close(losses.patch_loss(fill.patch_scores(grouped), targets_keep), code_bce)


def test_cls_term_is_the_cross_entropy_of_both_passes():
    model = _build("svip").eval()  # eval: no dropout, so passes can be recomputed
    images, targets, class_attributes = _batch()
    with torch.no_grad():
        trace = model.training_trace(images, targets, class_attributes)
        passes = model._two_passes(images)
        l1 = model._logits(model.predict_attributes(passes.original, passes.kept_ids), class_attributes)
        l2 = model._logits(model.predict_attributes(passes.contextualised, passes.kept_ids), class_attributes)
    torch.testing.assert_close(trace.ce_original, F.cross_entropy(l1, targets))
    torch.testing.assert_close(trace.losses["cls"], F.cross_entropy(l1, targets) + F.cross_entropy(l2, targets))
    torch.testing.assert_close(trace.losses["consistency"], losses.symmetric_kl(l1, l2))


@pytest.mark.parametrize("name", ["svip", "svip-no-ssps"])
def test_passes_run_as_one_batch_give_the_same_losses_as_run_one_by_one(name):
    model = _build(name).eval().double()  # float64: the two batchings may sum in other orders
    images, targets, class_attributes = (t.double() if t.is_floating_point() else t for t in _batch())
    with torch.no_grad():
        fused = model.training_losses(images, targets, class_attributes)
        model.fuse_passes = False
        separate = model.training_losses(images, targets, class_attributes)
    assert fused.keys() == separate.keys()
    for key in fused:
        torch.testing.assert_close(fused[key], separate[key], rtol=1e-12, atol=1e-12)


def test_patch_targets_come_from_attention_and_carry_no_gradient():
    model = _build("svip")
    images, targets, class_attributes = _batch()
    terms = model.training_losses(images, targets, class_attributes)
    terms["patch"].backward()
    # the patch loss reaches the classifier (and the patch embedding), never the transformer blocks
    assert model.patch_classifier[0].weight.grad is not None
    assert model.backbone.vit.blocks[-1].attn.qkv.weight.grad is None


# ----------------------------------------------------------------------------- variants


def _parameter_shapes(model) -> dict:
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def test_each_variant_changes_only_its_own_switch():
    for variant in VARIANTS:
        options = _resolved_options(variant.name)
        assert options_diff(options, _resolved_options("svip")) == variant.fixed, variant.name


def test_no_ssps_has_no_patch_classifier_and_no_patch_loss():
    svip, variant = _build("svip"), _build("svip-no-ssps")
    assert variant.patch_classifier is None
    assert not any(name.startswith("patch_classifier") for name in _parameter_shapes(variant))
    differing = set(_parameter_shapes(svip)) ^ set(_parameter_shapes(variant))
    assert all(name.startswith("patch_classifier") for name in differing)
    terms = variant.training_losses(*_batch())
    assert "patch" not in terms and "patch" in svip.training_losses(*_batch())
    assert not variant.patch_selection(_batch()[0]).any()


def test_no_ssps_contextualises_every_group():
    model = _build("svip-no-ssps")
    grouped = torch.randn(2, 4, 192)
    with torch.no_grad():
        filled = model.contextualise(grouped, None)
        e = model.fill_vector()
    assert torch.equal(filled, grouped + e)


def test_no_w2p_embedding_does_not_depend_on_word_vectors_but_svip_does():
    vectors_a = np.random.default_rng(1).normal(size=(K, 50)).astype(np.float32)
    vectors_b = np.random.default_rng(2).normal(size=(K, 50)).astype(np.float32)
    fills = {}
    for name in ("svip", "svip-no-w2p"):
        for tag, vectors in (("a", vectors_a), ("b", vectors_b)):
            model = _build(name, seed=0, context=_context(vectors=vectors))
            with torch.no_grad():
                fills[name, tag] = model.fill_vector().clone()
    assert torch.equal(fills["svip-no-w2p", "a"], fills["svip-no-w2p", "b"])
    assert not torch.allclose(fills["svip", "a"], fills["svip", "b"])
    variant = _build("svip-no-w2p")
    assert variant.w2p is None and variant.fill_embedding.requires_grad
    assert not any(name.startswith("w2p") for name in _parameter_shapes(variant))


def test_no_w2p_does_not_ask_for_word_vectors():
    context = _context()
    context.attribute_vectors = None
    assert _build("svip-no-w2p", context=context).w2p is None
    with pytest.raises(UsageError, match="word vectors"):
        _build("svip", context=context)


def test_no_p2a_reads_attributes_from_the_class_token():
    svip, variant = _build("svip"), _build("svip-no-p2a")
    assert svip.attribute_head.in_features == 4 * svip.backbone.dim
    assert variant.attribute_head.in_features == variant.backbone.dim
    differing = {n for n in set(_parameter_shapes(svip)) | set(_parameter_shapes(variant))
                 if _parameter_shapes(svip).get(n) != _parameter_shapes(variant).get(n)}
    assert differing == {"attribute_head.weight"}
    with pytest.raises(UsageError):
        variant.attribute_maps(_batch()[0])


def test_no_psc_and_no_jsd_have_the_same_parameters_as_svip():
    shapes = _parameter_shapes(_build("svip"))
    assert _parameter_shapes(_build("svip-no-psc")) == shapes
    assert _parameter_shapes(_build("svip-no-jsd")) == shapes


def test_no_jsd_loss_has_no_consistency_contribution():
    model = _build("svip-no-jsd")
    terms = model.training_losses(*_batch())
    torch.testing.assert_close(terms["loss"], terms["cls"] + model.options.lambda_patch * terms["patch"])
    assert terms["consistency"].item() > 0  # still logged


def test_a_variant_refuses_to_undo_its_switch():
    spec = _specs()["svip-no-psc"]
    options = _resolved_options("svip-no-psc", use_psc=True)
    with pytest.raises(UsageError, match="use_psc"):
        spec.build(_context(), options)


def test_registered_specs():
    registered = []
    register_methods(registered.append)
    specs = {s.name: s for s in registered}
    assert set(specs) == {"svip", "svip-reference", *(v.name for v in VARIANTS)}
    assert specs["svip"].ablation_baseline == "baseline" and specs["svip"].variant_of is None
    assert specs["svip-reference"].variant_of is None
    assert {v.name for v in VARIANTS} == {n for n, s in specs.items() if s.variant_of == "svip"}
    assert specs["svip"].reference_results["cub"]["H"] == 75.0
    assert specs["svip-no-psc"].reference_results["sun"] == {
        "T1": 67.9, "U": 49.2, "S": 46.8, "H": 48.0, "source": "SVIP, ICCV 2025, Table 2"}
    assert specs["svip"].default_backbone("cub") == "vit_base_patch16_224"
    assert specs["svip"].default_backbone("synthetic") == "vit-synthetic-v2"
    assert specs["svip"].default_backbone("synthetic-v1") == "vit-synthetic"


@pytest.mark.parametrize("dataset", ["cub", "awa2", "sun", "synthetic", "synthetic-v1", "synthetic-tiny",
                                     "synthetic-v2-tiny", "custom"])
def test_dataset_defaults_are_valid_config(dataset):
    for spec in method_specs():
        defaults = spec.dataset_defaults(dataset)
        build_dataclass(TrainConfig, defaults["train"])
        build_dataclass(spec.options_type, defaults["method"])
    cub = _specs()["svip"].dataset_defaults("cub")
    assert cub["train"]["warmup_epochs"] == 4 and cub["train"]["lr"] == 3e-5 and cub["method"]["num_kept"] == 40
    reference = _specs()["svip-reference"].dataset_defaults("awa2")
    assert reference["method"]["decorrelation_weight"] == 1.0 and reference["train"]["warmup_epochs"] == 6
    assert reference["train"]["reset_optimizer"] == "every_epoch" and reference["train"]["shuffle"] is False
    assert reference["data"] == {"normalize": "imagenet"}
    assert "reset_optimizer" not in _specs()["svip-reference"].dataset_defaults("synthetic")["train"]


def test_reference_attribute_groups_partition_the_attributes():
    for name, k, count in (("cub", 312, 28), ("awa2", 85, 9), ("sun", 102, 4)):
        groups = reference_attribute_groups(name, k)
        assert len(groups) == count
        assert sorted(i for g in groups for i in g) == list(range(k)), name
    assert reference_attribute_groups("cub", 300) is None


def test_invalid_options_are_usage_errors():
    with pytest.raises(UsageError):
        _build("svip", aggregation="sum")
    with pytest.raises(UsageError) as renamed:
        _build("svip", consistency="jsd")
    assert "mixture-jsd" in renamed.value.hint
    with pytest.raises(UsageError, match="num_kept"):
        _build("svip", num_kept=5)  # only 4 groups on vit-synthetic-tiny
    context = _context()
    context.attribute_groups = None
    with pytest.raises(UsageError, match="groups"):
        build_svip(context, dataclasses.replace(SVIPOptions(num_kept=3), decorrelation_weight=0.5))


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", ["svip", "svip-reference", "svip-no-psc", "svip-no-p2a"])
def test_a_few_steps_on_a_fixed_batch_drive_the_loss_down(name, train_on_batch):
    model = _build(name)
    images, targets, class_attributes = _batch(batch=8)
    history = train_on_batch(model, images, targets, class_attributes, torch.optim.Adam(model.parameters(), lr=2e-3),
                             steps=12)
    assert history[-1] < 0.7 * history[0], history


def test_head_parameters_are_the_heads_only():
    model = _build("svip")
    heads = {id(p) for p in model.head_parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in heads}
    assert names and all(n.startswith(("patch_classifier", "w2p", "attribute_head")) for n in names)
    assert not any(n.startswith("backbone") for n in names)
    no_w2p = _build("svip-no-w2p")
    assert any(p is no_w2p.fill_embedding for p in no_w2p.head_parameters())


def test_end_to_end_on_synthetic_tiny(tmp_path, train_on_batch):
    """A tiny train-then-evaluate loop (the engine's job, written here as a smoke check)."""
    synthetic = pytest.importorskip("zslbench.data.synthetic")
    dataset = synthetic.load_synthetic("synthetic-tiny", seed=0)
    k = dataset.num_attributes
    vectors = np.random.default_rng(0).normal(size=(k, 50)).astype(np.float32)
    context = MethodContext(dataset_name="synthetic-tiny", attribute_names=dataset.attribute_names, num_attributes=k,
                            image_size=32, attribute_groups=dataset.attribute_groups, attribute_vectors=lambda: vectors)
    torch.manual_seed(0)
    spec = _specs()["svip"]
    model = spec.build(context, _resolved_options("svip"))
    seen = torch.as_tensor(dataset.seen_classes)
    remap = torch.full((dataset.num_classes,), -1, dtype=torch.long)
    remap[seen] = torch.arange(len(seen))
    attributes = torch.as_tensor(dataset.class_attributes, dtype=torch.float32)
    index = dataset.splits["trainval"][:32]
    images = torch.stack([dataset.images.load(int(i)) for i in index]).float().div(255).sub(0.5).div(0.5)
    targets = remap[torch.as_tensor(dataset.labels[index])]
    train_on_batch(model, images, targets, attributes[seen], torch.optim.AdamW(model.parameters(), lr=1e-3), steps=3)
    model.eval()
    with torch.no_grad():
        scores = model.class_scores(images, attributes)
    assert scores.shape == (32, dataset.num_classes) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", ["svip", "svip-reference", "svip-no-ssps", "svip-no-psc", "svip-no-p2a"])
def test_train_and_score_under_bf16_autocast(name):
    model = _build(name)
    images, targets, class_attributes = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = model.training_losses(images, targets, class_attributes)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"]) and model.attribute_head.weight.grad is not None
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        scores = model.class_scores(images, class_attributes)
    assert scores.shape == (6, SEEN) and torch.isfinite(scores.float()).all()
