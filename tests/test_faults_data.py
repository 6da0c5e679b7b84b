"""Bad data is found before a run directory exists, by `zslbench data check` and by `zslbench run` alike.

Each case damages one file of a miniature AwA2 copy (tests/fixtures_xlsa17.py)
and checks both commands: the exit code, exactly one ``Error`` line naming the
file, split or ids, no traceback, and no run directory (so no ``failed`` run is
left behind). docs/reliability.md ("Data: checks before a run") lists them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from fixtures_xlsa17 import build_xlsa17_layout, cell
from test_faults import QUICK, assert_one_line_error, invoke, snapshot
from test_multilabel_run import make_nuswide_features_only, multilabel_registry  # noqa: F401  (fixture)


@pytest.fixture
def layout(tmp_path):
    return build_xlsa17_layout(tmp_path / "awa2", "awa2", n_classes=8, n_unseen=2, images_per_class=6)


def _rewrite(path: Path, **changes) -> None:
    """Rewrite variables of a MATLAB file with raw values (no 1-based conversion, any dtype)."""
    data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    data.update(changes)
    scipy.io.savemat(path, data)


def _splits(layout) -> dict:
    return scipy.io.loadmat(layout.split_dir / "att_splits.mat")


def _res101(layout) -> dict:
    return scipy.io.loadmat(layout.split_dir / "res101.mat")


def _one_based(locs) -> np.ndarray:
    return (np.asarray(locs) + 1).astype(np.uint16).reshape(-1, 1)


# --------------------------------------------------------------------------- the damage of each case

def nan_in_att(layout) -> str:
    att = _splits(layout)["att"].copy()
    att[3, 2] = np.nan  # class 3 (killer+whale)
    _rewrite(layout.split_dir / "att_splits.mat", att=att)
    return "'att' holds 1 NaN or infinite values, in 1 classes (killer+whale)"


def inf_in_original_att(layout) -> str:
    original = _splits(layout)["original_att"].copy()
    original[0, 1] = -1.0  # -1 means "missing" in the originals: allowed
    original[5, 4] = np.inf
    _rewrite(layout.split_dir / "att_splits.mat", original_att=original)
    return "'original_att' holds 1 NaN or infinite values, in 1 classes (dalmatian)"


def nan_in_res101_features(layout) -> str:
    features = _res101(layout)["features"].copy()  # (2048, N)
    features[7, 5] = np.nan
    _rewrite(layout.split_dir / "res101.mat", features=features)
    return f"res101.mat: the features of 1 images hold NaN or infinite values, e.g. images 5 ({layout.image_files[5]})"


def feature_count_mismatch(layout) -> str:
    features = _res101(layout)["features"]
    _rewrite(layout.split_dir / "res101.mat", features=features[:, :-1])
    n = len(layout.labels)
    return f"res101.mat: 'features' has shape (2048, {n - 1}) but the file lists {n} images"


def leak_by_file_name(layout) -> str:
    files = list(layout.image_files)
    victim, source = int(layout.test_unseen_loc[0]), int(layout.trainval_loc[0])
    files[victim] = files[source]  # a test_unseen row naming a trainval image file
    _rewrite(layout.split_dir / "res101.mat", image_files=cell(files))
    # data check names the file relative to the image folder, a run by its path: both end alike
    return f"{layout.rel_paths[source]} (images [{victim}] of test_unseen, [{source}] of trainval)"


def unseen_class_without_test_images(layout) -> str:
    last = layout.unseen[-1]
    kept = layout.test_unseen_loc[layout.labels[layout.test_unseen_loc] != last]
    _rewrite(layout.split_dir / "att_splits.mat", test_unseen_loc=_one_based(kept))
    return f"split test_unseen has no images of 1 unseen classes [{last}] ({layout.class_names[last]})"


def seen_class_without_test_images(layout) -> str:
    first = layout.seen[0]
    kept = layout.test_seen_loc[layout.labels[layout.test_seen_loc] != first]
    _rewrite(layout.split_dir / "att_splits.mat", test_seen_loc=_one_based(kept))
    return f"split test_seen has no images of 1 seen classes [{first}] ({layout.class_names[first]})"


def labels_shifted_by_one(layout) -> str:
    _rewrite(layout.split_dir / "res101.mat", labels=(layout.labels + 2).astype(np.float64).reshape(-1, 1))
    return "the labels look shifted by +1 (off by one)"


def labels_zero_based(layout) -> str:
    _rewrite(layout.split_dir / "res101.mat", labels=layout.labels.astype(np.float64).reshape(-1, 1))
    return "labels must be 1-based class indices, found 0"


def label_out_of_range(layout) -> str:
    labels = (layout.labels + 1).astype(np.float64)
    labels[layout.trainval_loc[0]] = 51  # AwA2 has 50 classes
    _rewrite(layout.split_dir / "res101.mat", labels=labels.reshape(-1, 1))
    return "res101.mat: label 51 exceeds the 50 classes of"


def fractional_split_index(layout) -> str:
    locs = (layout.test_seen_loc + 1).astype(np.float64)
    locs[1] = 3.5
    _rewrite(layout.split_dir / "att_splits.mat", test_seen_loc=locs.reshape(-1, 1))
    return "test_seen_loc holds 1 non-integral values, e.g. 3.5 (at positions [1])"


DATA_FAULTS = [nan_in_att, inf_in_original_att, nan_in_res101_features, feature_count_mismatch, leak_by_file_name,
               unseen_class_without_test_images, seen_class_without_test_images, labels_shifted_by_one,
               labels_zero_based, label_out_of_range, fractional_split_index]


def _assert_refused(result, message: str, runs: Path) -> None:
    assert_one_line_error(result, 1, message)
    assert not runs.exists()


def test_the_miniature_copy_is_clean_for_both_commands(layout, tmp_path):
    """Control: undamaged, the copy passes `data check` and a run completes (the faults below are the cause)."""
    checked = invoke("data", "check", "awa2", "--root", layout.root)
    assert checked.exit_code == 0, checked.output
    result = invoke("run", "eszsl", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *QUICK)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("damage", DATA_FAULTS, ids=lambda f: f.__name__)
def test_bad_data_is_refused_by_data_check(layout, damage):
    message = damage(layout)
    result = invoke("data", "check", "awa2", "--root", layout.root)
    assert_one_line_error(result, 1, message)
    assert "awa2 is not usable" in result.output


@pytest.mark.parametrize("damage", DATA_FAULTS, ids=lambda f: f.__name__)
def test_bad_data_stops_a_run_before_its_directory_exists(layout, tmp_path, damage):
    message = damage(layout)
    before = snapshot(layout.root)
    result = invoke("run", "eszsl", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *QUICK)
    _assert_refused(result, message, tmp_path / "runs")
    assert snapshot(layout.root) == before


def test_apy_objects_of_one_image_file_in_two_splits_are_not_a_leak(tmp_path):
    """aPY's rows are objects: several of one image file may sit in different splits of the original split."""
    from zslbench.config import DataConfig
    from zslbench.data import xlsa17

    apy = build_xlsa17_layout(tmp_path / "apy", "apy")
    files = list(apy.image_files)
    files[int(apy.test_seen_loc[0])] = files[int(apy.trainval_loc[0])]
    _rewrite(apy.split_dir / "res101.mat", image_files=cell(files))
    checked = invoke("data", "check", "apy", "--root", apy.root)
    assert checked.exit_code == 0, checked.output
    assert "1 rows of res101.mat are further objects of an image file" in checked.output
    assert len(xlsa17.load_dataset("apy", DataConfig(root=str(apy.root))).splits["test_seen"]) == len(apy.test_seen_loc)


def test_original_att_with_minus_one_for_missing_is_accepted(layout, tmp_path):
    original = _splits(layout)["original_att"].copy()
    original[:, 2] = -1.0
    _rewrite(layout.split_dir / "att_splits.mat", original_att=original)
    assert invoke("data", "check", "awa2", "--root", layout.root).exit_code == 0
    result = invoke("run", "eszsl", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs",
                    "--set", "data.attributes=original_att", *QUICK)
    assert result.exit_code == 0, result.output


def test_nan_in_the_authors_hdf5_features_stops_a_run_before_its_directory_exists(multilabel_registry, tmp_path,
                                                                                   monkeypatch):
    """The authors' HDF5 features (NUS-WIDE) are read, and checked finite, before the run directory exists."""
    import h5py

    from zslbench.data import nuswide

    monkeypatch.setattr(nuswide, "TOP_K", (1, 2))
    root = make_nuswide_features_only(tmp_path / "NUS-WIDE", train=30, test=12)
    with h5py.File(root / "features" / "nus_wide_test.h5", "a") as h5:
        h5["folder1_0004_test.jpg-features"][2, 1] = np.nan
    result = invoke("run", "mlzsl-feat-linear", "-d", "nus-wide", "--data-root", root, "--out", tmp_path / "runs",
                    *QUICK)
    _assert_refused(result, "nus_wide_test.h5: the features of image 'folder1_0004_test.jpg' hold NaN or infinite "
                            "values", tmp_path / "runs")


# --------------------------------------------------------------------------- images


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _not_an_image(path: Path) -> None:
    path.write_bytes(b"<html>404 not found</html>\n")


def _garbled_middle(path: Path) -> None:
    """Signature and end marker intact, the first Huffman table's code counts overwritten: only a decode finds it."""
    data = bytearray(path.read_bytes())
    table = data.find(b"\xff\xc4")  # DHT marker, 2 length bytes, 1 class/id byte, then 16 code counts
    data[table + 5:table + 21] = b"\xff" * 16
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_zero_bytes, _truncated, _not_an_image], ids=lambda f: f.__name__.strip("_"))
def test_a_broken_jpeg_is_refused_by_data_check_and_before_a_run(layout, tmp_path, damage):
    image = layout.image_path(int(layout.test_unseen_loc[0]))
    damage(image)
    for args in ([], ["--fast"]):
        checked = invoke("data", "check", "awa2", "--root", layout.root, *args)
        assert_one_line_error(checked, 1, "1 of 48 images do not decode, e.g. " + str(image))
    result = invoke("run", "baseline", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *QUICK)
    _assert_refused(result, f"1 images are missing or unreadable under {layout.image_dir}: {image}", tmp_path / "runs")


def test_a_garbled_jpeg_is_found_by_the_full_decode_of_data_check(layout):
    image = layout.image_path(3)
    _garbled_middle(image)
    from zslbench.data.image_files import suspect_image_files, undecodable

    assert not suspect_image_files([image])[0]  # the cheap look cannot see it ...
    assert undecodable(image) is not None  # ... a decode can
    assert invoke("data", "check", "awa2", "--root", layout.root, "--fast").exit_code == 0
    checked = invoke("data", "check", "awa2", "--root", layout.root)
    assert_one_line_error(checked, 1, f"do not decode, e.g. {image}")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_decode_failure_while_training_is_one_data_error_naming_the_file(layout, workers):
    """What the cheap look lets through fails in the loader as one line naming the file, also from a worker."""
    from torch.utils.data import DataLoader

    from zslbench.config import DataConfig
    from zslbench.data import xlsa17
    from zslbench.data.transforms import ImageDataset, UnreadableImageError

    dataset = xlsa17.load_dataset("awa2", DataConfig(root=str(layout.root)))
    index = int(dataset.splits["trainval"][0])
    _garbled_middle(Path(dataset.images.paths[index]))
    loader = DataLoader(ImageDataset(dataset, np.array([index]), lambda image: image), batch_size=1,
                        num_workers=workers)
    with pytest.raises(UnreadableImageError) as info:
        next(iter(loader))
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert info.value.message.startswith(f"cannot read image {dataset.images.paths[index]}: ")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("args, message", [
    (["--set", "data.attributes=foo"], "unknown data.attributes 'foo'"),
    (["--set", "train.epochs=1e23"], "train.epochs expects an integer, got 1e+23"),
    (["--epochs", "100000000000000000000000"], "train.epochs must be at most 100000, got 100000000000000000000000"),
    (["--set", "train.epochs=100001"], "train.epochs must be at most 100000, got 100001"),
])
def test_unknown_attributes_and_absurd_epochs_are_refused_at_resolution(layout, tmp_path, args, message):
    result = invoke("run", "eszsl", "-d", "awa2", "--data-root", layout.root, "--out", tmp_path / "runs", *args, *QUICK)
    assert_one_line_error(result, 2, message)
    assert not (tmp_path / "runs").exists()
