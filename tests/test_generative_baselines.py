"""Feature-generating baselines: the shared recipe and f-CLSWGAN on planted features, specs, and runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main
from zslbench.errors import DataError, UsageError
from zslbench.methods import FeatureZSLModel, MethodContext
from zslbench_baselines import f_clswgan as W
from zslbench_baselines import f_clswgan_model as WM
from zslbench_baselines import generative as G

from fixtures_xlsa17 import build_xlsa17_layout


def planted_problem(seed: int = 0, num_classes: int = 10, num_unseen: int = 3, num_attributes: int = 8,
                    dim: int = 32, per_class: int = 60, noise: float = 0.1):
    """Non-negative features x = relu(a_y M + noise): the class embedding determines the feature distribution."""
    rng = np.random.default_rng(seed)
    attributes = rng.random((num_classes, num_attributes)).astype(np.float32)
    mixing = rng.normal(size=(num_attributes, dim))
    seen, unseen = np.arange(num_classes - num_unseen), np.arange(num_classes - num_unseen, num_classes)

    def sample(classes):
        labels = np.repeat(classes, per_class)
        x = np.maximum(attributes[labels] @ mixing + noise * rng.normal(size=(len(labels), dim)), 0.0)
        return x.astype(np.float32), labels

    x_train, y_train = sample(seen)
    x_seen, y_seen = sample(seen)
    x_unseen, y_unseen = sample(unseen)
    return dict(attributes=attributes, seen=seen, unseen=unseen, x_train=x_train, y_train=y_train,
                x_seen=x_seen, y_seen=y_seen, x_unseen=x_unseen, y_unseen=y_unseen)


#: Small networks and enough steps for the planted problem (the paper's sizes are the option defaults).
PLANTED = dict(syn_num=200, epochs=20, iterations_per_epoch=10, hidden_dim=64, lr=1e-3, cls_weight=1.0,
               pretrain_epochs=300, classifier_epochs=100)


def fitted(seed: int = 0, **changes) -> G.GenerativeZSL:
    p = planted_problem(seed)
    options = W.FCLSWGANOptions(**{**PLANTED, **changes})
    model = G.GenerativeZSL(options, WM.WGANGP(options, seed=seed), seed=seed)
    model.fit(p["x_train"], p["y_train"], p["attributes"][p["seen"]])  # targets 0..S-1 index the seen rows
    return model


@pytest.fixture(scope="module")
def planted():
    torch.set_num_threads(1)
    return planted_problem(0), fitted(0), fitted(0, syn_num=0)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))


# --------------------------------------------------------------------------- planted features


def test_generated_unseen_features_recover_unseen_accuracy(planted):
    p, model, _ = planted
    zsl = model.class_scores(p["x_unseen"], p["attributes"][p["unseen"]])  # ZSL head: synthetic features only
    t1 = accuracy(p["unseen"][zsl.argmax(1)], p["y_unseen"])
    assert t1 > 0.8  # chance: 1/3
    gzsl = model.class_scores(p["x_unseen"], p["attributes"])  # GZSL head: real seen + synthetic unseen
    assert accuracy(gzsl.argmax(1), p["y_unseen"]) > 0.5  # chance: 1/10, and seen classes compete
    assert np.allclose(np.exp(gzsl).sum(1), 1.0, atol=1e-4)  # log-probabilities of the final softmax


def test_the_seen_only_classifier_does_not(planted):
    p, _, seen_only = planted
    assert seen_only.history == []  # no generator is trained when nothing is synthesised
    gzsl = seen_only.class_scores(p["x_unseen"], p["attributes"])
    assert accuracy(gzsl.argmax(1), p["y_unseen"]) < 0.1
    assert accuracy(seen_only.class_scores(p["x_seen"], p["attributes"]).argmax(1), p["y_seen"]) > 0.9
    with pytest.raises(DataError, match="syn_num"):  # a ZSL head needs synthetic features
        seen_only.class_scores(p["x_unseen"], p["attributes"][p["unseen"]])


def test_generator_training_records_its_losses(planted):
    _, model, _ = planted
    assert len(model.history) == PLANTED["epochs"]
    first, last = model.history[0], model.history[-1]
    assert set(first) == {"wasserstein", "gradient_penalty", "generator_adversarial", "generator_classification"}
    # the classifier regulariser makes generated features recognisable by the seen classifier
    assert last["generator_classification"] < first["generator_classification"]


def test_final_classifier_is_trained_once_per_class_set(planted):
    p, model, _ = planted
    first = model.class_scores(p["x_seen"][:5], p["attributes"])
    head = model._head
    again = model.class_scores(p["x_seen"][:5], p["attributes"])
    assert model._head is head
    np.testing.assert_array_equal(first, again)
    model.class_scores(p["x_seen"][:5], p["attributes"][p["unseen"]])
    assert model._head is not head


# --------------------------------------------------------------------------- the pieces


def test_gradient_penalty_of_a_linear_critic():
    """D(x, a) = w.x + v.a has gradient w everywhere: the penalty is (||w|| - 1)^2."""
    w, v = torch.tensor([3.0, 4.0]), torch.tensor([1.0])

    def critic(x, a):
        return x @ w + a @ v

    real, fake, a = torch.randn(8, 2), torch.randn(8, 2), torch.randn(8, 1)
    penalty = WM.gradient_penalty(critic, real, fake, a, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_min_max_scaling_is_fitted_on_training_features():
    train = np.array([[0.0, 2.0, 5.0], [4.0, 6.0, 5.0]], dtype=np.float32)
    scaler = G.MinMaxScaler(train)
    np.testing.assert_allclose(scaler(train), [[0, 0, 0], [1, 1, 0]])
    np.testing.assert_allclose(scaler(np.array([[2.0, 10.0, 7.0]])), [[0.5, 2.0, 0.0]])  # not clipped


def test_generator_architecture_follows_the_paper():
    options = W.FCLSWGANOptions()
    assert (options.hidden_dim, options.critic_iters, options.gp_weight, options.batch_size) == (4096, 5, 10.0, 64)
    net = WM.ConditionalMLP(85, 85, 16, 2048, relu_output=True)
    out = net(torch.randn(4, 85), torch.rand(4, 85))
    assert out.shape == (4, 2048) and (out >= 0).all()
    assert float(net.hidden.weight.detach().std()) == pytest.approx(0.02, rel=0.2) and not net.hidden.bias.any()


def test_the_seen_classifier_stays_frozen():
    p = planted_problem(1, per_class=10)
    options = W.FCLSWGANOptions(**{**PLANTED, "epochs": 1, "iterations_per_epoch": 2, "pretrain_epochs": 2})
    member = WM.WGANGP(options)
    x = torch.as_tensor(p["x_train"])
    y = torch.as_tensor(p["y_train"])
    rng = torch.Generator().manual_seed(0)
    classifier = G.train_softmax(x, y, len(p["seen"]), 1e-3, 0.5, 2, 32, rng).requires_grad_(False)
    before = classifier.weight.clone()
    member.train(G.TrainingData(x, y, torch.as_tensor(p["attributes"][p["seen"]]), classifier, rng))
    assert torch.equal(classifier.weight, before)
    assert member.synthesise(torch.as_tensor(p["attributes"][:2]), rng).shape == (2, x.shape[1])


def test_fits_are_seeded():
    small = dict(epochs=2, iterations_per_epoch=3, pretrain_epochs=3, classifier_epochs=3, syn_num=20)
    p = planted_problem(2)
    a = fitted(2, **small).class_scores(p["x_unseen"][:10], p["attributes"])
    b = fitted(2, **small).class_scores(p["x_unseen"][:10], p["attributes"])
    np.testing.assert_array_equal(a, b)


def test_bad_options_and_inputs():
    with pytest.raises(UsageError, match="invalid options"):
        G.GenerativeZSL(W.FCLSWGANOptions(epochs=0), WM.WGANGP(W.FCLSWGANOptions()))
    model = G.GenerativeZSL(W.FCLSWGANOptions(), WM.WGANGP(W.FCLSWGANOptions()))
    with pytest.raises(UsageError, match="fit"):
        model.class_scores(np.zeros((1, 3)), np.zeros((2, 2)))
    with pytest.raises(DataError, match="targets"):
        model.fit(np.zeros((2, 3)), np.array([0, 5]), np.zeros((2, 2)))
    bad = W.FCLSWGANOptions(**{**PLANTED, "critic_iters": 0, "epochs": 1})
    with pytest.raises(UsageError, match="critic_iters"):
        G.GenerativeZSL(bad, WM.WGANGP(bad)).fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), np.eye(2))


# --------------------------------------------------------------------------- spec, defaults, runs


def test_spec_defaults_and_reference_numbers():
    spec = W.F_CLSWGAN
    assert spec.kind == "feature" and dataclasses.is_dataclass(spec.options_type)
    for name in ("awa1", "awa2", "apy", "cub", "sun", "flo"):
        assert spec.default_backbone(name) == "resnet101-xlsa17"
    assert spec.dataset_defaults("cub")["method"] == dict(syn_num=300, epochs=56, lr=1e-4, classifier_lr=1e-3,
                                                          cls_weight=0.01)
    assert spec.dataset_defaults("flo")["method"]["cls_weight"] == 0.1
    assert spec.dataset_defaults("apy") == {}  # no published setting: the option defaults
    assert set(spec.reference_results) == {"awa1", "cub", "sun"}  # FLO's numbers were not found
    assert spec.reference_results["cub"] == {"T1": 57.3, "H": 49.7, "source": W.SOURCE_ZSL_GZSL}
    context = MethodContext(dataset_name="awa2", attribute_names=["a"], num_attributes=1, image_size=224)
    assert isinstance(spec.build(context, spec.options_type()), FeatureZSLModel)


def test_per_dataset_defaults_are_resolved_and_overridable():
    from zslbench.runner import resolve_run

    resolved = resolve_run("f-clswgan", "sun", set_items=["method.epochs=3"])
    assert resolved.options.epochs == 3 and resolved.options.syn_num == 400 and resolved.options.lr == 2e-4
    assert resolved.config.backbone == "resnet101-xlsa17"


#: Tiny networks for runs on the miniature res101 fixture (2048-d random features).
TINY = ["method.hidden_dim=16", "method.epochs=1", "method.iterations_per_epoch=2", "method.syn_num=5",
        "method.pretrain_epochs=1", "method.classifier_epochs=1", "method.batch_size=8"]


def _run(tmp_path: Path, *args: str, dataset: str = "awa2"):
    layout = build_xlsa17_layout(tmp_path / dataset, dataset, with_images=False, n_classes=8, n_unseen=2,
                                 images_per_class=6)
    sets = [item for s in TINY for item in ("--set", s)]
    result = CliRunner().invoke(main, ["run", "f-clswgan", "--dataset", dataset, "--data-root", str(layout.root),
                                       "--out", str(tmp_path / "runs"), "--quiet", *sets, *args])
    assert result.exit_code == 0, result.output
    (run,) = list((tmp_path / "runs").glob("*/*/*/"))
    return layout, store.read_run(run)


def test_run_on_published_res101_features_without_images(tmp_path):
    layout, record = _run(tmp_path)
    assert record.config["backbone"] == "resnet101-xlsa17" and record.config["method"] == "f-clswgan"
    assert record.config["method_options"]["syn_num"] == 5  # --set over the awa2 default (1800)
    assert record.config["method_options"]["cls_weight"] == 0.01  # the awa2 default
    counts = record.metrics["test"]["counts"]
    assert counts["images_test_unseen"] == len(layout.test_unseen_loc)
    assert 0.0 <= record.metrics["test"]["h"] <= 1.0 and record.timings["fit_seconds"] > 0


def test_tune_grid_under_gbu_chooses_on_validation_classes(tmp_path):
    _, record = _run(tmp_path, "--protocol", "gbu", "--set", "tune.cls_weight=[0.0, 0.1]")
    validation = record.metrics["validation"]
    assert [t["options"] for t in validation["trials"]] == [{"cls_weight": 0.0}, {"cls_weight": 0.1}]
    assert validation["chosen_options"] in [t["options"] for t in validation["trials"]]
    assert record.metrics["test"]["cs_gamma"] == validation["chosen_gamma"]


def test_compare_shows_our_row_beside_the_paper_row(tmp_path):
    _run(tmp_path, dataset="awa1")
    result = CliRunner().invoke(main, ["compare", "f-clswgan", "--dataset", "awa1", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    paper = [line for line in result.output.splitlines() if "paper" in line and "68.2" in line]
    assert paper and "59.6" in paper[0]  # T1 and H of Xian et al. (CVPR 2018) on AwA1
    assert "tafe-net" in result.output  # the source note
