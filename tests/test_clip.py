"""clip-zeroshot and the open_clip loader (zslbench.models.vision_language): tiny random models, no download.

Every model here is a random open_clip CLIP at width 32 with one layer (tests/fixtures_clip.py), put in a
temporary offline Hugging Face cache or in local files; numbers are compared in float64.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from fixtures_clip import (cache_open_clip, cache_timm_tower, offline_hf_cache, save_open_clip, tiny_open_clip,
                           tiny_towers)
from fixtures_xlsa17 import build_xlsa17_layout
from zslbench import store
from zslbench.cli import main
from zslbench.errors import DataError, UsageError
from zslbench.models import vision_language
from zslbench.models.vision_language import load_clip, text_embeddings

pytest.importorskip("open_clip")

from zslbench_baselines.clip_zeroshot import (  # noqa: E402
    ENSEMBLE_TEMPLATES, ClipZeroShotOptions, build_clip_zeroshot, clean_attribute_name, clean_class_name,
    templates_for,
)
from zslbench_baselines.clip_zeroshot_model import ClipZeroShot  # noqa: E402

BACKBONE = "clip-vit-b16-openai"


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    hub = offline_hf_cache(tmp_path, monkeypatch)
    tiny_towers(monkeypatch)
    return hub


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _runs(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/*/*/"))


def _float64_clip(path: Path):
    clip = load_clip(BACKBONE, str(path))
    clip.model.double()
    return clip


def _direct_text(clip, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return clip.model.encode_text(clip.tokenizer(texts))


# ----------------------------------------------------------------------------- names and templates


def test_class_and_attribute_names_are_cleaned_into_words():
    assert clean_class_name("002.Laysan_Albatross") == "Laysan Albatross"
    assert clean_class_name("grizzly+bear") == "grizzly bear"
    assert clean_class_name("airport_terminal") == "airport terminal"
    assert clean_attribute_name("has_bill_shape::curved_(up_or_down)") == "bill shape curved (up or down)"


def test_templates_per_dataset_and_the_default_ensemble():
    assert templates_for("CUB", "auto") == ("a photo of a {}, a type of bird.",)
    assert templates_for("synthetic-tiny", "auto") == ENSEMBLE_TEMPLATES
    assert templates_for("cub", "ensemble") == ENSEMBLE_TEMPLATES
    with pytest.raises(UsageError):
        templates_for("synthetic-tiny", "dataset")
    with pytest.raises(UsageError):
        ClipZeroShotOptions(classes_from="descriptions")


# ----------------------------------------------------------------------------- loading


def test_the_model_loads_identically_from_the_cache_a_folder_a_safetensors_file_and_a_bin_file(hub, tmp_path):
    model = tiny_open_clip(seed=3)
    cached = cache_open_clip(hub, model)
    folder_file = save_open_clip(model, tmp_path / "folder")
    bin_file = save_open_clip(model, tmp_path / "bin", weights_name="open_clip_pytorch_model.bin")
    sources = {"cache": None, "folder": str(folder_file.parent), "file": str(folder_file), "bin": str(bin_file)}
    expected = model.state_dict()
    for label, pretrained in sources.items():
        clip = load_clip(BACKBONE, pretrained)
        got = clip.model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in expected.items()), label
    assert load_clip(BACKBONE).source == "hf-hub:timm/vit_base_patch16_clip_224.openai"
    assert load_clip(BACKBONE).weights_digest == load_clip(BACKBONE, str(folder_file)).weights_digest  # same bytes
    assert str(cached).startswith(str(hub))


def test_missing_open_clip_weights_are_one_line_naming_model_cache_and_fetch_command(hub):
    with pytest.raises(DataError) as info:
        load_clip(BACKBONE)
    message = str(info.value)
    assert BACKBONE in message and "timm/vit_base_patch16_clip_224.openai" in message and str(hub) in message
    assert "\n" not in message
    assert "huggingface-cli download timm/vit_base_patch16_clip_224.openai" in info.value.hint
    assert "--pretrained none" in info.value.hint


def test_foreign_or_missing_files_are_data_errors_and_backbones_without_text_are_refused(hub, tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_clip(BACKBONE, str(tmp_path / "nope.safetensors"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no open_clip weights"):
        load_clip(BACKBONE, str(tmp_path / "empty"))
    other = save_open_clip(tiny_open_clip(), tmp_path / "other")
    config = json.loads((other.parent / "open_clip_config.json").read_text())
    config["model_cfg"]["embed_dim"] = 8  # the file no longer fits its configuration
    (other.parent / "open_clip_config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="do not fit"):
        load_clip(BACKBONE, str(other))
    with pytest.raises(UsageError, match="no text tower"):
        load_clip("dinov2-vit-b14", "none")


def test_pretrained_none_is_a_seeded_random_model(hub, monkeypatch):
    import copy

    import open_clip

    from fixtures_clip import TINY_OPEN_CLIP

    # open_clip's built-in ViT-B-16 configuration, shrunk (the full size takes seconds to initialise)
    monkeypatch.setattr(open_clip, "get_model_config", lambda name: copy.deepcopy(TINY_OPEN_CLIP))
    first, second = load_clip(BACKBONE, "none"), load_clip(BACKBONE, "none")
    assert first.weights_digest == second.weights_digest and first.weights_digest.startswith("random:")
    key = "text.token_embedding.weight" if "text.token_embedding.weight" in first.model.state_dict() \
        else "token_embedding.weight"
    assert torch.equal(first.model.state_dict()[key], second.model.state_dict()[key])


# ----------------------------------------------------------------------------- the numbers


@pytest.mark.numerics
def test_the_prompt_ensemble_is_the_renormalised_mean_of_normalised_template_embeddings(hub, tmp_path):
    clip = _float64_clip(save_open_clip(tiny_open_clip(seed=4), tmp_path / "m"))
    names = ["Laysan Albatross", "Sooty Albatross", "Crested Auklet"]
    templates = ("a photo of a {}.", "itap of a {}.", "art of the {}.")
    model = ClipZeroShot(clip, names, templates, cache_text=False)
    per_template = torch.stack([F.normalize(_direct_text(clip, [t.format(n) for n in names]), dim=-1)
                                for t in templates])
    expected = F.normalize(per_template.mean(0), dim=-1)
    assert model.word_embeddings.dtype == torch.float64
    torch.testing.assert_close(model.word_embeddings, expected, rtol=1e-12, atol=1e-12)
    # the renormalisation matters: the plain mean of unit vectors is shorter than 1
    assert float(per_template.mean(0).norm(dim=-1).max()) < 1 - 1e-6


@pytest.mark.numerics
@pytest.mark.parametrize("classes_from", ["names", "attributes"])
def test_scores_equal_logit_scale_times_cosine_on_a_hand_made_batch(hub, tmp_path, classes_from):
    clip = _float64_clip(save_open_clip(tiny_open_clip(seed=5), tmp_path / "m"))
    words = ["red wing", "long tail", "curved bill"] if classes_from == "attributes" else ["cat", "dog", "bird", "fox"]
    model = ClipZeroShot(clip, words, ("a photo of a {}.",), classes_from, cache_text=False)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 224, 224, generator=g, dtype=torch.float64)
    class_attributes = torch.tensor([[1.0, 0.0, 0.5], [0.2, 0.9, -0.3], [0.0, 0.4, 1.0], [0.7, 0.7, 0.0]],
                                    dtype=torch.float64)
    with torch.no_grad():
        scores = model.class_scores(images, class_attributes)
        image = F.normalize(clip.model.encode_image(images), dim=-1)
        text = F.normalize(_direct_text(clip, [f"a photo of a {w}." for w in words]), dim=-1)
        classes = text if classes_from == "names" else F.normalize(class_attributes.clamp_min(0) @ text, dim=-1)
        expected = clip.model.logit_scale.exp() * image @ classes.T
    assert scores.shape == (3, 4) and scores.dtype == torch.float64
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)


def test_text_embeddings_are_cached_on_disk_and_keyed_by_the_weights(hub, tmp_path, monkeypatch):
    first = save_open_clip(tiny_open_clip(seed=6), tmp_path / "a")
    second = save_open_clip(tiny_open_clip(seed=7), tmp_path / "b")
    cache_dir = Path(__import__("os").environ["ZSLBENCH_CACHE"]) / "text-embeddings"
    clip = load_clip(BACKBONE, str(first))
    texts = ["a photo of a cat.", "a photo of a dog."]
    computed = text_embeddings(clip, texts)
    assert len(list(cache_dir.glob("*.safetensors"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the text tower ran although the embeddings were cached")

    monkeypatch.setattr(clip.model, "encode_text", refuse)
    assert torch.equal(text_embeddings(clip, texts), computed)  # read back, the text tower not run
    assert len(list(cache_dir.glob("*.safetensors"))) == 1
    text_embeddings(load_clip(BACKBONE, str(second)), texts)  # other weights: another entry
    text_embeddings(load_clip(BACKBONE, str(first)), texts[:1])  # other prompts: another entry
    assert len(list(cache_dir.glob("*.safetensors"))) == 3


def test_build_checks_the_image_size_and_reads_class_names_from_the_context(hub, tmp_path):
    from zslbench.methods import MethodContext

    path = save_open_clip(tiny_open_clip(seed=8), tmp_path / "m")
    context = MethodContext(dataset_name="cub", attribute_names=["has_wing_color::blue"], num_attributes=1,
                            image_size=224, backbone=BACKBONE, pretrained=str(path),
                            class_names=["002.Laysan_Albatross", "003.Sooty_Albatross"])
    model = build_clip_zeroshot(context, ClipZeroShotOptions())
    assert model.words == ["Laysan Albatross", "Sooty Albatross"]
    assert model.templates == ("a photo of a {}, a type of bird.",)
    with pytest.raises(UsageError, match="data.image_size=224"):
        build_clip_zeroshot(MethodContext(**{**context.__dict__, "image_size": 32}), ClipZeroShotOptions())


# ----------------------------------------------------------------------------- runs


def test_clip_zeroshot_runs_end_to_end_on_synthetic_tiny_under_both_protocols(hub, tmp_path):
    cache_open_clip(hub, tiny_open_clip(seed=9))
    out = tmp_path / "runs"
    standard = _run("run", "clip-zeroshot", "--dataset", "synthetic-tiny", "--out", out)
    assert standard.exit_code == 0, standard.output
    assert "training-free method (no training steps)" in standard.output
    gbu = _run("run", "clip-zeroshot", "--dataset", "synthetic-tiny", "--out", out, "--protocol", "gbu", "--quiet")
    assert gbu.exit_code == 0, gbu.output
    records = [store.read_run(run) for run in _runs(out)]
    by_protocol = {r.metrics["protocol"]: r for r in records}
    for record in records:
        assert record.config["backbone"] == BACKBONE and record.config["data"]["image_size"] == 224
        assert record.metrics["backbone"]["grid"] == [14, 14]
        assert record.metrics["backbone"]["mean"] == [0.48145466, 0.4578275, 0.40821073]
        assert {"t1", "u", "s", "h", "ausuc"} <= set(record.metrics["test"])
        assert "history" not in record.metrics  # no epochs
    validation = by_protocol["gbu"].metrics["validation"]
    assert "chosen_gamma" in validation and set(validation["val_classes"]).isdisjoint(
        by_protocol["gbu"].metrics["test"].get("unseen_classes", []))
    assert by_protocol["gbu"].metrics["test"]["cs_h"] is not None
    assert by_protocol["standard"].metrics["test"].get("cs_h") is None


def test_missing_weights_stop_the_run_in_one_line_with_nothing_stored(hub, tmp_path):
    result = _run("run", "clip-zeroshot", "--dataset", "synthetic-tiny", "--out", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "huggingface-cli download" in lines[0]
    assert not _runs(tmp_path / "runs")


def test_clip_zeroshot_on_the_cub_split_files_names_and_attributes(hub, tmp_path):
    layout = build_xlsa17_layout(tmp_path / "cub", "cub", n_classes=6, n_unseen=2, images_per_class=3)
    cache_open_clip(hub, tiny_open_clip(seed=10))
    for classes_from in ("names", "attributes"):
        result = _run("run", "clip-zeroshot", "--dataset", "cub", "--data-root", layout.root, "--out",
                      tmp_path / "runs", "--set", f"method.classes_from={classes_from}", "--quiet")
        assert result.exit_code == 0, result.output
    assert len(_runs(tmp_path / "runs")) == 2


def _without_images(layout, copy: Path) -> Path:
    """A copy of ``layout``'s root without its image folder (file times kept: the split files are the same)."""
    import shutil

    shutil.copytree(layout.root, copy)
    shutil.rmtree(copy / layout.image_dir.relative_to(layout.root))
    return copy


def test_clip_zeroshot_scores_cached_image_embeddings_on_a_root_without_images_with_the_same_metrics(hub, tmp_path):
    layout = build_xlsa17_layout(tmp_path / "cub", "cub", n_classes=6, n_unseen=2, images_per_class=3)
    cache_open_clip(hub, tiny_open_clip(seed=12))
    built = _run("cache", "build", "--dataset", "cub", "--backbone", BACKBONE, "--image-embeddings",
                 "--root", layout.root, "--device", "cpu")
    assert built.exit_code == 0, built.output
    entry_name = Path(built.output.split(" (")[0].strip()).name
    bare = _without_images(layout, tmp_path / "bare")
    metrics = {}
    for where, root in (("images", layout.root), ("cached", bare)):
        for protocol in ("standard", "gbu"):
            out = tmp_path / f"runs-{where}-{protocol}"
            result = _run("run", "clip-zeroshot", "--dataset", "cub", "--data-root", root, "--out", out,
                          "--protocol", protocol, "--quiet")
            assert result.exit_code == 0, result.output
            (run,) = _runs(out)
            metrics[where, protocol] = store.read_run(run).metrics
    for protocol in ("standard", "gbu"):
        with_images, cached = metrics["images", protocol], metrics["cached", protocol]
        _assert_same_metrics(cached["test"], with_images["test"])
        assert "image_embeddings" not in with_images
        assert cached["image_embeddings"]["source"] == "feature-cache"
        assert cached["image_embeddings"]["file"] == entry_name
        assert entry_name.endswith(cached["image_embeddings"]["cache_key"][:12] + ".h5")
    gbu_images, gbu_cached = metrics["images", "gbu"]["validation"], metrics["cached", "gbu"]["validation"]
    _assert_same_metrics({k: gbu_cached[k] for k in gbu_images}, gbu_images)


def _assert_same_metrics(got, expected, key: str = "") -> None:
    """Accuracies, counts and curves equal exactly; a chosen gamma (a gap between two float32 scores) to float32
    precision. The cache is built in other batches than the run scores images in, so the embeddings agree to
    rounding, not bit for bit, on every CPU (AVX2, AVX-512 and scalar kernels sum in other orders)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), key
        for k in expected:
            _assert_same_metrics(got[k], expected[k], f"{key}.{k}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), key
        for i, (a, b) in enumerate(zip(got, expected)):
            _assert_same_metrics(a, b, f"{key}[{i}]")
    elif isinstance(expected, float) and "gamma" in key:
        assert got == pytest.approx(expected, rel=1e-5), key
    else:
        assert got == expected, key


def test_cached_image_embeddings_are_the_model_s_own_image_embeddings(hub, tmp_path):
    import numpy as np

    from zslbench.config import DataConfig
    from zslbench.data.transforms import build_transform
    from zslbench.data.xlsa17 import load_dataset
    from zslbench.features.cache import FeatureCache
    from zslbench.models.backbones import expected_mean_std
    from zslbench.models.clip_image_cache import ImageEmbeddingRequest, ensure_image_embeddings, read_image_embeddings

    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", n_classes=4, n_unseen=1, images_per_class=2)
    weights = save_open_clip(tiny_open_clip(seed=13), tmp_path / "w")
    dataset = load_dataset("awa2", DataConfig(root=str(layout.root)))
    clip = load_clip(BACKBONE, str(weights))
    mean_std = expected_mean_std(BACKBONE)
    request = ImageEmbeddingRequest(dataset, BACKBONE, clip, 224, mean_std)
    cache = FeatureCache(tmp_path / "features")
    ensure_image_embeddings(request, cache, batch_size=3)
    feats, key = read_image_embeddings(request, ("test_unseen",), str(weights), cache)
    assert key.weights_checksum == clip.weights_digest and key.dtype == "float32"
    ids = feats["test_unseen"].image_ids
    transform = build_transform("awa2", 224, train=False, mean_std=mean_std)
    images = torch.stack([transform(dataset.images.load(int(i))) for i in ids])
    with torch.no_grad():
        direct = clip.model.double().encode_image(images.double()).numpy()
    stored = feats["test_unseen"].features.astype(np.float64)
    # float32 forward (stored) against the float64 forward: agreement to float32 rounding, relative to the norm
    assert np.max(np.abs(stored - direct)) <= 1e-4 * np.max(np.linalg.norm(direct, axis=1))
    other = load_clip(BACKBONE, str(save_open_clip(tiny_open_clip(seed=14), tmp_path / "w2")))
    assert ImageEmbeddingRequest(dataset, BACKBONE, other, 224, mean_std).key() != key  # keyed by the weights


def test_a_feature_only_root_without_cached_embeddings_is_one_line_with_the_build_command(hub, tmp_path):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, n_classes=6, n_unseen=2)
    cache_open_clip(hub, tiny_open_clip(seed=11))
    result = _run("run", "clip-zeroshot", "--dataset", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                  "--quiet")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"`zslbench cache build --dataset awa2 --backbone {BACKBONE} --image-embeddings`" in lines[0]
    assert "awa2-clip-vit-b16-openai_image-embedding-" in lines[0]  # the missing entry
    assert not _runs(tmp_path / "runs")
    refused = _run("cache", "build", "--dataset", "awa2", "--backbone", BACKBONE, "--image-embeddings", "--patches",
                   "--root", layout.root)
    assert refused.exit_code == 2 and "--image-embeddings" in refused.output


# ----------------------------------------------------------------------------- CLIP features for feature methods


def test_feature_cache_key_changes_with_the_weights(hub, tmp_path):
    from zslbench.config import DataConfig
    from zslbench.data.synthetic import load_synthetic
    from zslbench.features import get_features
    from zslbench.features.cache import FeatureCache

    dataset = load_synthetic("synthetic-tiny")
    cache = FeatureCache()
    cache_timm_tower(hub, BACKBONE, seed=1, revision="1" * 40)
    first = get_features(dataset, BACKBONE, DataConfig(image_size=224), None, splits=("test_seen",), cache=cache)
    cache_timm_tower(hub, BACKBONE, seed=2, revision="2" * 40)  # new weights in the cache (a new snapshot)
    second = get_features(dataset, BACKBONE, DataConfig(image_size=224), None, splits=("test_seen",), cache=cache)
    entries = sorted(p.name for p in cache.root.glob("*.h5"))
    assert len(entries) == 2 and all(BACKBONE in name for name in entries)
    assert not torch.equal(torch.as_tensor(first["test_seen"].features), torch.as_tensor(second["test_seen"].features))


def test_eszsl_on_clip_features_sits_beside_clip_zeroshot_in_one_compare_table(hub, tmp_path):
    cache_open_clip(hub, tiny_open_clip(seed=12))
    cache_timm_tower(hub, BACKBONE, seed=12)
    out = tmp_path / "runs"
    for method in ("clip-zeroshot", "eszsl"):
        result = _run("run", method, "--dataset", "synthetic-tiny", "--backbone", BACKBONE, "--out", out, "--quiet")
        assert result.exit_code == 0, result.output
    table = _run("compare", "clip-zeroshot", "eszsl", "--dataset", "synthetic-tiny", "--runs", out, "--format", "csv")
    assert table.exit_code == 0, table.output
    assert "clip-zeroshot" in table.output and "eszsl" in table.output


def test_svip_follows_a_16_by_16_dinov2_grid(hub, tmp_path):
    result = _run("run", "svip", "--dataset", "synthetic-tiny", "--backbone", "dinov2-vit-b14", "--pretrained", "none",
                  "--epochs", "1", "--set", "train.max_steps_per_epoch=1", "--set", "train.batch_size=4",
                  "--set", "data.text_encoder=hashing", "--out", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    (run,) = _runs(tmp_path / "runs")
    record = store.read_run(run)
    assert record.metrics["backbone"]["grid"] == [16, 16]
    assert record.metrics["patch_selection"]["grid"] == [8, 8]  # 2x2 groups of the 16x16 patches
    # M follows the grid: synthetic-tiny's M = 3 of the 4 groups of its own ViT becomes 48 of 64
    assert record.metrics["patch_selection"]["kept_fraction"] == pytest.approx(48 / 64, abs=1e-12)


def test_svip_num_kept_follows_the_grid_unless_told_not_to():
    from zslbench_svip.options import SVIPOptions
    from zslbench_svip.plugin import kept_for_grid

    assert kept_for_grid(SVIPOptions(num_kept=40), "cub", (14, 14)).num_kept == 40  # ViT-B/16: as published
    assert kept_for_grid(SVIPOptions(num_kept=40), "cub", (16, 16)).num_kept == 52  # DINOv2 / ViT-L/14 at 224
    assert kept_for_grid(SVIPOptions(num_kept=40, num_kept_follows_grid=False), "cub", (16, 16)).num_kept == 40


def test_siglip_serves_the_baseline_and_svip_refuses_it_in_one_line_before_storing(hub, tmp_path):
    common = ("--dataset", "synthetic-tiny", "--backbone", "siglip-vit-b16", "--pretrained", "none", "--epochs", "1",
              "--set", "train.max_steps_per_epoch=1", "--set", "train.batch_size=4", "--set",
              "data.text_encoder=hashing", "--quiet")
    refused = _run("run", "svip", *common, "--out", tmp_path / "refused")
    assert refused.exit_code == 2 and "class token" in refused.output
    assert len([line for line in refused.output.splitlines() if line.strip()]) == 1
    assert not _runs(tmp_path / "refused")
    ran = _run("run", "baseline", *common, "--out", tmp_path / "runs")
    assert ran.exit_code == 0, ran.output
    assert store.read_run(_runs(tmp_path / "runs")[0]).metrics["backbone"]["family"] == "siglip"


def test_a_siglip_text_tower_without_transformers_is_a_one_line_usage_error(monkeypatch):
    import importlib.util

    import open_clip

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real_find_spec(name, *a))
    with pytest.raises(UsageError, match="transformers") as info:
        vision_language._tokenizer(open_clip, open_clip.get_model_config("ViT-B-16-SigLIP"))
    assert "\n" not in str(info.value) and "CLIP backbone" in info.value.hint
