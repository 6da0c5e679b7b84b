"""Classic feature-level baselines: defining equations, known-answer data, ranking losses, specs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from zslbench.errors import DataError, UsageError
from zslbench.methods import FeatureZSLModel, MethodContext
from zslbench_baselines import classic as C


def linear_zsl_problem(seed: int = 0, num_classes: int = 20, num_unseen: int = 5, num_attributes: int = 12,
                       dim: int = 40, per_class: int = 30, noise: float = 0.05):
    """Features generated linearly from the class attributes plus small noise: the map is recoverable."""
    rng = np.random.default_rng(seed)
    attributes = rng.random((num_classes, num_attributes))
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)
    mixing = rng.normal(size=(num_attributes, dim))
    seen, unseen = np.arange(num_classes - num_unseen), np.arange(num_classes - num_unseen, num_classes)

    def sample(classes, n):
        labels = np.repeat(classes, n)
        return (attributes[labels] @ mixing + noise * rng.normal(size=(len(labels), dim))).astype(np.float32), labels

    x_train, y_train = sample(seen, per_class)
    x_test, y_test = sample(unseen, per_class)
    return dict(attributes=attributes.astype(np.float32), seen=seen, unseen=unseen, x_train=x_train,
                y_train=y_train, x_test=x_test, y_test=y_test)


def unseen_accuracy(model, p) -> float:
    scores = model.class_scores(p["x_test"], p["attributes"][p["unseen"]])
    return float(np.mean(p["unseen"][scores.argmax(1)] == p["y_test"]))


def fit(model, p):
    model.fit(p["x_train"], p["y_train"], p["attributes"][p["seen"]])  # seen ids 0..S-1 index the seen rows
    return model


# --------------------------------------------------------------------------- ESZSL


def test_eszsl_solves_its_normal_equations():
    rng = np.random.default_rng(1)
    x, targets, s = rng.normal(size=(15, 4)), np.arange(15) % 3, rng.normal(size=(3, 5))
    opts = C.ESZSLOptions(gamma_exp=-0.5, lambda_exp=0.3)
    model = C.ESZSL(opts)
    model.fit(x, targets, s)
    X, S = x.T, s.T
    Y = -np.ones((15, 3))
    Y[np.arange(15), targets] = 1
    A = X @ X.T + 10 ** -0.5 * np.eye(4)
    B = S @ S.T + 10 ** 0.3 * np.eye(5)
    # (X X^T + gamma I) V (S S^T + lambda I) = X Y S^T, vectorised column-major: (B^T kron A) vec(V) = vec(R)
    vec_v = np.linalg.solve(np.kron(B.T, A), (X @ Y @ S.T).reshape(-1, order="F"))
    np.testing.assert_allclose(model.V, vec_v.reshape(4, 5, order="F"), rtol=1e-8, atol=1e-10)


def test_eszsl_minimises_its_objective():
    rng = np.random.default_rng(2)
    x, targets, s = rng.normal(size=(20, 4)), np.arange(20) % 4, rng.normal(size=(4, 3))
    model = C.ESZSL(C.ESZSLOptions(gamma_exp=0.0, lambda_exp=-1.0))
    model.fit(x, targets, s)
    gamma, lam = 1.0, 0.1
    Y = -np.ones((20, 4))
    Y[np.arange(20), targets] = 1

    def objective(V):
        X, S = x.T, s.T
        return (np.sum((X.T @ V @ S - Y) ** 2) + gamma * np.sum((V @ S) ** 2) + lam * np.sum((X.T @ V) ** 2)
                + gamma * lam * np.sum(V ** 2))

    best = objective(model.V)
    for _ in range(5):
        assert objective(model.V + 1e-3 * rng.normal(size=model.V.shape)) > best


def test_eszsl_onehot_targets_differ_from_bipolar():
    p = linear_zsl_problem()
    bipolar = fit(C.ESZSL(C.ESZSLOptions()), p).V
    onehot = fit(C.ESZSL(C.ESZSLOptions(targets="onehot")), p).V
    assert not np.allclose(bipolar, onehot)


def test_eszsl_recovers_a_linear_map():
    p = linear_zsl_problem()
    assert unseen_accuracy(fit(C.ESZSL(C.ESZSLOptions(gamma_exp=-3, lambda_exp=-3)), p), p) >= 0.95


# --------------------------------------------------------------------------- SAE


def test_sae_solves_its_sylvester_equation():
    rng = np.random.default_rng(3)
    x, targets, s = rng.normal(size=(30, 6)), np.arange(30) % 5, rng.normal(size=(5, 4))
    lam = 0.7
    model = C.SAE(C.SAEOptions(lambda_reg=lam, l2_normalize_features=False))
    model.fit(x, targets, s)
    X, S = x.T, s[targets].T
    A, B, Q = S @ S.T, lam * X @ X.T, (1 + lam) * S @ X.T
    # A W + W B = Q, vectorised column-major: (I kron A + B^T kron I) vec(W) = vec(Q)
    system = np.kron(np.eye(6), A) + np.kron(B.T, np.eye(4))
    W = np.linalg.solve(system, Q.reshape(-1, order="F")).reshape(4, 6, order="F")
    np.testing.assert_allclose(model.W, W, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("scoring", C.SAE_SCORINGS)
def test_sae_recovers_a_linear_map_in_both_directions(scoring):
    p = linear_zsl_problem()
    model = fit(C.SAE(C.SAEOptions(lambda_reg=0.2, scoring=scoring, l2_normalize_features=False)), p)
    assert unseen_accuracy(model, p) >= 0.95


def test_sae_scoring_directions_are_the_documented_ones():
    p = linear_zsl_problem()
    s2v = fit(C.SAE(C.SAEOptions(scoring="semantic_to_visual")), p)
    v2s = C.SAE(C.SAEOptions(scoring="visual_to_semantic"))
    v2s.W = s2v.W
    x, a = p["x_test"], p["attributes"]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    decoded = a @ s2v.W  # W^T s_c as rows
    expected_s2v = xn @ (decoded / np.linalg.norm(decoded, axis=1, keepdims=True)).T
    encoded = xn @ s2v.W.T
    expected_v2s = (encoded / np.linalg.norm(encoded, axis=1, keepdims=True)) @ (a / np.linalg.norm(a, axis=1, keepdims=True)).T
    np.testing.assert_allclose(s2v.class_scores(x, a), expected_s2v, rtol=1e-6)
    np.testing.assert_allclose(v2s.class_scores(x, a), expected_v2s, rtol=1e-6)


# --------------------------------------------------------------------------- ALE / DeViSE losses


def test_harmonic_rank_weights():
    w = C.harmonic_weights(3)
    np.testing.assert_allclose(w.numpy(), [0.0, 1.0, (1 + 1 / 2) / 2, (1 + 1 / 2 + 1 / 3) / 3], rtol=1e-6)


def test_ale_loss_by_hand():
    scores = torch.tensor([[1.0, 0.5, 0.8], [2.0, 0.0, 1.5]])
    targets = torch.tensor([0, 0])
    # image 1: violations 1+0.5-1 = 0.5 and 1+0.8-1 = 0.8, rank 2, weight (1 + 1/2)/2 -> 0.975
    # image 2: 1+0-2 < 0 and 1+1.5-2 = 0.5, rank 1, weight 1 -> 0.5
    assert C.ale_loss(scores, targets, margin=1.0).item() == pytest.approx((0.975 + 0.5) / 2)


def test_ale_rank_weight_is_a_constant_of_the_step():
    scores = torch.tensor([[1.0, 0.5, 0.8]], requires_grad=True)
    C.ale_loss(scores, torch.tensor([0]), margin=1.0).backward()
    # d/ds of 0.75 * ((1 + s1 - s0) + (1 + s2 - s0)): the weight is not differentiated
    np.testing.assert_allclose(scores.grad.numpy(), [[-1.5, 0.75, 0.75]], rtol=1e-6)


def test_devise_loss_by_hand():
    scores = torch.tensor([[1.0, 0.5, 0.8], [0.2, 0.0, 0.1]])
    targets = torch.tensor([0, 2])
    # image 1: max(0, 0.3+0.5-1) + max(0, 0.3+0.8-1) = 0 + 0.1; image 2: (0.3+0.2-0.1) + (0.3+0-0.1) = 0.6
    assert C.devise_loss(scores, targets, margin=0.3).item() == pytest.approx((0.1 + 0.6) / 2)


def test_no_loss_when_every_margin_holds():
    scores = torch.tensor([[5.0, 0.0, 1.0]])
    assert C.ale_loss(scores, torch.tensor([0]), 1.0).item() == 0.0
    assert C.devise_loss(scores, torch.tensor([0]), 1.0).item() == 0.0


@pytest.mark.parametrize("loss,options", [("ale", C.ALEOptions), ("devise", C.DeViSEOptions)])
def test_ranking_training_improves_accuracy(loss, options):
    p = linear_zsl_problem(seed=4, noise=0.5, per_class=20)
    untrained = fit(C.BilinearCompatibility(options(epochs=1, lr=1e-7), loss, seed=0), p)
    trained = fit(C.BilinearCompatibility(options(epochs=40, lr=1e-2), loss, seed=0), p)
    assert trained.loss_history[-1] < trained.loss_history[0]
    assert unseen_accuracy(trained, p) >= unseen_accuracy(untrained, p) + 0.3
    assert unseen_accuracy(trained, p) >= 0.7


def test_ranking_training_is_seeded():
    p = linear_zsl_problem(per_class=5)
    a = fit(C.BilinearCompatibility(C.ALEOptions(epochs=2), "ale", seed=3), p).W
    b = fit(C.BilinearCompatibility(C.ALEOptions(epochs=2), "ale", seed=3), p).W
    c = fit(C.BilinearCompatibility(C.ALEOptions(epochs=2), "ale", seed=4), p).W
    assert torch.equal(a, b) and not torch.equal(a, c)


# --------------------------------------------------------------------------- linear attribute head


def test_attribute_head_learns_and_scores_with_sigma():
    p = linear_zsl_problem(per_class=10)
    model = fit(C.LinearAttributeHead(C.AttributeHeadOptions(epochs=15, lr=1e-2, sigma=5.0), seed=0), p)
    assert model.loss_history[-1] < model.loss_history[0]
    assert unseen_accuracy(model, p) >= 0.8
    scores = model.class_scores(p["x_test"], p["attributes"])
    assert np.abs(scores).max() <= 5.0 + 1e-5  # sigma * cosine


# --------------------------------------------------------------------------- inputs, options, specs


def test_fit_rejects_inconsistent_inputs():
    with pytest.raises(DataError, match="targets"):
        C.ESZSL(C.ESZSLOptions()).fit(np.zeros((4, 3)), np.array([0, 1, 2, 5]), np.zeros((3, 2)))
    with pytest.raises(DataError, match="feature rows"):
        C.SAE(C.SAEOptions()).fit(np.zeros((4, 3)), np.array([0, 1]), np.zeros((3, 2)))


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="scoring"):
        C.SAE(C.SAEOptions(scoring="sideways"))
    with pytest.raises(UsageError, match="targets"):
        C.ESZSL(C.ESZSLOptions(targets="ternary"))
    with pytest.raises(UsageError, match="optimizer"):
        C.BilinearCompatibility(C.ALEOptions(optimizer="lbfgs"), "ale")
    with pytest.raises(UsageError, match="fit"):
        C.ESZSL(C.ESZSLOptions()).class_scores(np.zeros((1, 2)), np.zeros((1, 2)))


def test_specs_are_feature_methods_with_res101_defaults():
    specs = {spec.name: spec for spec in C.CLASSIC_METHODS}
    assert set(specs) == {"eszsl", "sae", "ale", "devise", "feat-attr-head"}
    assert specs["feat-attr-head"].aliases == ("linear-probe",)
    context = MethodContext(dataset_name="synthetic-tiny", attribute_names=["a"], num_attributes=1, image_size=32)
    for spec in specs.values():
        assert spec.kind == "feature" and spec.description
        assert spec.default_backbone("awa2") == spec.default_backbone("CUB") == "resnet101-xlsa17"
        assert spec.default_backbone("synthetic") == "vit-synthetic-v2"
        assert spec.default_backbone("synthetic-v1") == "vit-synthetic"
        assert spec.default_backbone("synthetic-tiny") == "vit-synthetic-tiny"
        model = spec.build(context, spec.options_type())
        assert isinstance(model, FeatureZSLModel)
        assert dataclasses.is_dataclass(spec.options_type)
    assert specs["eszsl"].reference_results["awa2"] == {"T1": 58.6, "U": 5.9, "S": 77.8, "H": 11.0,
                                                         "source": f"{C.SOURCE}, {C.QUOTED_ALE_DEVISE_ESZSL}"}
    assert specs["sae"].reference_results["awa2"]["T1"] == 54.1
    assert specs["ale"].reference_results["cub"]["T1"] == 54.9 and specs["ale"].reference_results["cub"]["H"] == 34.4
    assert specs["devise"].reference_results["apy"]["U"] == 4.9 and specs["sae"].reference_results["awa1"]["H"] == 3.5
    for name in ("eszsl", "sae", "ale", "devise"):
        assert set(specs[name].reference_results) == {"awa1", "awa2", "apy", "cub", "sun"}  # GBU has no FLO

    def harmonic(u, s):
        return 2 * u * s / (u + s)

    for spec in specs.values():
        for row in spec.reference_results.values():
            u, s, h = row["U"], row["S"], row["H"]
            # the published H is the harmonic mean of the unrounded U and S (each rounded to 0.1)
            assert harmonic(u - 0.05, s - 0.05) - 0.05 <= h <= harmonic(u + 0.05, s + 0.05) + 0.05
    assert C.method_specs() == C.CLASSIC_METHODS and C.method_specs() is not C.CLASSIC_METHODS


def test_devise_defaults_to_the_papers_margin():
    assert C.DeViSEOptions().margin == 0.1 and C.ALEOptions().margin == 1.0
