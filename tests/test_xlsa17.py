"""xlsa17 loaders (AwA1 / AwA2 / aPY / CUB / SUN / FLO), the splits reader and `data check`, on fixtures and real split files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from zslbench.config import DataConfig
from zslbench.data import xlsa17, xlsa17_specs
from zslbench.data.attributes import normalise_attribute_name
from zslbench.data.check import CheckReport, check_dataset
from zslbench.errors import DataError, UsageError

try:
    from tests.fixtures_xlsa17 import build_xlsa17_layout, cell
except ImportError:  # tests/ on sys.path (pytest's default rootdir-less import)
    from fixtures_xlsa17 import build_xlsa17_layout, cell

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "xlsa17"
REAL_ALT = Path("/work/shared/data/xlsa17")


def _real(name: str) -> Path:
    for base in (REAL, REAL_ALT):
        path = base / name / "att_splits.mat"
        if path.is_file():
            return path
    pytest.skip(f"real xlsa17 file {name}/att_splits.mat not available")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZSLBENCH_DATA", raising=False)


def _cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(root=str(root), **kw)


# --------------------------------------------------------------------------- real split files


def test_real_awa2_standard_sizes_and_train_loc_pitfall():
    splits = xlsa17.read_att_splits(_real("AWA2"))
    assert splits.num_classes == 50 and splits.num_attributes == 85
    assert (len(splits.trainval_loc), len(splits.test_seen_loc), len(splits.test_unseen_loc)) == (23527, 5882, 7913)
    assert len(splits.class_ids(splits.seen_class_names)) == 40
    assert len(splits.class_ids(splits.unseen_class_names)) == 10
    assert splits.train_loc is not None and len(splits.train_loc) == 20218 and len(splits.val_loc) == 9191
    assert int(np.isin(splits.train_loc, splits.test_seen_loc).sum()) == 4031  # why train_loc is never an image split
    assert splits.trainval_loc.min() >= 0 and splits.trainval_loc.dtype == np.int64
    assert np.allclose(np.linalg.norm(splits.att, axis=1), 1.0, atol=1e-4)  # rows = classes after the transpose


def test_real_cub_standard_sizes_without_train_loc():
    splits = xlsa17.read_att_splits(_real("CUB"))
    assert splits.num_classes == 200 and splits.num_attributes == 312
    assert (len(splits.trainval_loc), len(splits.test_seen_loc), len(splits.test_unseen_loc)) == (7057, 1764, 2967)
    assert splits.train_loc is None and splits.val_loc is None
    assert len(splits.class_ids(splits.seen_class_names)) == 150
    assert len(splits.class_ids(splits.unseen_class_names)) == 50
    assert splits.class_names[0] == "002.Laysan_Albatross"  # file order, not numeric order
    train, val = splits.class_ids(splits.train_class_names), splits.class_ids(splits.val_class_names)
    assert len(train) == 100 and len(val) == 50 and not set(train) & set(val)


def test_check_dataset_on_real_split_folder_reports_counts_and_missing_files():
    folder = _real("AWA2").parent
    report = check_dataset("awa2", folder)
    assert isinstance(report, CheckReport) and not report.ok
    assert report.counts["trainval"] == 23527 and report.counts["seen_classes"] == 40
    assert any("res101.mat" in m for m in report.missing)
    assert any("image folder" in m for m in report.missing_for_images)
    assert not report.usable_for_features and not report.usable_for_images
    assert any("4031" in n for n in report.notes)
    text = report.render()
    assert "status: INCOMPLETE" in text and "xlsa17.zip" in text and "test_unseen: 7913" in text
    assert "usable for feature methods (res101.mat): no" in text


# --------------------------------------------------------------------------- loading miniature copies


@pytest.mark.parametrize("name", ["awa1", "awa2", "apy", "cub", "sun", "flo"])
def test_load_miniature_dataset(tmp_path, name):
    layout = build_xlsa17_layout(tmp_path / name, name)
    ds = xlsa17.load_dataset(name, _cfg(layout.root))
    ds.validate()
    assert ds.class_names == layout.class_names
    np.testing.assert_allclose(ds.class_attributes, layout.att, rtol=1e-6)
    assert ds.class_attributes.dtype == np.float32
    np.testing.assert_array_equal(ds.labels, layout.labels)
    np.testing.assert_array_equal(ds.splits["trainval"], np.sort(layout.trainval_loc))
    np.testing.assert_array_equal(ds.splits["test_unseen"], np.sort(layout.test_unseen_loc))
    np.testing.assert_array_equal(ds.seen_classes, layout.seen)
    np.testing.assert_array_equal(ds.unseen_classes, layout.unseen)
    # foreign absolute paths mapped onto the user's image folder
    assert [Path(p) for p in ds.images.paths] == [layout.image_path(i) for i in range(len(layout.labels))]
    assert tuple(ds.images.load(0).shape) == (3, 10, 12)
    assert ds.meta["recipe"] == name and ds.meta["attributes"] == "att" and ds.meta["root"] == str(layout.root)
    info = xlsa17.dataset_info(name)
    assert (ds.num_classes, ds.num_attributes) == (info.num_classes, info.num_attributes)
    if name != "flo":
        assert ds.attribute_names == [normalise_attribute_name(n) for n in layout.attribute_names_raw]
    assert set(ds.splits) == {"trainval", "test_seen", "test_unseen"}  # train_loc/val_loc never become splits


def test_awa2_names_are_normalised_and_gbu_classes_come_from_locs(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2")
    ds = xlsa17.load_dataset("awa2", _cfg(layout.root))
    assert ds.attribute_names[2:5] == ["quadrupedal", "new world", "old world"]
    assert ds.meta["attribute_names_raw"][2] == "quadrapedal"
    np.testing.assert_array_equal(ds.train_classes, layout.train_classes)
    np.testing.assert_array_equal(ds.val_classes, layout.val_classes)
    assert ds.meta["train_val_classes_source"] == "train_loc/val_loc"


def test_cub_attribute_groups_from_prefixes(tmp_path):
    ds = xlsa17.load_dataset("cub", _cfg(build_xlsa17_layout(tmp_path, "cub").root))
    assert ds.attribute_groups[:4] == [[0, 1], [2, 3, 4], [5], [6]]
    assert ds.attribute_names[0] == "bill shape curved up or down"


def test_variant_without_train_val_loc_uses_class_lists(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "cub", with_train_val_loc=False)
    ds = xlsa17.load_dataset("cub", _cfg(layout.root))
    np.testing.assert_array_equal(ds.train_classes, layout.train_classes)
    np.testing.assert_array_equal(ds.val_classes, layout.val_classes)
    assert ds.meta["train_val_classes_source"] == "trainclasses1.txt/valclasses1.txt"


def test_variant_without_train_val_information_has_none(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_train_val_loc=False, with_class_lists=False)
    ds = xlsa17.load_dataset("awa2", _cfg(layout.root))
    assert ds.train_classes is None and ds.val_classes is None
    assert ds.meta["train_val_classes_source"] is None


def test_original_att_choice_and_bad_choice(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2")
    ds = xlsa17.load_dataset("awa2", _cfg(layout.root, attributes="original_att"))
    np.testing.assert_allclose(ds.class_attributes, layout.original_att, rtol=1e-6)
    assert ds.meta["attributes"] == "original_att"
    with pytest.raises(UsageError, match="attribute matrix"):
        xlsa17.load_dataset("awa2", _cfg(layout.root, attributes="w2v"))


@pytest.mark.parametrize("split_subdir", ["xlsa17/AWA2", "AWA2", "."])
def test_split_files_found_in_alternative_folders(tmp_path, split_subdir):
    layout = build_xlsa17_layout(tmp_path, "awa2", split_subdir=split_subdir,
                                 image_dir="Animals_with_Attributes2/JPEGImages")
    ds = xlsa17.load_dataset("awa2", _cfg(layout.root))
    assert Path(ds.meta["split_file"]).parent.resolve() == layout.split_dir.resolve()
    assert Path(ds.meta["image_dir"]) == layout.image_dir


def test_cub_images_directly_under_root(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "cub", image_dir="images")
    ds = xlsa17.load_dataset("cub", _cfg(layout.root))
    assert Path(ds.images.paths[0]).is_relative_to(tmp_path / "images")


def test_data_root_from_environment(tmp_path, monkeypatch):
    build_xlsa17_layout(tmp_path / "awa2", "awa2")
    monkeypatch.setenv("ZSLBENCH_DATA", str(tmp_path))
    ds = xlsa17.load_dataset("awa2", DataConfig())
    assert ds.meta["root"] == str(tmp_path / "awa2")


def test_load_without_images_when_not_required(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    ds = xlsa17.load_dataset("awa2", _cfg(layout.root), require_images=False)
    assert ds.meta["images_checked"] is False
    assert len(ds.images) == len(layout.labels)


def test_missing_attribute_names_give_placeholders(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "sun", with_attribute_names=False)
    with pytest.warns(RuntimeWarning, match="placeholder"):
        ds = xlsa17.load_dataset("sun", _cfg(layout.root))
    assert ds.attribute_names[0] == "attribute 1"
    assert ds.meta["attribute_names_source"] == "placeholder"


def test_relative_image_paths_maps_foreign_prefixes():
    files = np.array([
        "/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg",
        "C:\\data\\AwA2\\JPEGImages\\zebra\\zebra_10002.jpg",
        "/home/u/JPEGImages/old/JPEGImages/ox/ox_1.jpg",
    ])
    rel = xlsa17.relative_image_paths(files, "JPEGImages")
    assert rel.tolist() == ["antelope/antelope_10001.jpg", "zebra/zebra_10002.jpg", "ox/ox_1.jpg"]
    with pytest.raises(DataError, match="contain no 'images/' folder"):
        xlsa17.relative_image_paths(np.array(["/x/JPEGImages/a.jpg"]), "images")


def test_res101_index_cached_and_refreshed_on_change(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    res101 = layout.split_dir / "res101.mat"
    first = xlsa17.read_res101_index(res101)
    cached = list((tmp_path / "cache" / "xlsa17").glob("res101-index-*.npz"))
    assert len(cached) == 1
    np.testing.assert_array_equal(xlsa17.read_res101_index(res101).labels, first.labels)
    scipy.io.savemat(res101, {"image_files": cell(layout.image_files[:3]), "labels": np.ones((3, 1))})
    os.utime(res101, ns=(1, 1))  # a different mtime even on coarse file systems
    assert len(xlsa17.read_res101_index(res101).labels) == 3


def test_load_res101_features(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "sun", with_images=False)
    features, labels, files = xlsa17.load_res101_features("sun", _cfg(layout.root))
    assert features.shape == (len(layout.labels), 2048) and features.dtype == np.float32
    np.testing.assert_allclose(features, layout.features)
    np.testing.assert_array_equal(labels, layout.labels)
    assert files.tolist() == layout.rel_paths


def test_dataset_specs(tmp_path):
    specs = {s.name: s for s in xlsa17_specs.dataset_specs()}
    assert set(specs) == {"awa1", "awa2", "apy", "cub", "sun", "flo"}
    assert all(s.default_image_size == 224 and s.needs_download and s.homepage.startswith("https://") for s in specs.values())
    layout = build_xlsa17_layout(tmp_path, "cub")
    assert specs["cub"].load(_cfg(layout.root)).name == "cub"
    assert specs["cub"].check(layout.root).ok


def test_expected_layout_names_files_and_downloads():
    text = xlsa17.expected_layout("sun")
    assert "xlsa17/data/SUN/att_splits.mat" in text and "res101.mat" in text and "<root>/images/" in text
    assert "xlsa17.zip" in text
    with pytest.raises(UsageError):
        xlsa17.expected_layout("imagenet")


# --------------------------------------------------------------------------- bad input


def test_missing_root_names_layout_and_check_command(tmp_path):
    with pytest.raises(DataError) as err:
        xlsa17.load_dataset("awa2", _cfg(tmp_path / "nowhere"))
    assert "does not exist" in err.value.message
    assert "zslbench data check awa2" in err.value.hint and "JPEGImages" in err.value.hint


def test_missing_split_file_and_image_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="att_splits.mat not found") as err:
        xlsa17.load_dataset("cub", _cfg(tmp_path / "empty"))
    assert "zslbench data check cub" in err.value.hint
    layout = build_xlsa17_layout(tmp_path / "noimg", "cub", with_images=False)
    with pytest.raises(DataError, match="image folder not found"):
        xlsa17.load_dataset("cub", _cfg(layout.root))


def test_mat_without_required_key_names_key_and_file(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    path = layout.split_dir / "att_splits.mat"
    data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__") and k != "test_unseen_loc"}
    scipy.io.savemat(path, data)
    with pytest.raises(DataError) as err:
        xlsa17.load_dataset("awa2", _cfg(layout.root))
    assert "test_unseen_loc" in err.value.message and str(path) in err.value.message


def test_attribute_matrix_class_count_mismatch_gives_both_sizes(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    path = layout.split_dir / "att_splits.mat"
    data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    data["allclasses_names"] = cell(layout.class_names[:-1])
    scipy.io.savemat(path, data)
    with pytest.raises(DataError) as err:
        xlsa17.read_att_splits(path)
    assert "50 class columns" in err.value.message and "lists 49 classes" in err.value.message


def test_attribute_names_count_mismatch(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2")
    (layout.root / "predicates.txt").write_text("1\tblack\n2\twhite\n")
    with pytest.raises(DataError, match="2 attribute names but the attribute matrix has 85"):
        xlsa17.load_dataset("awa2", _cfg(layout.root))


def test_missing_images_error_lists_count_and_paths(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2")
    gone = [int(layout.test_unseen_loc[0]), int(layout.trainval_loc[0])]
    for i in gone:
        layout.image_path(i).unlink()
    with pytest.raises(DataError) as err:
        xlsa17.load_dataset("awa2", _cfg(layout.root))
    assert "2 images are missing or unreadable" in err.value.message
    assert str(layout.image_path(min(gone))) in err.value.message
    assert "skip_bad_images" in err.value.hint


def test_skip_bad_images_drops_and_records_them(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2")
    missing, corrupt = int(layout.test_unseen_loc[0]), int(layout.trainval_loc[1])
    layout.image_path(missing).unlink()
    layout.image_path(corrupt).write_bytes(b"not a jpeg")
    with pytest.warns(RuntimeWarning, match="skipping 2"):
        ds = xlsa17.load_dataset("awa2", _cfg(layout.root, skip_bad_images=True))
    assert ds.meta["skipped_images"] == 2
    assert ds.meta["skipped_by_split"] == {"trainval": 1, "test_seen": 0, "test_unseen": 1}
    assert str(layout.image_path(min(missing, corrupt))) == ds.meta["skipped_image_paths"][0]
    assert missing not in ds.splits["test_unseen"] and corrupt not in ds.splits["trainval"]
    assert len(ds.splits["test_unseen"]) == len(layout.test_unseen_loc) - 1
    assert len(ds.labels) == len(layout.labels)  # rows stay aligned with res101.mat


def test_locations_beyond_image_list(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    path = layout.split_dir / "att_splits.mat"
    data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    data["test_seen_loc"] = np.array([[999]], dtype=np.uint16)
    scipy.io.savemat(path, data)
    with pytest.raises(DataError, match="refers to image 999"):
        xlsa17.load_dataset("awa2", _cfg(layout.root), require_images=False)


def test_unreadable_mat_file(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa2", with_images=False)
    (layout.split_dir / "res101.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        xlsa17.load_dataset("awa2", _cfg(layout.root), require_images=False)


# --------------------------------------------------------------------------- data check


def test_check_complete_miniature_copy(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "sun")
    report = check_dataset("sun", layout.root)
    assert report.ok and not report.missing and report.attribute_names_found
    assert report.counts["images_found"] == report.counts["images_listed"] == len(layout.labels)
    assert report.counts["seen_classes"] == len(layout.seen)
    assert any("differ from the standard" in n for n in report.notes)  # a miniature is not the real split
    assert report.render().splitlines()[2] == "status: OK"


def test_check_reports_missing_images_and_names(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "cub", with_attribute_names=False)
    layout.image_path(0).unlink()
    report = check_dataset("cub", layout.root)
    assert not report.attribute_names_found and not report.usable_for_images
    assert report.ok and report.usable_for_features  # the published features need no images
    assert any(m.startswith("1 of 24 images") for m in report.missing_for_images)
    assert "expected layout:" in report.render()


def test_check_missing_root(tmp_path):
    report = check_dataset("awa2", tmp_path / "absent")
    assert not report.ok and report.missing == [f"dataset root {tmp_path / 'absent'}"]
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("folder, name", [("AWA2", "awa2"), ("CUB", "cub")])
def test_loader_reproduces_standard_sizes_from_real_split_file(tmp_path, folder, name):
    """The real att_splits.mat with a stand-in res101.mat whose labels agree with the real class lists."""
    real = _real(folder)
    split_dir = tmp_path / "xlsa17" / "data" / folder
    split_dir.mkdir(parents=True)
    for file in real.parent.iterdir():
        shutil.copy(file, split_dir / file.name)
    splits = xlsa17.read_att_splits(split_dir / "att_splits.mat")
    seen = splits.class_ids(splits.seen_class_names)
    unseen = splits.class_ids(splits.unseen_class_names)
    num_images = int(max(splits.trainval_loc.max(), splits.test_seen_loc.max(), splits.test_unseen_loc.max())) + 1
    labels = np.full(num_images, seen[0])
    seen_locs = np.concatenate([splits.trainval_loc, splits.test_seen_loc])
    labels[seen_locs] = seen[np.arange(len(seen_locs)) % len(seen)]
    labels[splits.test_unseen_loc] = unseen[np.arange(len(splits.test_unseen_loc)) % len(unseen)]
    if splits.val_loc is not None:  # keep train_loc/val_loc classes consistent with the class lists
        train = splits.class_ids(splits.train_class_names)
        val = splits.class_ids(splits.val_class_names)
        labels[splits.train_loc] = train[np.arange(len(splits.train_loc)) % len(train)]
        labels[splits.val_loc] = val[np.arange(len(splits.val_loc)) % len(val)]
    folder_name = xlsa17.dataset_info(name).image_dir_name
    files = [f"/BS/authors/{folder_name}/c/img_{i}.jpg" for i in range(num_images)]
    scipy.io.savemat(split_dir / "res101.mat", {"image_files": cell(files), "labels": (labels + 1).reshape(-1, 1)})

    names_file = real.parents[2] / "attribute-names" / f"{folder}.txt"
    if names_file.is_file():  # bare names, one per line: as accepted from predicates.txt / attributes.txt
        shutil.copy(names_file, tmp_path / ("predicates.txt" if name == "awa2" else "attributes.txt"))

    ds = xlsa17.load_dataset(name, _cfg(tmp_path), require_images=False)
    std = xlsa17.dataset_info(name).standard
    assert (len(ds.seen_classes), len(ds.unseen_classes)) == (std.seen_classes, std.unseen_classes)
    assert tuple(len(ds.splits[s]) for s in ("trainval", "test_seen", "test_unseen")) == (
        std.trainval, std.test_seen, std.test_unseen)
    assert len(ds.train_classes) + len(ds.val_classes) == std.seen_classes
    assert ds.num_attributes == xlsa17.dataset_info(name).num_attributes
    if names_file.is_file():
        assert len(ds.attribute_groups) == (9 if name == "awa2" else 28)


# --------------------------------------------------------------------------- the whole GBU suite: sizes, refusals, FLO


def test_dataset_table_holds_the_standard_sizes():
    expected = {  # seen/unseen classes; attribute dim; trainval / test_seen / test_unseen (Xian et al.)
        "awa1": (40, 10, 85, 19832, 4958, 5685), "awa2": (40, 10, 85, 23527, 5882, 7913),
        "apy": (20, 12, 64, 5932, 1483, 7924), "cub": (150, 50, 312, 7057, 1764, 2967),
        "sun": (645, 72, 102, 10320, 2580, 1440), "flo": (82, 20, 1024, 5631, 1403, 1155),
    }
    for name, (seen, unseen, dim, trainval, test_seen, test_unseen) in expected.items():
        info = xlsa17.dataset_info(name)
        std = info.standard
        assert (std.seen_classes, std.unseen_classes, info.num_attributes) == (seen, unseen, dim)
        assert (std.trainval, std.test_seen, std.test_unseen) == (trainval, test_seen, test_unseen)
        assert info.homepage.startswith("http") and info.downloads
        assert f"{info.num_classes} classes" in xlsa17.expected_layout(name)


def test_lookalikes_are_found_by_shape_then_split_sizes():
    assert xlsa17.lookalike_datasets(32, 64) == ["apy"]
    assert xlsa17.lookalike_datasets(102, 1024) == ["flo"]
    assert xlsa17.lookalike_datasets(50, 85) == ["awa1", "awa2"]
    assert xlsa17.lookalike_datasets(50, 85, (19832, 4958, 5685)) == ["awa1"]
    assert xlsa17.lookalike_datasets(50, 85, (1, 2, 3)) == ["awa1", "awa2"]
    assert xlsa17.lookalike_datasets(7, 3) == []


def test_apy_file_given_as_awa2_is_refused_naming_apy(tmp_path):
    build_xlsa17_layout(tmp_path, "apy", split_subdir="xlsa17/data/AWA2", with_images=False)
    with pytest.raises(DataError) as err:
        xlsa17.load_dataset("awa2", _cfg(tmp_path), require_images=False)
    assert "32 classes x 64 attributes" in err.value.message and "awa2 has 50 classes x 85" in err.value.message
    assert "looks like apy" in err.value.hint and "--dataset apy" in err.value.hint
    assert "\n" not in err.value.message
    report = check_dataset("awa2", tmp_path)
    assert not report.ok and any("looks like apy" in m for m in report.missing)


def test_awa1_file_of_standard_sizes_given_as_awa2_is_refused(tmp_path):
    std = xlsa17.dataset_info("awa1").standard
    splits = xlsa17.AttSplits(
        path=tmp_path / "att_splits.mat", class_names=[f"c{i}" for i in range(50)], att=np.ones((50, 85)),
        original_att=None, trainval_loc=np.arange(std.trainval), test_seen_loc=np.arange(std.test_seen),
        test_unseen_loc=np.arange(std.test_unseen))
    xlsa17.check_dataset_shape("awa1", splits)  # accepted as itself
    with pytest.raises(DataError) as err:
        xlsa17.check_dataset_shape("awa2", splits)
    assert "looks like awa1" in err.value.hint


def test_a_file_of_no_known_shape_is_refused(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "sun", with_images=False, shape=(20, 9))
    with pytest.raises(DataError) as err:
        xlsa17.load_dataset("sun", _cfg(layout.root), require_images=False)
    assert "20 classes x 9 attributes" in err.value.message and "matches none" in err.value.hint


def test_flo_without_names_and_original_att(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "flo")
    keys = set(scipy.io.loadmat(layout.split_dir / "att_splits.mat"))
    assert "allclasses_names" not in keys and "original_att" not in keys
    ds = xlsa17.load_dataset("flo", _cfg(layout.root))
    assert ds.class_names[:2] == ["class 1", "class 2"] and ds.meta["class_names_source"] == "placeholder"
    assert ds.num_attributes == 1024 and ds.meta["attribute_names_source"] == "placeholder"
    with pytest.raises(DataError, match="original_att"):
        xlsa17.load_dataset("flo", _cfg(layout.root, attributes="original_att"))
    np.testing.assert_array_equal(ds.train_classes, layout.train_classes)  # from train_loc/val_loc
    assert [Path(p) for p in ds.images.paths][:3] == [layout.image_path(i) for i in range(3)]


def test_flo_class_names_from_allclasses_txt(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "flo", with_images=False)
    names = [f"flower {i:03d}" for i in range(102)]
    (layout.split_dir / "allclasses.txt").write_text("\n".join(names) + "\n")
    ds = xlsa17.load_dataset("flo", _cfg(layout.root), require_images=False)
    assert ds.class_names == names and ds.meta["class_names_source"] == "allclasses.txt"


def test_a_file_without_class_names_is_refused_where_names_are_expected(tmp_path):
    build_xlsa17_layout(tmp_path, "flo", split_subdir="xlsa17/data/CUB", with_images=False)
    with pytest.raises(DataError, match="allclasses_names"):
        xlsa17.load_dataset("cub", _cfg(tmp_path), require_images=False)


def test_apy_images_map_below_the_shared_prefix(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "apy")
    ds = xlsa17.load_dataset("apy", _cfg(layout.root))
    rel = [Path(p).relative_to(layout.root / "images").as_posix() for p in ds.images.paths]
    assert rel == layout.rel_paths
    assert any(r.startswith("VOC2008/JPEGImages/") for r in rel) and any(r.startswith("ayahoo_test_images/") for r in rel)
    assert ds.attribute_names[:3] == ["2d boxy", "3d boxy", "round"]


def test_feature_loading_accepts_paths_without_the_image_folder_name(tmp_path):
    layout = build_xlsa17_layout(tmp_path, "awa1", with_images=False)
    res101 = layout.split_dir / "res101.mat"
    data = {k: v for k, v in scipy.io.loadmat(res101).items() if not k.startswith("__")}
    data["image_files"] = cell([f.replace("JPEGImages", "pictures") for f in layout.image_files])
    scipy.io.savemat(res101, data)
    ds = xlsa17.load_dataset("awa1", _cfg(layout.root), require_images=False)
    assert str(ds.images.paths[0]).endswith(layout.rel_paths[0])
    with pytest.raises(DataError, match="JPEGImages"):
        xlsa17.load_dataset("awa1", _cfg(layout.root))
    report = check_dataset("awa1", layout.root)
    assert report.usable_for_features and not report.usable_for_images


@pytest.mark.parametrize("name", ["awa1", "apy", "flo"])
def test_feature_only_copy_is_usable_for_feature_methods(tmp_path, name):
    from click.testing import CliRunner

    from zslbench.cli import main

    layout = build_xlsa17_layout(tmp_path, name, with_images=False)
    report = check_dataset(name, layout.root)
    assert report.ok and report.usable_for_features and not report.usable_for_images
    assert not report.missing and any("image folder" in m for m in report.missing_for_images)
    result = CliRunner().invoke(main, ["data", "check", name, "--root", str(layout.root)])
    assert result.exit_code == 0, result.output
    assert "status: OK for feature methods only" in result.output
    assert "usable for feature methods (res101.mat): yes" in result.output
    assert "usable for image methods (images): no" in result.output
    complete = check_dataset(name, build_xlsa17_layout(tmp_path / "full", name).root)
    assert complete.usable_for_images and complete.render().splitlines()[2] == "status: OK"


def test_data_check_exits_1_when_unusable_for_any_method(tmp_path):
    from click.testing import CliRunner

    from zslbench.cli import main

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["data", "check", "apy", "--root", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "status: INCOMPLETE" in result.output


def test_readme_documents_every_layout():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in xlsa17.DATASETS:
        assert xlsa17.expected_layout(name) in readme, f"README lacks the current layout of {name}"
