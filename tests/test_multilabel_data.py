"""Multi-label datasets: the synthetic generator, and the NUS-WIDE / Open Images readers on miniature copies."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from zslbench.config import DataConfig
from zslbench.data.dataset import MULTI_LABEL
from zslbench.errors import DataError
from zslbench.data import nuswide, openimages
from zslbench.data import synthetic_multilabel as synthetic
from zslbench.data.multilabel_files import SparseLabels, load_array_pickle
from zslbench.data.multilabel_specs import dataset_specs

HASHING = DataConfig(text_encoder="hashing")


def write_jpeg(path: Path, value: int = 128) -> None:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path, format="JPEG")


# --------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def tiny_arrays():
    return synthetic.generate(synthetic.get_preset("synthetic-multilabel-tiny"), seed=0)


def test_generation_is_deterministic_and_independent_of_threads(tiny_arrays):
    preset = synthetic.get_preset("synthetic-multilabel-tiny")
    again = synthetic.generate(preset, seed=0, workers=1)
    assert np.array_equal(again.pixels, tiny_arrays.pixels)
    assert np.array_equal(again.labels, tiny_arrays.labels)
    other = synthetic.generate(preset, seed=1)
    assert not np.array_equal(other.pixels, tiny_arrays.pixels)


def test_labels_splits_and_objects_are_consistent(tiny_arrays):
    preset = synthetic.get_preset("synthetic-multilabel-tiny")
    unseen = tiny_arrays.unseen_labels
    seen = np.setdiff1d(np.arange(preset.num_labels), unseen)
    train, test = tiny_arrays.splits["trainval"], tiny_arrays.splits["test"]
    assert len(train) == preset.trainval_images and len(test) == preset.test_images
    assert not (tiny_arrays.labels[np.ix_(train, unseen)] > 0).any()  # trainval: seen objects only
    assert (tiny_arrays.labels[np.ix_(test, unseen)] > 0).any(axis=1).all()  # every test image has an unseen one
    positives = (tiny_arrays.labels > 0).sum(axis=1)
    low, high = preset.objects_per_image
    assert positives.min() >= low and positives.max() <= high
    assert set(np.unique(tiny_arrays.labels).tolist()) == {-1, 1}
    assert np.array_equal(synthetic.annotation_matrix(tiny_arrays.object_labels, preset.num_labels), tiny_arrays.labels)
    # every drawn object is visible in the object map, and nothing else is
    drawn = tiny_arrays.object_labels >= 0
    visible = np.stack([(tiny_arrays.object_map == slot + 1).any(axis=(1, 2)) for slot in range(drawn.shape[1])], 1)
    assert np.array_equal(drawn, visible)
    # the seen labels cover every colour and every shape (zero-shot transfer stays possible)
    values = synthetic.label_values(preset)
    assert set(values[seen, 0].tolist()) == set(range(len(preset.shapes)))
    assert set(values[seen, 1].tolist()) == set(range(len(preset.colours)))


def test_load_builds_a_valid_multilabel_dataset_with_encoder_vectors():
    from zslbench.models.text_encoders import HashingEncoder

    dataset = synthetic.load_synthetic_multilabel("synthetic-multilabel-tiny", HASHING)
    dataset.validate()
    assert dataset.task == MULTI_LABEL
    assert dataset.class_names[:2] == ["red circle", "green circle"]
    raw = HashingEncoder().encode(dataset.class_names)
    expected = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(dataset.class_attributes, expected, rtol=1e-5, atol=1e-6)
    assert dataset.masks.shape == dataset.meta["object_map"].shape and dataset.masks.dtype == bool
    assert dataset.meta["top_k"] == (3, 5) and dataset.meta["label_vectors"] == "text-encoder:hashing"
    assert set(dataset.splits) == {"trainval", "test"}


def test_cache_is_written_once_and_a_corrupt_cache_is_regenerated():
    preset = synthetic.get_preset("synthetic-multilabel-tiny")
    first = synthetic.load_arrays(preset, 0)
    path = synthetic.cache_path(preset, 0)
    assert path.is_file()
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary file
    path.write_bytes(b"not an hdf5 file")
    second = synthetic.load_arrays(preset, 0)
    assert np.array_equal(first.pixels, second.pixels)
    assert path.stat().st_size > 100


def test_dataset_specs_register_the_multilabel_datasets():
    specs = {spec.name: spec for spec in dataset_specs()}
    assert set(specs) == {"synthetic-multilabel", "synthetic-multilabel-tiny", "nus-wide", "open-images-v4"}
    assert all(spec.task == MULTI_LABEL for spec in specs.values())
    assert specs["synthetic-multilabel"].default_image_size == 64 and not specs["synthetic-multilabel"].needs_download
    assert specs["nus-wide"].check is not None and specs["open-images-v4"].check is not None


# --------------------------------------------------------------------------- NUS-WIDE

NUS_TAGS = ["sky", "dog", "car", "beach"]  # "sky" is also a concept: not a seen label
NUS_CONCEPTS = ["sky", "water"]
NUS_TRAIN = ["actor\\0001_1.jpg", "actor\\0002_2.jpg", "zoo\\0003_3.jpg"]
NUS_TEST = ["zoo\\0004_4.jpg", "zoo\\0005_5.jpg"]
NUS_TRAIN_TAGS = [[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 0]]
NUS_TEST_TAGS = [[0, 0, 0, 1], [1, 1, 0, 0]]
NUS_CONCEPT_LABELS = {("sky", "Train"): [1, 0, 0], ("water", "Train"): [0, 1, 0],
                      ("sky", "Test"): [0, 1], ("water", "Test"): [1, 1]}


def make_nuswide(root: Path, missing: tuple[str, ...] = (), with_vectors: bool = True) -> Path:
    """A miniature NUS-WIDE copy in the field's layout (tabs and a trailing tab in the .dat files)."""
    (root / "ImageList").mkdir(parents=True)
    (root / "ImageList" / "TrainImagelist.txt").write_text("\r\n".join(NUS_TRAIN) + "\r\n")
    (root / "ImageList" / "TestImagelist.txt").write_text("\n".join(NUS_TEST) + "\n")
    (root / "Concepts81.txt").write_text("\n".join(NUS_CONCEPTS) + "\n")
    tags = root / "NUS_WID_Tags"
    tags.mkdir()
    (tags / "TagList1k.txt").write_text("\n".join(NUS_TAGS) + "\n")
    for name, rows in (("Train_Tags1k.dat", NUS_TRAIN_TAGS), ("Test_Tags1k.dat", NUS_TEST_TAGS)):
        (tags / name).write_text("".join("\t".join(map(str, r)) + "\t\n" for r in rows))
    truth = root / "Groundtruth" / "TrainTestLabels"
    truth.mkdir(parents=True)
    for (concept, split), values in NUS_CONCEPT_LABELS.items():
        (truth / f"Labels_{concept}_{split}.txt").write_text("\n".join(map(str, values)) + "\n")
    for rel in NUS_TRAIN + NUS_TEST:
        rel = rel.replace("\\", "/")
        if rel not in missing:
            write_jpeg(root / "Flickr" / rel)
    if with_vectors:
        (root / "wiki_contexts").mkdir()
        vectors = (np.arange(4 * 3, dtype=np.float32).reshape(4, 3) + 1, np.eye(2, 3, dtype=np.float32) * 2)
        with open(root / "wiki_contexts" / "NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300", "wb") as fh:
            pickle.dump(vectors, fh)
    return root


def test_nuswide_loader_reads_the_field_layout(tmp_path):
    root = make_nuswide(tmp_path / "nus", missing=("actor/0002_2.jpg",))
    dataset = nuswide.load_nuswide(DataConfig(root=str(root)))
    dataset.validate()
    assert dataset.class_names == ["dog", "car", "beach", "sky", "water"]
    assert dataset.seen_classes.tolist() == [0, 1, 2] and dataset.unseen_classes.tolist() == [3, 4]
    assert dataset.meta["skipped_images"] == 1 and dataset.meta["top_k"] == (3, 5)
    assert [Path(p).name for p in dataset.images.paths] == ["0001_1.jpg", "0003_3.jpg", "0004_4.jpg", "0005_5.jpg"]
    # train image 0: tags sky+dog -> dog +1; concept sky +1; image 2 (third listed) : dog, car
    expected = np.array([[1, -1, -1, 1, -1], [1, 1, -1, -1, -1], [-1, -1, 1, -1, 1], [1, -1, -1, 1, 1]], np.int8)
    assert np.array_equal(dataset.labels, expected)
    assert dataset.splits["trainval"].tolist() == [0, 1] and dataset.splits["test"].tolist() == [2, 3]
    vectors = dataset.class_attributes
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    tag_dog = np.array([4, 5, 6], np.float32)  # TagList1k row 1 of the pickle
    np.testing.assert_allclose(vectors[0], tag_dog / np.linalg.norm(tag_dog), rtol=1e-6)
    assert dataset.meta["label_vectors"].startswith("pickle:")
    assert dataset.images.load(0).shape == (3, 8, 8)


def test_nuswide_without_the_vector_pickle_stops_unless_the_text_encoder_is_asked_for(tmp_path):
    root = make_nuswide(tmp_path / "nus", with_vectors=False)
    with pytest.raises(DataError, match="no label-vector pickle") as silent:
        nuswide.load_nuswide(DataConfig(root=str(root), text_encoder="hashing"))
    assert "data.label_vectors=text-encoder" in silent.value.hint
    assert not nuswide.check_nuswide(root).ok
    dataset = nuswide.load_nuswide(DataConfig(root=str(root), text_encoder="hashing", label_vectors="text-encoder"))
    assert dataset.class_attributes.shape == (5, 50) and dataset.meta["label_vectors"] == "text-encoder:hashing"


def test_nuswide_check_reports_ok_and_missing_parts(tmp_path):
    root = make_nuswide(tmp_path / "nus", missing=("zoo/0005_5.jpg",))
    report = nuswide.check_nuswide(root)
    assert report.ok, report.render()
    assert report.counts["seen_labels"] == 3 and report.counts["test_images_found"] == 1
    assert any("missing and will be left out" in n for n in report.notes)
    (root / "NUS_WID_Tags" / "Test_Tags1k.dat").unlink()
    broken = nuswide.check_nuswide(root)
    assert not broken.ok and "expected layout" in broken.render() and "Test_Tags1k.dat" in broken.render()


def test_nuswide_bad_input_is_a_data_error_naming_the_layout(tmp_path):
    with pytest.raises(DataError) as missing_root:
        nuswide.load_nuswide(DataConfig(root=str(tmp_path / "nowhere")))
    assert "data check nus-wide" in missing_root.value.hint
    root = make_nuswide(tmp_path / "nus")
    (root / "NUS_WID_Tags" / "Train_Tags1k.dat").write_text("1\t0\t\n")
    with pytest.raises(DataError, match="expected 3 x 4") as wrong_size:
        nuswide.load_nuswide(DataConfig(root=str(root)))
    assert "layout" in wrong_size.value.hint


# --------------------------------------------------------------------------- Open Images

OI_SEEN = ["/m/a", "/m/b", "/m/c"]
OI_UNSEEN_LIST = ["/m/x", "/m/y", "/m/z"]
OI_HEADER = "ImageID,Source,LabelName,Confidence\n"


def make_openimages(root: Path, missing: tuple[str, ...] = ()) -> Path:
    """A miniature Open Images V4 copy (LESA layout: 2018_04/, top-400 indices into unseen_labels.pkl)."""
    meta = root / "2018_04"
    (meta / "train").mkdir(parents=True)
    (meta / "test").mkdir()
    (meta / "class-descriptions.csv").write_text(
        "/m/a,Apple\n/m/b,Big car\n/m/c,Cat\n/m/x,Xylophone\n/m/y,Yak\n/m/z,\"Zebra, plains\"\n")
    (meta / "classes-trainable.txt").write_text("\n".join(OI_SEEN) + "\n")
    with open(meta / "unseen_labels.pkl", "wb") as fh:
        pickle.dump(np.array(OI_UNSEEN_LIST), fh)
    (meta / "top_400_unseen.csv").write_text("2\n0\n")  # -> /m/z, /m/x
    (meta / "train" / "train-annotations-human-imagelabels.csv").write_text(OI_HEADER + "".join([
        "i1,verification,/m/a,1\n", "i1,verification,/m/b,0\n", "i1,verification,/m/z,1\n",  # unseen: dropped
        "i2,verification,/m/c,1\n", "i2,verification,/m/unknown,1\n", "i3,verification,/m/a,0\n"]))
    (meta / "test" / "test-annotations-human-imagelabels.csv").write_text(OI_HEADER + "".join([
        "t1,verification,/m/z,1\n", "t1,verification,/m/a,0\n", "t2,verification,/m/x,1\n",
        "t2,verification,/m/z,0\n", "t2,verification,/m/b,1\n"]))
    for split, ids in (("train", ("i1", "i2", "i3")), ("test", ("t1", "t2"))):
        for image_id in ids:
            if image_id not in missing:
                write_jpeg(root / split / f"{image_id}.jpg")
    (root / "wiki_contexts").mkdir()
    vectors = (np.eye(3, 4, dtype=np.float32), np.arange(12, dtype=np.float32).reshape(3, 4) + 1)
    with open(root / "wiki_contexts" / "OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl", "wb") as fh:
        pickle.dump(vectors, fh)
    return root


def test_openimages_loader_reads_the_field_layout(tmp_path):
    root = make_openimages(tmp_path / "oi", missing=("i3",))
    dataset = openimages.load_openimages(DataConfig(root=str(root)))
    dataset.validate()
    assert isinstance(dataset.labels, SparseLabels)
    assert dataset.meta["label_ids"] == OI_SEEN + ["/m/z", "/m/x"]
    assert dataset.class_names == ["Apple", "Big car", "Cat", "Zebra, plains", "Xylophone"]
    assert dataset.meta["skipped_images"] == 1 and dataset.meta["top_k"] == (10, 20)
    dense = np.asarray(dataset.labels)
    expected = np.array([
        [1, -1, 0, 0, 0],  # i1: /m/z on a training image is not kept (train: seen labels only)
        [0, 0, 1, 0, 0],  # i2: the unknown label is ignored
        [-1, 0, 0, 1, 0],  # t1
        [0, 1, 0, -1, 1],  # t2
    ], np.int8)
    assert np.array_equal(dense, expected)
    assert np.array_equal(dataset.labels[np.array([3, 0])], expected[[3, 0]])
    unseen_z = np.arange(9, 13, dtype=np.float32)  # row 2 of the unseen vectors
    np.testing.assert_allclose(dataset.class_attributes[3], unseen_z / np.linalg.norm(unseen_z), rtol=1e-6)
    assert dataset.unseen_classes.tolist() == [3, 4]


def test_openimages_check_and_errors(tmp_path):
    root = make_openimages(tmp_path / "oi")
    report = openimages.check_openimages(root)
    assert report.ok, report.render()
    assert report.counts["unseen_labels"] == 2 and report.counts["trainval_images_found"] == 3
    (root / "2018_04" / "classes-trainable.txt").unlink()
    assert not openimages.check_openimages(root).ok
    with pytest.raises(DataError) as missing:
        openimages.load_openimages(DataConfig(root=str(root)))
    assert "classes-trainable.txt" in missing.value.message and "data check open-images-v4" in missing.value.hint
    (root / "2018_04" / "classes-trainable.txt").write_text("\n".join(OI_SEEN) + "\n")
    (root / "2018_04" / "test" / "test-annotations-human-imagelabels.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="header"):
        openimages.load_openimages(DataConfig(root=str(root)))


def test_label_vector_pickles_cannot_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "vectors.pkl"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(DataError, match="refusing"):
        load_array_pickle(path, "hint")


# --------------------------------------------------------------------------- the authors' files as they are

NUS_VECTOR_FILE = "NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300"
OI_VECTOR_FILE = "OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl"


def move_pickle(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    src.rename(dst)
    return dst


@pytest.mark.parametrize("layout", ["root", "word_embedding", "beside", "above"])
def test_nuswide_label_vectors_are_found_in_every_authors_layout(tmp_path, layout):
    root = make_nuswide(tmp_path / "data" / "NUS-WIDE")
    original = root / "wiki_contexts" / NUS_VECTOR_FILE
    target = {"root": root / NUS_VECTOR_FILE,  # Generative_MLZSL
              "word_embedding": root / "word_embedding" / NUS_VECTOR_FILE,  # BiAM
              "beside": root.parent / "wiki_contexts" / NUS_VECTOR_FILE,  # LESA: data/wiki_contexts
              "above": root.parent.parent / "wiki_contexts" / NUS_VECTOR_FILE}[layout]
    move_pickle(original, target)
    (root / "wiki_contexts").rmdir()
    dataset = nuswide.load_nuswide(DataConfig(root=str(root), text_encoder="hashing"))
    assert dataset.meta["label_vectors"] == f"pickle:{target}"
    tag_dog = np.array([4, 5, 6], np.float32)  # the pickle's vector, not a text encoder's
    np.testing.assert_allclose(dataset.class_attributes[0], tag_dog / np.linalg.norm(tag_dog), rtol=1e-6)
    assert nuswide.check_nuswide(root).ok


def test_label_vectors_from_an_explicit_path_and_a_missing_vector_is_named(tmp_path):
    root = make_nuswide(tmp_path / "nus")
    elsewhere = move_pickle(root / "wiki_contexts" / NUS_VECTOR_FILE, tmp_path / "vectors" / "nus.pkl")
    dataset = nuswide.load_nuswide(DataConfig(root=str(root), label_vectors=str(elsewhere)))
    assert dataset.meta["label_vectors"] == f"pickle:{elsewhere}"
    with pytest.raises(DataError, match="not found"):
        nuswide.load_nuswide(DataConfig(root=str(root), label_vectors=str(tmp_path / "nope.pkl")))
    tags, concepts = np.arange(12, dtype=np.float32).reshape(4, 3) + 1, np.eye(2, 3, dtype=np.float32)
    concepts[1] = 0  # "water" has no vector
    with open(elsewhere, "wb") as fh:
        pickle.dump((tags, concepts), fh)
    with pytest.raises(DataError, match=r"1 labels have no vector .* 'water'"):
        nuswide.load_nuswide(DataConfig(root=str(root), label_vectors=str(elsewhere)))


def test_nuswide_image_lists_with_absolute_windows_prefixes_match_their_files(tmp_path):
    root = make_nuswide(tmp_path / "nus", missing=("zoo/0005_5.jpg",))
    (root / "ImageList" / "TrainImagelist.txt").write_text(
        "C:\\ImageData\\Flickr\\actor\\0001_1.jpg\r\nD:\\nus\\actor\\0002_2.jpg\r\n/home/x/Flickr/zoo/0003_3.jpg\r\n")
    assert nuswide.image_list_path("C:\\ImageData\\Flickr\\actor\\0001_1.jpg") == "actor/0001_1.jpg"
    assert nuswide.image_list_path("D:\\nus\\actor\\0002_2.jpg") == "actor/0002_2.jpg"
    assert nuswide.image_list_path("actor\\0002_2.jpg") == "actor/0002_2.jpg"
    dataset = nuswide.load_nuswide(DataConfig(root=str(root)))
    assert [Path(p).name for p in dataset.images.paths] == ["0001_1.jpg", "0002_2.jpg", "0003_3.jpg", "0004_4.jpg"]
    report = nuswide.check_nuswide(root)
    assert report.counts["trainval_unmatched_lines"] == 0 and report.counts["test_unmatched_lines"] == 1


def write_bom(path: Path, text: str) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))


def test_openimages_reads_the_authors_files_with_bom_crlf_image_data_and_the_pair_pickle(tmp_path):
    root = make_openimages(tmp_path / "data" / "OpenImages")
    meta = root / "2018_04"
    write_bom(meta / "top_400_unseen.csv", "2\n0\n")  # the authors' file starts with a byte-order mark
    write_bom(meta / "classes-trainable.txt", "\n".join(OI_SEEN) + "\n")
    write_bom(meta / "class-descriptions.csv", (meta / "class-descriptions.csv").read_text())
    for split in ("train", "test"):
        csv_path = meta / split / f"{split}-annotations-human-imagelabels.csv"
        write_bom(csv_path, csv_path.read_text())
        (root / "image_data").mkdir(exist_ok=True)
        (root / split).rename(root / "image_data" / split)  # where the authors' downloader puts images
    # LESA: wiki_contexts/ beside the data root
    move_pickle(root / "wiki_contexts" / OI_VECTOR_FILE, root.parent / "wiki_contexts" / OI_VECTOR_FILE)
    report = openimages.check_openimages(root)
    assert report.ok, report.render()
    assert report.counts["unseen_labels"] == 2
    dataset = openimages.load_openimages(DataConfig(root=str(root)))
    assert dataset.meta["label_ids"] == OI_SEEN + ["/m/z", "/m/x"]
    assert dataset.class_names[0] == "Apple"
    assert dataset.meta["label_vectors"] == f"pickle:{root.parent / 'wiki_contexts' / OI_VECTOR_FILE}"
    unseen_x = np.arange(1, 5, dtype=np.float32)  # row 0 of the unseen vectors: top_400_unseen's second entry
    np.testing.assert_allclose(dataset.class_attributes[4], unseen_x / np.linalg.norm(unseen_x), rtol=1e-6)
    assert len(dataset.images.paths) == 5 and "image_data" in str(dataset.images.paths[0])


def test_openimages_top_unseen_given_as_ids_still_finds_the_pair_pickle_rows(tmp_path):
    root = make_openimages(tmp_path / "oi")
    (root / "2018_04" / "top_400_unseen.csv").write_text("/m/z\n/m/x\n")
    dataset = openimages.load_openimages(DataConfig(root=str(root)))
    unseen_z = np.arange(9, 13, dtype=np.float32)
    np.testing.assert_allclose(dataset.class_attributes[3], unseen_z / np.linalg.norm(unseen_z), rtol=1e-6)


def test_openimages_annotations_are_streamed_into_integer_arrays(tmp_path):
    path = tmp_path / "ann.csv"
    write_bom(path, OI_HEADER + "i1,v,/m/a,1\ni2,v,/m/b,0\ni1,v,/m/q,1\ni3,v,/m/a,0.0\n")
    everything = openimages.read_annotations(path)
    assert everything.image_ids == ["i1", "i2", "i3"]
    assert everything.image_rows.tolist() == [0, 1, 0, 2] and everything.columns.tolist() == [0, 1, 2, 0]
    assert everything.values.tolist() == [1, 0, 1, 0]
    assert everything.image_rows.dtype == np.int32 and everything.values.dtype == np.int8
    known = openimages.read_annotations(path, {"/m/a": 5})
    assert known.image_ids == ["i1", "i3"] and known.columns.tolist() == [5, 5] and known.values.tolist() == [1, 0]
    write_bom(path, OI_HEADER + "i1,v,/m/a,maybe\n")
    with pytest.raises(DataError, match="Confidence"):
        openimages.read_annotations(path)


def test_pretrained_none_means_random_weights(monkeypatch):
    import torch

    from zslbench.models import backbones
    from zslbench.config import resolve_run_config

    cfg, _ = resolve_run_config([{"pretrained": "none", "train": {"grad_clip_norm": "none"}}], None)
    assert cfg.pretrained == "none"  # not turned into None ("use the default weights")
    assert cfg.train.grad_clip_norm is None  # "none" still clears optional numbers

    def no_weight_files(*args, **kwargs):
        raise AssertionError("random initialisation must not look for pretrained weights")

    monkeypatch.setattr(backbones, "cached_timm_weights", no_weight_files)
    torch.manual_seed(0)
    first = backbones.create_backbone("vit_tiny_patch16_224", cfg.pretrained, 32)
    torch.manual_seed(1)
    second = backbones.create_backbone("vit_tiny_patch16_224", cfg.pretrained, 32)
    assert first.pretrained == "none"
    weights = [next(b.vit.parameters()).detach() for b in (first, second)]
    assert not torch.equal(*weights)  # freshly drawn, seed-dependent weights
