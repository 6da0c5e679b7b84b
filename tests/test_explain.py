"""``zslbench explain`` with a tiny fake method (patch selection + attribute maps) on a tiny masked dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from zslbench import registry, store
from zslbench.checkpoints import save_checkpoint
from zslbench.cli import main
from zslbench.data.dataset import ArrayImages, ZSLDataset
from zslbench.results.explain import explain, load_trained_model, prepare_image
from zslbench.methods import ImageZSLModel, MethodSpec
from zslbench.registry import DatasetSpec, Entry, Origin

from test_plots import assert_png

SIZE = 16


@dataclass
class FakeOptions:
    capabilities: str = "both"  # both (patch selection + attribute maps) | none


class FakeModel(ImageZSLModel):
    """Keeps the patches whose ``keep`` weight is positive; attribute maps are the ``maps`` weights."""

    patch_grid = (2, 2)

    def __init__(self, num_attributes: int, num_classes: int):
        super().__init__()
        self.keep = nn.Parameter(torch.zeros(4))
        self.maps = nn.Parameter(torch.zeros(num_attributes, 2, 2))
        self.class_bias = nn.Parameter(torch.zeros(num_classes))

    def class_scores(self, images, class_attributes):
        return self.class_bias.expand(images.shape[0], -1)

    def patch_selection(self, images):
        return (self.keep > 0).expand(images.shape[0], -1)

    def attribute_maps(self, images):
        return self.maps.expand(images.shape[0], -1, -1, -1)


class Plain(ImageZSLModel):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def class_scores(self, images, class_attributes):
        return torch.zeros(images.shape[0], class_attributes.shape[0])


def build_fake(context, options: FakeOptions):
    if options.capabilities == "none":
        return Plain()
    return FakeModel(context.num_attributes, 4)


def make_dataset(_cfg) -> ZSLDataset:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 3)
    pixels = rng.integers(0, 255, size=(12, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.zeros((12, SIZE, SIZE), dtype=bool)
    masks[:, 2:8, 2:8] = True
    return ZSLDataset(name="toy-masks", class_names=["ant", "bee", "cat", "dog"], attribute_names=["red", "round", "big"],
                      class_attributes=np.eye(4, 3, dtype=np.float32), labels=labels,
                      splits={"trainval": np.array([0, 1, 3, 4, 6, 7]), "test_seen": np.array([2, 5, 8]),
                              "test_unseen": np.arange(9, 12)},  # every seen class in trainval and test_seen
                      seen_classes=np.array([0, 1, 2]), unseen_classes=np.array([3]), images=ArrayImages(pixels),
                      masks=masks, meta={"recipe": "synthetic"})


@pytest.fixture
def fake_method(monkeypatch):
    from zslbench.plugins import load_plugins

    load_plugins()
    spec = MethodSpec(name="fake-explainer", build=build_fake, options_type=FakeOptions)
    dataset = DatasetSpec(name="toy-masks", load=make_dataset, default_image_size=SIZE, needs_download=False)
    monkeypatch.setitem(registry.methods._entries, spec.name, Entry(spec.name, spec, Origin("test")))
    monkeypatch.setitem(registry.datasets._entries, dataset.name, Entry(dataset.name, dataset, Origin("test")))
    return spec


def write_trained_run(root, capabilities: str = "both", checkpoint: bool = True, state: str = "complete"):
    """A complete run whose checkpoint keeps patches 0 and 3, ranks attributes big > red > round, predicts 'cat'."""
    from zslbench.runner import resolve_run

    resolved = resolve_run("fake-explainer", "toy-masks", None, [f"method.capabilities={capabilities}"],
                           {"out": str(root)})
    run = store.run_dir_for(root, "toy-masks", "fake-explainer", "20260101-000000-s0-abcdef")
    store.atomic_write_json(run / store.CONFIG_FILE, resolved.config.to_dict())
    store.write_status(run, state)
    if checkpoint:
        if capabilities == "none":
            state = Plain().state_dict()
        else:
            model = FakeModel(3, 4)
            with torch.no_grad():
                model.keep.copy_(torch.tensor([1.0, -1.0, -1.0, 1.0]))
                model.maps.copy_(torch.tensor([0.5, 0.1, 0.9]).view(3, 1, 1).expand(3, 2, 2))
                model.class_bias.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0]))
            state = model.state_dict()
        save_checkpoint(run / store.CHECKPOINT_FILE, {"model": state, "epoch": 1})
    return run


def test_explain_draws_the_trained_selection_and_top_attributes(tmp_path, fake_method):
    run = write_trained_run(tmp_path)
    loaded = load_trained_model(run)
    image = prepare_image(loaded, index=10)
    assert image.tensor.shape == (3, SIZE, SIZE) and image.mask.shape == (SIZE, SIZE) and image.mask[3, 3]
    assert 0.0 <= image.display.min() and image.display.max() <= 1.0
    assert "dog" in image.caption and "test_unseen" in image.caption
    data = explain(loaded, image, tmp_path / "explain.png", top_k=2)
    assert_png(data["path"])
    assert data["kept"] == [[True, False], [False, True]] and data["hatched_patches"] == 2
    assert data["attributes"] == ["big", "red"] and data["top_attributes"] == [2, 0]
    assert data["scores"] == pytest.approx([0.9, 0.5])
    assert data["predicted"] == 2


def test_explain_cli_with_index_and_with_an_image_file(tmp_path, fake_method):
    from matplotlib.image import imsave

    run = write_trained_run(tmp_path)
    out = tmp_path / "by-index.png"
    result = CliRunner().invoke(main, ["explain", str(run), "--index", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_png(out)
    picture = tmp_path / "photo.png"
    imsave(picture, np.random.default_rng(0).random((24, 20, 3)))
    out = tmp_path / "by-file.png"
    result = CliRunner().invoke(main, ["explain", str(run), "--image", str(picture), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_png(out)


def test_method_without_either_capability_is_a_clear_error(tmp_path, fake_method):
    run = write_trained_run(tmp_path, capabilities="none")
    result = CliRunner().invoke(main, ["explain", str(run), "--index", "0", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "neither selects patches nor localizes attributes" in result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--index", "0", "--image", "a.png", "--out", "x.png"], "at most one of --index"),
    (["--index", "99", "--out", "x.png"], "outside 0..11"),
])
def test_bad_input_is_one_line(tmp_path, fake_method, args, message):
    run = write_trained_run(tmp_path)
    result = CliRunner().invoke(main, ["explain", str(run), *args])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_without_an_image_the_first_unseen_test_image_is_explained(tmp_path, fake_method):
    run = write_trained_run(tmp_path)
    loaded = load_trained_model(run)
    image = prepare_image(loaded)
    assert "image 9 (test_unseen)" in image.caption
    out = tmp_path / "default.pdf"
    result = CliRunner().invoke(main, ["explain", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == b"%PDF-"


def test_explanation_has_a_colourbar_and_the_clean_image_first(tmp_path, fake_method):
    loaded = load_trained_model(write_trained_run(tmp_path))
    data = explain(loaded, prepare_image(loaded, index=10), tmp_path / "e.png", top_k=2)
    assert data["panels"][0].startswith("image") and data["colorbar"] == pytest.approx([0.5, 0.9])


def test_run_without_checkpoint_or_directory(tmp_path, fake_method):
    run = write_trained_run(tmp_path, checkpoint=False)
    result = CliRunner().invoke(main, ["explain", str(run), "--index", "0", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "checkpoint.safetensors" in result.stderr
    assert "feature method" not in result.stderr
    result = CliRunner().invoke(main, ["explain", str(tmp_path / "nope"), "--index", "0", "--out", "x.png"])
    assert result.exit_code == 2 and "not found" in result.stderr


def test_an_interrupted_image_run_says_so_and_how_to_resume(tmp_path, fake_method):
    run = write_trained_run(tmp_path, checkpoint=False, state="interrupted")
    result = CliRunner().invoke(main, ["explain", str(run), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "interrupted" in result.stderr and "--resume" in result.stderr
    assert "feature methods store no model" not in result.stderr
