"""End-to-end multi-label runs through the CLI, and the refusal of method/dataset task mismatches."""

from __future__ import annotations

import importlib.util
import json
import pickle
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import registry
from zslbench.methods import MethodSpec
from zslbench.registry import Origin

REPO = Path(__file__).resolve().parent.parent


@dataclass
class _NoOptions:
    pass


@pytest.fixture
def multilabel_registry(monkeypatch):
    """The registries with the multi-label datasets, epsilon, mlzsl-baseline and a single-label dummy method.

    Works before and after the lead wires them into the plugins: only missing names are added.
    """
    from zslbench.plugins import load_plugins

    for plugin in ("epsilon", "baselines"):
        if importlib.util.find_spec(f"zslbench_{plugin}") is None:
            monkeypatch.syspath_prepend(str(REPO / "plugins" / plugin))
    load_plugins(force=True)
    from zslbench.data.multilabel_specs import dataset_specs
    from zslbench_baselines.mlzsl_baseline import MLZSL_METHODS
    from zslbench_epsilon.plugin import method_specs

    origin = Origin("tests")
    for spec in dataset_specs():
        if spec.name not in registry.datasets:
            registry.datasets.add(spec.name, spec, origin, spec.aliases)
    for spec in (*method_specs(), *MLZSL_METHODS):
        if spec.name not in registry.methods:
            registry.methods.add(spec.name, spec, origin)
    dummy = MethodSpec(name="single-label-dummy", build=lambda context, options: None, options_type=_NoOptions)
    registry.methods.add(dummy.name, dummy, origin)
    yield
    load_plugins(force=True)


def run_cli(*args: str):
    from zslbench.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stored_runs(method: str) -> list[Path]:
    return sorted(Path(os.environ["ZSLBENCH_RUNS"]).glob(f"synthetic-multilabel-tiny/{method}/*"))


@pytest.mark.parametrize("method", ["epsilon", "mlzsl-baseline"])
def test_tiny_multilabel_run_stores_map_and_f1_at_k(multilabel_registry, method):
    result = run_cli("run", method, "--dataset", "synthetic-multilabel-tiny", "--device", "cpu", "--quiet",
                     "--set", "data.text_encoder=hashing")
    assert result.exit_code == 0, result.output
    (run_dir,) = stored_runs(method)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "multi-label" and metrics["protocol"] == "standard"
    test = metrics["test"]
    for key in ("zsl_map", "zsl_f1_at_3", "zsl_f1_at_5", "gzsl_map", "gzsl_f1_at_3", "gzsl_f1_at_5",
                "zsl_precision_at_3", "gzsl_recall_at_5"):
        assert 0.0 <= test[key] <= 1.0, key
    assert test["counts"]["unseen_labels"] == 6 and test["counts"]["images"] == 64
    assert len(metrics["per_label_ap"]["unseen"]) == 6
    assert metrics["label_vectors"] == "text-encoder:hashing"
    assert len(metrics["history"]) == 2  # the tiny recipe's 2 epochs
    timings = json.loads((run_dir / "timings.json").read_text())
    assert timings["train_images_per_second"] > 0
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    assert (run_dir / "checkpoint.safetensors").is_file()
    # one spelling of every metric: the summary table prints the stored keys, as compare does
    assert "zsl_f1_at_3" in result.stdout and "@" not in result.stdout


def test_single_label_method_on_multilabel_data_exits_2(multilabel_registry):
    result = run_cli("run", "single-label-dummy", "--dataset", "synthetic-multilabel-tiny", "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert "does not support multi-label" in result.output
    assert not stored_runs("single-label-dummy")  # refused before anything was written


def test_multilabel_method_on_single_label_data_exits_2(multilabel_registry):
    result = run_cli("run", "epsilon", "--dataset", "synthetic-tiny", "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert "does not support single-label" in result.output


def test_gbu_protocol_is_refused_for_multilabel_data(multilabel_registry):
    result = run_cli("run", "epsilon", "--dataset", "synthetic-multilabel-tiny", "--protocol", "gbu", "--device",
                     "cpu", "-q", "--set", "data.text_encoder=hashing")
    assert result.exit_code == 2
    assert "defined for single-label datasets" in result.output


def test_resume_continues_a_multilabel_run(multilabel_registry):
    """An interrupted run (checkpoint after epoch 1 of 2) resumes and completes the remaining epoch only."""
    from zslbench import store
    from zslbench.runner import execute_run, resolve_resume, resolve_run

    resolved = resolve_run("mlzsl-baseline", "synthetic-multilabel-tiny",
                           set_items=["data.text_encoder=hashing", "train.device=cpu", "train.epochs=1"])
    first = execute_run(resolved, progress=False)
    config = json.loads((first.run_dir / store.CONFIG_FILE).read_text())
    config["train"]["epochs"] = 2  # as if the run had been asked for 2 epochs and stopped after 1
    store.atomic_write_json(first.run_dir / store.CONFIG_FILE, config)
    store.write_status(first.run_dir, "interrupted")
    resumed = execute_run(resolve_resume(first.run_dir), resume_dir=first.run_dir, progress=False)
    history = resumed.metrics["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[0] == first.metrics["history"][0]  # the first epoch was not trained again


def test_one_epoch_run_on_a_miniature_nuswide_copy_uses_the_authors_vectors(multilabel_registry, tmp_path,
                                                                              monkeypatch):
    from zslbench.data import nuswide

    monkeypatch.setattr(nuswide, "TOP_K", (1, 2))  # the miniature copy has 2 unseen labels
    try:
        from tests.test_multilabel_data import make_nuswide
    except ImportError:  # tests/ on sys.path instead of the repository root
        from test_multilabel_data import make_nuswide

    root = make_nuswide(tmp_path / "data" / "NUS-WIDE")
    vectors = root / "wiki_contexts" / "NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300"
    beside = root.parent / "wiki_contexts" / vectors.name  # the LESA layout
    beside.parent.mkdir()
    vectors.rename(beside)
    check = run_cli("data", "check", "nus-wide", "--root", str(root))
    assert check.exit_code == 0, check.output
    result = run_cli("run", "mlzsl-baseline", "--dataset", "nus-wide", "--data-root", str(root), "--device", "cpu",
                     "--backbone", "vit-synthetic-tiny", "--pretrained", "none", "--epochs", "1", "-q",
                     "--set", "data.image_size=32")
    assert result.exit_code == 0, result.output
    (run_dir,) = sorted(Path(os.environ["ZSLBENCH_RUNS"]).glob("nus-wide/mlzsl-baseline/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["label_vectors"] == f"pickle:{beside}"
    assert metrics["test"]["counts"]["unseen_labels"] == 2
    config = json.loads((run_dir / "config.json").read_text())
    assert config["pretrained"] == "none" and config["data"]["label_vectors"] == "auto"
    beside.unlink()  # no vectors anywhere: a one-line error, nothing stored
    missing = run_cli("run", "mlzsl-baseline", "--dataset", "nus-wide", "--data-root", str(root), "--device", "cpu",
                      "--backbone", "vit-synthetic-tiny", "--pretrained", "none", "--epochs", "1", "-q")
    assert missing.exit_code != 0 and "no label-vector pickle" in missing.output
    assert len(list(Path(os.environ["ZSLBENCH_RUNS"]).glob("nus-wide/mlzsl-baseline/*"))) == 1


def make_nuswide_features_only(root: Path, seed: int = 0, train: int = 240, test: int = 80):
    """A NUS-WIDE copy with the authors' HDF5 features and no images (LESA's features/ layout).

    30 seen tags and 6 unseen concepts with random 16-d word vectors; each image
    has 1-3 positive labels and its (16, 4) feature map is the sum of their
    vectors plus noise, so a linear map recovers unseen labels.
    """
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    tags, concepts = [f"tag{i}" for i in range(30)], [f"concept{j}" for j in range(6)]
    tag_vectors, concept_vectors = rng.standard_normal((30, 16)), rng.standard_normal((6, 16))
    (root / "ImageList").mkdir(parents=True)
    (root / "NUS_WID_Tags").mkdir()
    (root / "ConceptsList").mkdir()
    (root / "features").mkdir()
    (root / "wiki_contexts").mkdir()
    (root / "NUS_WID_Tags" / "TagList1k.txt").write_text("\n".join(tags) + "\n")
    (root / "ConceptsList" / "Concepts81.txt").write_text("\n".join(concepts) + "\n")
    with open(root / "wiki_contexts" / "NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300", "wb") as fh:
        pickle.dump((tag_vectors.astype(np.float32), concept_vectors.astype(np.float32)), fh)
    truth = root / "Groundtruth" / "TrainTestLabels"
    truth.mkdir(parents=True)
    for split, count, h5_name, list_name, dat_name, suffix in (
            ("trainval", train, "nus_wide_train.h5", "TrainImagelist.txt", "Train_Tags1k.dat", "Train"),
            ("test", test, "nus_wide_test.h5", "TestImagelist.txt", "Test_Tags1k.dat", "Test")):
        pool = 30 if split == "trainval" else 36  # training images show seen labels only
        positives = np.zeros((count, 36), dtype=np.int8)
        for row in positives:
            row[rng.choice(pool, size=rng.integers(1, 4), replace=False)] = 1
        names = [f"folder{i % 3}\\{i:04d}_{split}.jpg" for i in range(count)]
        (root / "ImageList" / list_name).write_text("\r\n".join(f"C:\\ImageData\\Flickr\\{n}" for n in names) + "\r\n")
        (root / "NUS_WID_Tags" / dat_name).write_text("".join("\t".join(map(str, r[:30])) + "\t\n" for r in positives))
        for j, concept in enumerate(concepts):
            (truth / f"Labels_{concept}_{suffix}.txt").write_text("\n".join(map(str, positives[:, 30 + j])) + "\n")
        vectors = np.concatenate([tag_vectors, concept_vectors])
        with h5py.File(root / "features" / h5_name, "w") as h5:
            for name, row in zip(names, positives):
                key = name.replace("\\", "_")
                feature = (row @ vectors)[:, None] + 0.1 * rng.standard_normal((16, 4))
                h5.create_dataset(f"{key}-features", data=feature.astype(np.float32))
                h5.create_dataset(f"{key}-labels", data=row[:30] if split == "trainval" else row)
                if split == "test":
                    h5.create_dataset(f"{key}-labels_81", data=row[30:])
    return root


def test_feature_method_on_the_authors_nuswide_features_needs_no_images(multilabel_registry, tmp_path, monkeypatch):
    import numpy as np

    from zslbench.data import nuswide
    from zslbench.evaluation.multi_label import evaluate_multilabel

    monkeypatch.setattr(nuswide, "TOP_K", (1, 2))
    root = make_nuswide_features_only(tmp_path / "NUS-WIDE")
    check = run_cli("data", "check", "nus-wide", "--root", str(root))
    assert check.exit_code == 0, check.output
    assert "authors' trainval features" in check.output and "feature methods read the authors' features" in check.output
    # 240 images make one step an epoch: more epochs than the real-data default (20 x 630 steps on NUS-WIDE)
    result = run_cli("run", "mlzsl-feat-linear", "--dataset", "nus-wide", "--data-root", str(root), "-q",
                     "--set", "method.epochs=300", "--set", "method.lr=0.01")
    assert result.exit_code == 0, result.output
    (run_dir,) = sorted(Path(os.environ["ZSLBENCH_RUNS"]).glob("nus-wide/mlzsl-feat-linear/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["backbone"] == "authors-h5" and metrics["task"] == "multi-label"
    assert metrics["features"]["source"] == "authors-h5" and len(metrics["features"]["fingerprint"]) == 64
    assert metrics["test"]["counts"]["images"] == 80 and metrics["test"]["counts"]["unseen_labels"] == 6
    # random scores on the same test labels: the planted linear structure must beat them by far
    dataset = nuswide.load_nuswide(type("Cfg", (), {"root": str(root)})(), require_images=False)
    labels = np.asarray(dataset.labels[dataset.splits["test"]])
    random = evaluate_multilabel(np.random.default_rng(0).standard_normal(labels.shape), labels,
                                 dataset.seen_classes, dataset.unseen_classes, top_k=(1, 2))
    assert metrics["test"]["zsl_map"] > random.zsl.map + 0.3, (metrics["test"]["zsl_map"], random.zsl.map)


def test_authors_features_that_disagree_with_the_annotations_are_refused(multilabel_registry, tmp_path, monkeypatch):
    import h5py

    from zslbench.data import nuswide
    from zslbench.features import authors_h5_key, read_authors_features

    monkeypatch.setattr(nuswide, "TOP_K", (1, 2))
    root = make_nuswide_features_only(tmp_path / "NUS-WIDE", train=30, test=12)
    dataset = nuswide.load_nuswide(type("Cfg", (), {"root": str(root)})(), require_images=False)
    fingerprint = authors_h5_key(dataset).fingerprint
    with h5py.File(root / "features" / "nus_wide_test.h5", "a") as h5:
        key = "folder1_0001_test.jpg-labels"
        flipped = 1 - h5[key][...]
        del h5[key]
        h5.create_dataset(key, data=flipped)
    changed = nuswide.load_nuswide(type("Cfg", (), {"root": str(root)})(), require_images=False)
    assert authors_h5_key(changed).fingerprint != fingerprint  # the file's identity is part of the key
    with pytest.raises(Exception, match="folder1_0001_test.jpg.*differ from the dataset's annotations"):
        read_authors_features(changed, ("test",))
    result = run_cli("run", "mlzsl-feat-linear", "--dataset", "nus-wide", "--data-root", str(root), "-q")
    assert result.exit_code == 1 and "differ from the dataset's annotations" in result.output
