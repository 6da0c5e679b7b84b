"""Tests of the ViT attribute-head baseline and the baselines plugin's registration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zslbench.config import TrainConfig, build_dataclass, resolve_run_config
from zslbench.errors import UsageError
from zslbench.methods import MethodContext, MethodSpec

from zslbench_baselines import plugin, vit_baseline
from zslbench_baselines.vit_baseline import ViTBaselineOptions
from zslbench_baselines.vit_baseline_model import ViTAttributeHead

K = 10
SEEN = 5


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))


def _context() -> MethodContext:
    return MethodContext(dataset_name="synthetic-tiny", attribute_names=[f"a{i}" for i in range(K)],
                         num_attributes=K, image_size=32)


def _spec() -> MethodSpec:
    return {s.name: s for s in vit_baseline.method_specs()}["baseline"]


def _model(seed: int = 0, **options) -> ViTAttributeHead:
    torch.manual_seed(seed)
    spec = _spec()
    _, opts = resolve_run_config([{"method": "baseline"}, {"method": options}], spec.options_type)
    return spec.build(_context(), opts)


def _batch(batch: int = 8):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, SEEN, (batch,), generator=g),
            torch.rand(SEEN, K, generator=g))


def test_spec_is_registered_with_its_alias_and_published_numbers():
    registered: list[MethodSpec] = []
    plugin.register_methods(registered.append)
    spec = {s.name: s for s in registered}["baseline"]
    assert spec.aliases == ("vit-attr-head",) and spec.kind == "image" and spec.variant_of is None
    assert spec.reference_results["awa2"] == {"T1": 61.4, "U": 58.0, "S": 81.6, "H": 67.8,
                                              "source": "SVIP, ICCV 2025, Table 2"}
    assert spec.default_backbone("sun") == "vit_base_patch16_224"
    assert spec.default_backbone("synthetic-tiny") == "vit-synthetic-tiny"


def test_plugin_registers_every_listed_spec_source(monkeypatch):
    before = [s.name for s in plugin.method_specs()]
    extra = MethodSpec(name="dummy-baseline", build=lambda c, o: None, options_type=ViTBaselineOptions)
    monkeypatch.setattr(plugin, "SPEC_SOURCES", [*plugin.SPEC_SOURCES, lambda: [extra]])
    registered: list[MethodSpec] = []
    plugin.register_methods(registered.append)
    assert "baseline" in before
    assert [s.name for s in registered] == [*before, "dummy-baseline"]


@pytest.mark.parametrize("dataset", ["cub", "awa2", "sun", "synthetic", "synthetic-v1", "synthetic-tiny",
                                     "synthetic-v2-tiny", "custom"])
def test_training_recipe_is_svips(dataset):
    svip_plugin = pytest.importorskip("zslbench_svip.plugin")
    assert vit_baseline.training_recipe(dataset) == svip_plugin.training_recipe(dataset)
    defaults = _spec().dataset_defaults(dataset)
    assert defaults["train"] == svip_plugin.method_specs()[0].dataset_defaults(dataset)["train"]
    build_dataclass(TrainConfig, defaults["train"])
    assert vit_baseline.default_backbone(dataset) == svip_plugin.default_backbone(dataset)


def test_scores_are_sigma_times_cosine_of_the_class_token_head():
    model = _model(sigma=3.0).eval()
    images, _, class_attributes = _batch()
    with torch.no_grad():
        cls = model.backbone.vit.forward_features(images)[:, 0]
        attributes = cls @ model.attribute_head.weight.T + model.attribute_head.bias
        expected = 3.0 * F.normalize(attributes, dim=-1) @ F.normalize(class_attributes, dim=-1).T
        scores = model.class_scores(images, class_attributes)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_loss_is_cross_entropy_over_the_given_classes():
    model = _model().eval()
    images, targets, class_attributes = _batch()
    with torch.no_grad():
        terms = model.training_losses(images, targets, class_attributes)
        expected = F.cross_entropy(model.class_scores(images, class_attributes), targets)
    torch.testing.assert_close(terms["loss"], expected)


def test_a_few_steps_on_a_fixed_batch_drive_the_loss_down(train_on_batch):
    model = _model()
    images, targets, class_attributes = _batch()
    history = train_on_batch(model, images, targets, class_attributes, torch.optim.Adam(model.parameters(), lr=2e-3),
                             steps=12)
    assert history[-1] < 0.7 * history[0], history


def test_head_parameters_are_the_attribute_head_only():
    model = _model()
    assert {id(p) for p in model.head_parameters()} == {id(p) for p in model.attribute_head.parameters()}


def test_invalid_sigma_is_a_usage_error():
    with pytest.raises(UsageError):
        _model(sigma=0.0)
