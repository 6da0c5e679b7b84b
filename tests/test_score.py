"""``zslbench score`` (zslbench.scoring): stored predictions of other code under the honest protocol.

Planted matrices on synthetic-tiny (and a miniature awa2 layout) are written in
every format and must score to exactly what ``zslbench.evaluate`` gives; an
independent re-implementation of the protocol (per-class accuracy, U, S, H and
AUSUC by a sweep over gamma at every score gap) must agree to 1e-9; every
mismatch is a one-line error with nothing stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

import zslbench
from zslbench import store
from zslbench.cli import main
from zslbench.data.dataset import validation_split
from zslbench.errors import DataError, UsageError
from zslbench.evaluation import choose_calibration
from zslbench.published_protocol import softmax_probabilities, stacked_accuracies, stacked_accuracies_loop
from zslbench.scoring.alignment import split_file_order
from zslbench.scoring.score import load_scoring_dataset, validation_image_ids

from fixtures_xlsa17 import build_xlsa17_layout
from test_compare import single_label_test, write_run

TINY = "synthetic-tiny"


@pytest.fixture
def tiny():
    return load_scoring_dataset(TINY)


def test_labels(dataset) -> np.ndarray:
    seen, unseen = split_file_order(dataset)
    return np.concatenate([dataset.labels[seen], dataset.labels[unseen]])


test_labels.__test__ = False  # a helper, not a test


def planted(dataset, seed: int = 0, ties: bool = False, dtype=np.float32,
            boost: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Scores (seen-first rows) where the true class gets a boost, and the labels of those rows."""
    labels = test_labels(dataset)
    rng = np.random.default_rng(seed)
    shape = (len(labels), dataset.num_classes)
    scores = rng.integers(-2, 3, shape).astype(dtype) if ties else rng.standard_normal(shape).astype(dtype)
    right = rng.random(len(labels)) < 0.6
    scores[np.flatnonzero(right), labels[right]] += 2 if ties else boost
    return scores, labels


def expected(dataset, scores, labels, gamma=None) -> dict:
    return zslbench.evaluate(scores, labels, dataset.seen_classes, dataset.unseen_classes, gamma=gamma)


def stored_runs(root: Path) -> list[Path]:
    return [p for p in root.rglob(store.CONFIG_FILE)] if root.exists() else []


# --------------------------------------------------------------------------- formats


def write_mat73(path: Path, name: str, matrix: np.ndarray) -> None:
    """A MATLAB v7.3 file as MATLAB writes it: a 512-byte header block, then HDF5 holding the transpose."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.create_dataset(name, data=np.ascontiguousarray(matrix.T))
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .")


def write_format(path: Path, matrix: np.ndarray) -> Path:
    suffix = path.suffix
    if suffix == ".npz":
        np.savez(path, scores=matrix)
    elif suffix == ".npy":
        np.save(path, matrix)
    elif suffix == ".mat" and path.stem.endswith("73"):
        write_mat73(path, "scores", matrix)
    elif suffix == ".mat":
        scipy.io.savemat(path, {"scores": matrix})
    elif suffix in (".csv", ".tsv", ".txt"):
        delimiter = {".csv": ",", ".tsv": "\t", ".txt": " "}[suffix]
        np.savetxt(path, matrix.astype(np.float64), fmt="%.17g", delimiter=delimiter)
    elif suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file({"scores": np.ascontiguousarray(matrix)}, str(path))
    else:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(matrix))
        torch.save(tensor if suffix == ".pt" else {"logits": tensor}, path)
    return path


FORMAT_FILES = ("p.npz", "p.npy", "p.mat", "p73.mat", "p.csv", "p.tsv", "p.txt", "p.safetensors", "p.pt", "p.pth")


@pytest.mark.parametrize("file_name", FORMAT_FILES)
def test_every_format_scores_exactly_what_evaluate_gives(tmp_path, tiny, file_name):
    scores, labels = planted(tiny, seed=3)
    path = write_format(tmp_path / file_name, scores)
    run = zslbench.score(path, TINY, name="planted", out=tmp_path / "runs")
    assert run.test == expected(tiny, scores, labels)
    stored = json.loads((run.dir / store.METRICS_FILE).read_text())
    assert stored["test"] == run.test and stored["protocol"] == "standard"
    config = json.loads((run.dir / store.CONFIG_FILE).read_text())
    assert config["kind"] == "scored" and config["method"] == "planted" and config["dataset"] == TINY
    assert config["predictions"]["sha256"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert config["predictions"]["size_bytes"] == path.stat().st_size
    assert config["rows"]["order"] == "seen-first" and config["split"]["labels_and_splits_sha256"]
    assert json.loads((run.dir / store.STATUS_FILE).read_text())["state"] == "complete"


def test_planted_perfect_scores_give_full_accuracy(tmp_path, tiny):
    labels = test_labels(tiny)
    scores = np.zeros((len(labels), tiny.num_classes), dtype=np.float32)
    scores[np.arange(len(labels)), labels] = 1.0
    run = zslbench.score(write_format(tmp_path / "perfect.npy", scores), TINY, out=tmp_path / "runs")
    assert run.test["t1"] == run.test["u"] == run.test["s"] == run.test["h"] == 1.0
    assert run.test["ausuc"] == pytest.approx(1.0, abs=1e-12)  # a sum of per-class fractions


# --------------------------------------------------------------------------- an independent implementation


def _pick(row: np.ndarray, seen: np.ndarray, unseen: np.ndarray, gamma: float) -> int:
    """The calibrated prediction of one image: a tie between the best seen and best unseen goes to seen,
    a tie inside a group to the class listed first."""
    best_seen = max(seen, key=lambda c: (row[c], -list(seen).index(c)))
    best_unseen = max(unseen, key=lambda c: (row[c], -list(unseen).index(c)))
    return int(best_unseen) if row[best_unseen] > row[best_seen] - gamma else int(best_seen)


def _mean_per_class(predicted: list[int], truth: np.ndarray) -> float:
    accuracies = []
    for c in sorted(set(truth.tolist())):
        members = [i for i, t in enumerate(truth) if t == c]
        accuracies.append(sum(predicted[i] == c for i in members) / len(members))
    return float(np.mean(accuracies)) if accuracies else 0.0


def reference_metrics(scores: np.ndarray, labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray) -> dict:
    """T1, U, S, H, AUSUC and the best H over gamma, from first principles in float64."""
    scores = scores.astype(np.float64)
    is_seen = np.isin(labels, seen)
    s_rows, u_rows = np.flatnonzero(is_seen), np.flatnonzero(~is_seen)

    def accuracies(gamma: float) -> tuple[float, float]:
        s_acc = _mean_per_class([_pick(scores[i], seen, unseen, gamma) for i in s_rows], labels[s_rows])
        u_acc = _mean_per_class([_pick(scores[i], seen, unseen, gamma) for i in u_rows], labels[u_rows])
        return s_acc, u_acc

    t1 = _mean_per_class([int(max(unseen, key=lambda c: (scores[i, c], -list(unseen).index(c)))) for i in u_rows],
                         labels[u_rows])
    s, u = accuracies(0.0)
    # Every gap between the scores' margins (best seen - best unseen), plus both ends.
    margins = np.unique(scores[:, seen].max(axis=1) - scores[:, unseen].max(axis=1))
    gammas = [margins[0] - 1.0, *((margins[:-1] + margins[1:]) / 2), margins[-1] + 1.0]
    points = [accuracies(g) for g in gammas]  # S falls, U rises as gamma grows
    ausuc = sum((points[k][0] - points[k + 1][0]) * (points[k][1] + points[k + 1][1]) / 2
                for k in range(len(points) - 1))
    h_of = [0.0 if a + b == 0 else 2 * a * b / (a + b) for a, b in points]
    return {"t1": t1, "u": u, "s": s, "h": 0.0 if u + s == 0 else 2 * u * s / (u + s), "ausuc": ausuc,
            "oracle_h": max(h_of)}


@pytest.mark.parametrize("seed,ties", [(0, False), (1, False), (2, True), (3, True), (4, True)])
def test_independent_reimplementation_agrees(tmp_path, tiny, seed, ties):
    scores, labels = planted(tiny, seed=seed, ties=ties, dtype=np.float64)
    run = zslbench.score(write_format(tmp_path / "random.npy", scores), TINY, out=tmp_path / "runs")
    reference = reference_metrics(scores, labels, tiny.seen_classes, tiny.unseen_classes)
    for key, value in reference.items():
        assert run.test[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_stacking_equals_the_public_loop_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n, c = 80, 9
    if seed % 2:  # probabilities whose sums with an offset round to ties in float32
        probabilities = rng.choice([0.0, 1e-9, 2e-9, 0.25, 0.5, 0.75], size=(n, c)).astype(np.float32)
    else:
        probabilities = softmax_probabilities(np.round(rng.standard_normal((n, c)) * (5 if seed else 40)))
    unseen = rng.choice(c, size=1 + seed % (c - 1), replace=False)
    labels = rng.integers(0, c, n)
    assert np.array_equal(stacked_accuracies(probabilities, labels, unseen),
                          stacked_accuracies_loop(probabilities, labels, unseen))


# --------------------------------------------------------------------------- conventions


def test_unseen_first_row_ids_and_columns_give_the_same_numbers(tmp_path, tiny):
    scores, labels = planted(tiny, seed=5)
    reference = expected(tiny, scores, labels)
    n_seen = len(tiny.splits["test_seen"])
    swapped = np.concatenate([scores[n_seen:], scores[:n_seen]])
    run = zslbench.score(write_format(tmp_path / "u.npy", swapped), TINY, order="unseen-first", out=tmp_path / "r")
    assert run.test == reference and run.config["rows"]["order"] == "unseen-first"

    seen_order, unseen_order = split_file_order(tiny)
    images = np.concatenate([seen_order, unseen_order])
    shuffle = np.random.default_rng(0).permutation(len(images))
    (tmp_path / "ids.txt").write_text("".join(f"{i}\n" for i in images[shuffle]))
    run = zslbench.score(write_format(tmp_path / "shuffled.npy", scores[shuffle]), TINY,
                         row_ids=tmp_path / "ids.txt", out=tmp_path / "r")
    assert run.test == reference and run.config["rows"]["row_ids_file"]["sha256"]

    permutation = np.random.default_rng(1).permutation(tiny.num_classes)
    (tmp_path / "classes.txt").write_text("".join(f"{tiny.class_names[c]}\n" for c in permutation))
    run = zslbench.score(write_format(tmp_path / "cols.npy", scores[:, permutation]), TINY,
                         columns=tmp_path / "classes.txt", out=tmp_path / "r")
    assert run.test == reference


def test_labels_file_replaces_the_dataset_labels(tmp_path, tiny):
    scores, labels = planted(tiny, seed=6)
    (tmp_path / "labels.txt").write_text("".join(f"{c}\n" for c in labels))
    run = zslbench.score(write_format(tmp_path / "p.npy", scores), TINY, labels=tmp_path / "labels.txt",
                         out=tmp_path / "r")
    assert run.test == expected(tiny, scores, labels)
    assert run.config["labels"]["sha256"]


def test_validation_predictions_choose_the_calibration(tmp_path, tiny):
    scores, labels = planted(tiny, seed=7)
    val_ds = validation_split(tiny, seed=0, heldout_fraction=0.2)
    rng = np.random.default_rng(8)
    val_seen, val_unseen = val_ds.splits["test_seen"], val_ds.splits["test_unseen"]
    val_labels = np.concatenate([tiny.labels[val_seen], tiny.labels[val_unseen]])
    val_scores = rng.standard_normal((len(val_labels), tiny.num_classes)).astype(np.float32)
    val_scores[np.arange(len(val_labels)), val_labels] += 1.0
    val_scores[:, val_ds.seen_classes] += 0.8  # a seen bias for the calibration to remove
    gamma = choose_calibration(val_scores[:len(val_seen)], tiny.labels[val_seen], val_scores[len(val_seen):],
                               tiny.labels[val_unseen], val_ds.seen_classes, val_ds.unseen_classes)
    run = zslbench.score(write_format(tmp_path / "p.npy", scores), TINY, val=write_format(tmp_path / "v.npy", val_scores),
                         out=tmp_path / "r")
    assert run.test == expected(tiny, scores, labels, gamma=gamma)
    assert run.test["cs_h"] is not None and run.metrics["protocol"] == "gbu"
    assert run.metrics["validation"]["chosen_gamma"] == gamma and "cs" not in run.metrics["unavailable"]

    # The same rows named by their ids (in another order) choose the same gamma.
    ids = validation_image_ids(tiny)
    shuffle = np.random.default_rng(2).permutation(len(ids))
    (tmp_path / "val_ids.txt").write_text("".join(f"{ids[i]}\n" for i in shuffle))
    run = zslbench.score(tmp_path / "p.npy", TINY, val=write_format(tmp_path / "v2.npy", val_scores[shuffle]),
                         val_row_ids=tmp_path / "val_ids.txt", out=tmp_path / "r")
    assert run.test["cs_gamma"] == gamma


def test_without_validation_cs_is_absent_and_the_output_says_why(tmp_path, tiny):
    scores, _ = planted(tiny, seed=9)
    write_format(tmp_path / "p.npy", scores)
    result = CliRunner().invoke(main, ["score", str(tmp_path / "p.npy"), "--dataset", TINY,
                                       "--out", str(tmp_path / "r")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "unavailable: cs: no validation predictions" in result.output
    assert "H chosen on test" in result.output and "Δ H (chosen − honest)" in result.output
    (run_dir,) = [p.parent for p in stored_runs(tmp_path / "r")]
    metrics = json.loads((run_dir / store.METRICS_FILE).read_text())
    assert metrics["test"]["cs_h"] is None
    assert metrics["published"]["published_H"] >= metrics["test"]["h"] - 1e-12  # swept on test: never below raw H


def test_print_val_ids_lists_the_validation_rows(tmp_path, tiny):
    result = CliRunner().invoke(main, ["score", "--dataset", TINY, "--print-val-ids"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    val_ds = validation_split(tiny, seed=0, heldout_fraction=0.2)
    expected_ids = np.concatenate([val_ds.splits["test_seen"], val_ds.splits["test_unseen"]])
    assert result.output.split() == [str(i) for i in expected_ids]
    assert set(expected_ids.tolist()) <= set(tiny.splits["trainval"].tolist())  # never a test image
    assert "missing PREDICTIONS" in refused(tmp_path, "--dataset", TINY)


def test_label_only_predictions_give_t1_u_s_h_and_say_what_is_unavailable(tmp_path, tiny):
    scores, labels = planted(tiny, seed=10)
    predicted = scores.argmax(axis=1).astype(np.int64)
    run = zslbench.score(write_format(tmp_path / "labels_only.npy", predicted), TINY, out=tmp_path / "r")
    seen_mask = np.isin(labels, tiny.seen_classes)
    from zslbench.evaluation import harmonic_mean, per_class_accuracy

    u = per_class_accuracy(predicted[~seen_mask], labels[~seen_mask], tiny.unseen_classes)
    s = per_class_accuracy(predicted[seen_mask], labels[seen_mask], tiny.seen_classes)
    assert (run.test["u"], run.test["s"], run.test["h"]) == (u, s, harmonic_mean(u, s))
    assert "ausuc" not in run.test and "ausuc" in run.metrics["unavailable"] and "cs" in run.metrics["unavailable"]
    assert "t1" in run.metrics["unavailable"]  # some unseen images are predicted as seen classes

    # The command says what is unavailable and why; calibration from labels is refused before anything is stored.
    result = CliRunner().invoke(main, ["score", str(tmp_path / "labels_only.npy"), "--dataset", TINY,
                                       "--out", str(tmp_path / "cli")], catch_exceptions=False)
    assert result.exit_code == 0 and "unavailable: ausuc: the file holds predicted labels only" in result.output
    assert "needs class scores" in refused(tmp_path, str(tmp_path / "labels_only.npy"), "--dataset", TINY,
                                           "--val", str(write_format(tmp_path / "v.npy", scores)))

    # MATLAB's way: a (1, N) row of doubles in a .mat file; 1-based labels are refused with the likely cause.
    scipy.io.savemat(tmp_path / "labels.mat", {"pred": predicted[None, :].astype(np.float64)})
    assert zslbench.score(tmp_path / "labels.mat", TINY, out=tmp_path / "r").test["h"] == run.test["h"]
    scipy.io.savemat(tmp_path / "labels1.mat", {"pred": predicted[None, :].astype(np.float64) + 1})
    with pytest.raises(DataError, match="1-based labels"):
        zslbench.score(tmp_path / "labels1.mat", TINY, out=tmp_path / "r")

    # ZSL predictions (every unseen image predicted among the unseen classes) give T1 exactly.
    zsl = predicted.copy()
    unseen_cols = np.asarray(tiny.unseen_classes)
    zsl[~seen_mask] = unseen_cols[scores[~seen_mask][:, unseen_cols].argmax(axis=1)]
    run = zslbench.score(write_format(tmp_path / "zsl.npy", zsl), TINY, out=tmp_path / "r")
    assert run.test["t1"] == expected(tiny, scores, labels)["t1"]


def test_xlsa17_rows_follow_the_split_file_order_and_ids_match_paths(tmp_path):
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False, images_per_class=5)
    split_file = layout.split_dir / "att_splits.mat"
    content = scipy.io.loadmat(split_file)
    rng = np.random.default_rng(0)
    content["test_seen_loc"] = content["test_seen_loc"][rng.permutation(len(content["test_seen_loc"]))]
    content["test_unseen_loc"] = content["test_unseen_loc"][rng.permutation(len(content["test_unseen_loc"]))]
    scipy.io.savemat(split_file, {k: v for k, v in content.items() if not k.startswith("__")})
    seen_locs, unseen_locs = content["test_seen_loc"].ravel() - 1, content["test_unseen_loc"].ravel() - 1
    labels = layout.labels[np.concatenate([seen_locs, unseen_locs])]
    scores = np.random.default_rng(1).standard_normal((len(labels), len(layout.class_names))).astype(np.float32)
    scores[np.arange(len(labels)), labels] += 2.0
    dataset = load_scoring_dataset("awa2", layout.root)
    run = zslbench.score(write_format(tmp_path / "awa2.npz", scores), "awa2", data_root=layout.root, out=tmp_path / "r")
    assert run.test == expected(dataset, scores, labels)
    assert run.config["split"]["file"]["sha256"] and run.config["labels"]["source"].endswith("res101.mat")
    # Row ids as the authors' absolute paths of res101.mat match the images.
    (tmp_path / "ids.txt").write_text("".join(f"{layout.image_files[i]}\n" for i in np.concatenate([seen_locs, unseen_locs])))
    run = zslbench.score(tmp_path / "awa2.npz", "awa2", data_root=layout.root, row_ids=tmp_path / "ids.txt",
                         out=tmp_path / "r")
    assert run.test == expected(dataset, scores, labels)


# --------------------------------------------------------------------------- refusals


def refused(tmp_path: Path, *args: str) -> str:
    """Run ``zslbench score`` expecting a one-line refusal with nothing stored; returns the message."""
    result = CliRunner().invoke(main, ["score", *args, "--out", str(tmp_path / "refused-runs")])
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert stored_runs(tmp_path / "refused-runs") == []
    return lines[0]


def test_row_count_errors_name_the_expected_split_counts(tmp_path, tiny):
    scores, _ = planted(tiny)
    n_seen = len(tiny.splits["test_seen"])
    message = refused(tmp_path, str(write_format(tmp_path / "seen_only.npy", scores[:n_seen])), "--dataset", TINY)
    assert f"{n_seen} rows" in message and f"{n_seen} test_seen + {len(tiny.splits['test_unseen'])} test_unseen" in message
    assert "only the test_seen rows?" in message
    message = refused(tmp_path, str(write_format(tmp_path / "short.npy", scores[:-1])), "--dataset", TINY)
    assert f"{len(scores) - 1} rows" in message


def test_swapped_blocks_are_refused_with_the_likely_cause(tmp_path, tiny):
    scores, _ = planted(tiny, seed=11, boost=3.0)
    n_seen = len(tiny.splits["test_seen"])
    swapped = write_format(tmp_path / "swapped.npy", np.concatenate([scores[n_seen:], scores[:n_seen]]))
    message = refused(tmp_path, str(swapped), "--dataset", TINY)
    assert "unseen rows first?" in message and "--order unseen-first" in message
    # The same rows as given score fine with the order named, and --trust-order skips the check.
    assert zslbench.score(swapped, TINY, order="unseen-first", out=tmp_path / "r").test["h"] > 0.3
    assert zslbench.score(swapped, TINY, trust_order=True, out=tmp_path / "r").test["h"] < 0.1


def test_column_count_nan_and_label_errors(tmp_path, tiny):
    scores, labels = planted(tiny)
    message = refused(tmp_path, str(write_format(tmp_path / "seen_cols.npy", scores[:, tiny.seen_classes])),
                      "--dataset", TINY)
    assert f"{len(tiny.seen_classes)} columns" in message and f"{tiny.num_classes} classes" in message
    assert "only the seen classes?" in message
    with_nan = scores.copy()
    with_nan[4, 2] = np.nan
    message = refused(tmp_path, str(write_format(tmp_path / "nan.npy", with_nan)), "--dataset", TINY)
    assert "NaN or infinite" in message and "row 4, column 2" in message
    with_inf = scores.copy()
    with_inf[0, 0] = np.inf
    assert "NaN or infinite" in refused(tmp_path, str(write_format(tmp_path / "inf.npy", with_inf)), "--dataset", TINY)
    (tmp_path / "labels.txt").write_text("".join(f"{c}\n" for c in labels[:-3]))
    message = refused(tmp_path, str(write_format(tmp_path / "p.npy", scores)), "--dataset", TINY,
                      "--labels", str(tmp_path / "labels.txt"))
    assert f"holds {len(labels) - 3} labels" in message and f"{len(labels)} rows" in message


def test_row_id_errors(tmp_path, tiny):
    scores, _ = planted(tiny)
    seen_order, unseen_order = split_file_order(tiny)
    images = np.concatenate([seen_order, unseen_order])
    path = str(write_format(tmp_path / "p.npy", scores))
    duplicate = images.copy()
    duplicate[1] = duplicate[0]
    (tmp_path / "dup.txt").write_text("".join(f"{i}\n" for i in duplicate))
    assert "listed 2 times" in refused(tmp_path, path, "--dataset", TINY, "--row-ids", str(tmp_path / "dup.txt"))
    unknown = images.copy()
    unknown[3] = 10**6
    (tmp_path / "unknown.txt").write_text("".join(f"{i}\n" for i in unknown))
    assert "is not an image" in refused(tmp_path, path, "--dataset", TINY, "--row-ids", str(tmp_path / "unknown.txt"))
    trainval = images.copy()
    trainval[0] = tiny.splits["trainval"][0]
    (tmp_path / "trainval.txt").write_text("".join(f"{i}\n" for i in trainval))
    assert "not a test image" in refused(tmp_path, path, "--dataset", TINY, "--row-ids", str(tmp_path / "trainval.txt"))


def test_validation_rows_are_checked_and_never_test_images(tmp_path, tiny):
    scores, _ = planted(tiny)
    path = str(write_format(tmp_path / "p.npy", scores))
    val_ds = validation_split(tiny, seed=0, heldout_fraction=0.2)
    n_val = len(val_ds.splits["test_seen"]) + len(val_ds.splits["test_unseen"])
    val_path = str(write_format(tmp_path / "v.npy", np.zeros((n_val - 1, tiny.num_classes), np.float32)))
    message = refused(tmp_path, path, "--dataset", TINY, "--val", val_path)
    assert f"{n_val - 1} rows" in message and "pseudo-seen" in message and "pseudo-unseen" in message
    ids = validation_image_ids(tiny)
    ids[0] = str(int(tiny.splits["test_seen"][0]))  # a test image among the validation rows
    (tmp_path / "val_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    full_val = str(write_format(tmp_path / "v_full.npy", np.zeros((n_val, tiny.num_classes), np.float32)))
    message = refused(tmp_path, path, "--dataset", TINY, "--val", full_val, "--val-row-ids", str(tmp_path / "val_ids.txt"))
    assert "not a trainval image" in message and "never from test images" in message


def test_files_with_several_arrays_need_a_key(tmp_path, tiny):
    scores, labels = planted(tiny)
    np.savez(tmp_path / "two.npz", seen=scores, unseen=scores)
    message = refused(tmp_path, str(tmp_path / "two.npz"), "--dataset", TINY)
    assert "2 candidate arrays" in message and "--key" in message
    run = zslbench.score(tmp_path / "two.npz", TINY, key="seen", name="keyed", out=tmp_path / "r")
    assert run.test == expected(tiny, scores, labels) and run.config["predictions"]["key"] == "seen"
    write_mat73(tmp_path / "two73.mat", "scores", scores)
    import h5py

    with h5py.File(tmp_path / "two73.mat", "a") as handle:
        handle.create_dataset("logits", data=np.ascontiguousarray(scores.T))
    assert "2 candidate arrays" in refused(tmp_path, str(tmp_path / "two73.mat"), "--dataset", TINY)
    run = zslbench.score(tmp_path / "two73.mat", TINY, key="logits", name="keyed", out=tmp_path / "r")
    assert run.test == expected(tiny, scores, labels)


class _Payload:
    """Unpickling this would run ``touch MARKER``: what a malicious .pt file does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_in_pt_is_refused_and_never_runs(tmp_path, tiny):
    import torch

    scores, _ = planted(tiny)
    marker = tmp_path / "payload-ran"
    torch.save({"scores": torch.from_numpy(scores), "extra": _Payload(marker)}, tmp_path / "evil.pt")
    message = refused(tmp_path, str(tmp_path / "evil.pt"), "--dataset", TINY)
    assert "refused" in message and not marker.exists()
    torch.save(_Payload(marker), tmp_path / "evil2.pth")
    refused(tmp_path, str(tmp_path / "evil2.pth"), "--dataset", TINY)
    assert not marker.exists()
    # The payload is live: a plain (unsafe) load would have run it.
    torch.load(tmp_path / "evil2.pth", weights_only=False)
    assert marker.exists()


def test_pt_with_something_other_than_tensors_is_refused(tmp_path, tiny):
    import torch

    scores, _ = planted(tiny)
    torch.save([torch.from_numpy(scores)], tmp_path / "list.pt")
    assert "not a tensor" in refused(tmp_path, str(tmp_path / "list.pt"), "--dataset", TINY)
    torch.save({"a": torch.from_numpy(scores), "b": torch.from_numpy(scores)}, tmp_path / "two.pt")
    assert "--key" in refused(tmp_path, str(tmp_path / "two.pt"), "--dataset", TINY)


def test_names_of_registered_methods_and_unknown_formats_are_refused(tmp_path, tiny):
    scores, _ = planted(tiny)
    path = str(write_format(tmp_path / "p.npy", scores))
    assert "registered method" in refused(tmp_path, path, "--dataset", TINY, "--name", "svip")
    (tmp_path / "p.xyz").write_text("1 2 3")
    assert "cannot read .xyz" in refused(tmp_path, str(tmp_path / "p.xyz"), "--dataset", TINY)
    with pytest.raises(UsageError):
        zslbench.score(tmp_path / "p.npy", TINY, name="a/b", out=tmp_path / "r")
    with pytest.raises(DataError):
        zslbench.score(write_format(tmp_path / "cube.npy", scores[None]), TINY, out=tmp_path / "r")


# --------------------------------------------------------------------------- beside trained runs


def test_scored_run_appears_in_compare_and_report_beside_trained_runs(tmp_path, tiny):
    from zslbench import registry

    root = tmp_path / "runs"
    version = registry.datasets.get(TINY).data_version
    write_run(root, "svip", TINY, 0, single_label_test(0.5, 0.4, 0.6, 0.48), "20260101-000000", data_version=version)
    scores, _ = planted(tiny, seed=12)
    run = zslbench.score(write_format(tmp_path / "mine.npz", scores), TINY, name="my-method", out=root)
    (record,) = zslbench.load_runs(root, method="my-method")
    assert record.path == run.dir and record.config["kind"] == "scored"

    result = CliRunner().invoke(main, ["compare", "--runs", str(root), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.stdout)["tables"]
    ours = {row["label"]: row for row in table["rows"] if row["kind"] == "ours"}
    assert set(ours) == {"svip", "my-method"}  # one table: the scored run beside the trained one

    result = CliRunner().invoke(main, ["report", "--runs", str(root), "--out", str(tmp_path / "report")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "README.md").read_text()
    assert "**my-method**" in text and "**svip**" in text
    assert "zslbench score" in text and str(tmp_path / "mine.npz") in text  # its source and how to redo it
    assert "## Chosen on test data" in text  # the test-chosen numbers, labelled, beside the honest ones


@pytest.mark.slow
def test_scored_run_beside_a_real_trained_run(tmp_path, tiny):
    root = tmp_path / "runs"
    trained = zslbench.run("svip", dataset=TINY, epochs=1, out=str(root))
    scores, _ = planted(tiny, seed=13)
    zslbench.score(write_format(tmp_path / "mine.npy", scores), TINY, name="my-method", out=root)
    assert {r.method for r in zslbench.load_runs(root)} == {"svip", "my-method"}
    result = CliRunner().invoke(main, ["compare", "svip", "my-method", "--runs", str(root), "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.stdout)["tables"]
    ours = {row["label"]: row for row in table["rows"] if row["kind"] == "ours"}
    assert set(ours) == {"svip", "my-method"}
    assert trained.dir.parent.name == "svip"


def test_real_awa2_split_file_order_and_sorted_rows(tmp_path):
    """The original AwA2 att_splits.mat lists test_seen_loc unsorted: rows follow the file, sorted rows are refused."""
    import shutil

    from conftest import SHARED_DATA

    from fixtures_xlsa17 import cell

    source = SHARED_DATA / "xlsa17" / "AWA2"
    if not (source / "att_splits.mat").exists():
        pytest.skip("shared AWA2 split files absent")
    split_dir = tmp_path / "awa2" / "xlsa17" / "data" / "AWA2"
    shutil.copytree(source, split_dir)
    content = scipy.io.loadmat(split_dir / "att_splits.mat")
    names = [str(np.ravel(c)[0]) for c in content["allclasses_names"].ravel()]
    ids = {n: i for i, n in enumerate(names)}
    locs = {k: content[k].ravel().astype(np.int64) - 1 for k in ("trainval_loc", "test_seen_loc", "test_unseen_loc",
                                                                   "val_loc")}
    classes = {f: [ids[n] for n in (split_dir / f"{f}.txt").read_text().split()]
               for f in ("trainclasses1", "valclasses1", "testclasses")}
    # A res101.mat whose labels honour the split: unseen images -> test classes, validation images -> validation
    # classes, every other seen image -> a train class (no features: score reads labels and paths only).
    n_images = int(max(v.max() for v in locs.values())) + 1
    rng = np.random.default_rng(0)
    labels = rng.choice(classes["trainclasses1"], n_images)
    labels[locs["val_loc"]] = rng.choice(classes["valclasses1"], len(locs["val_loc"]))
    labels[locs["test_unseen_loc"]] = rng.choice(classes["testclasses"], len(locs["test_unseen_loc"]))
    files = [f"/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/{names[c]}/{names[c]}_{i}.jpg"
             for i, c in enumerate(labels)]
    scipy.io.savemat(split_dir / "res101.mat", {"image_files": cell(files), "labels": (labels + 1.0).reshape(-1, 1)})

    seen_loc, unseen_loc = locs["test_seen_loc"], locs["test_unseen_loc"]
    assert not np.all(np.diff(seen_loc) > 0)  # the original file's order is not sorted
    row_labels = labels[np.concatenate([seen_loc, unseen_loc])]
    scores = rng.standard_normal((len(row_labels), len(names))).astype(np.float32)
    scores[np.arange(len(row_labels)), row_labels] += 3.0
    root = tmp_path / "awa2"
    dataset = load_scoring_dataset("awa2", root)
    run = zslbench.score(write_format(tmp_path / "awa2.npy", scores), "awa2", data_root=root, out=tmp_path / "r")
    assert run.test == expected(dataset, scores, row_labels)
    assert run.test["counts"]["images_test_seen"] == 5882 and run.test["counts"]["images_test_unseen"] == 7913

    # The same scores written with test_seen sorted by image index (a common slip) are refused.
    order = np.argsort(seen_loc)
    sorted_scores = np.concatenate([scores[:len(seen_loc)][order], scores[len(seen_loc):]])
    message = refused(tmp_path, str(write_format(tmp_path / "sorted.npy", sorted_scores)), "--dataset", "awa2",
                      "--data-root", str(root))
    assert "rows sorted rather than in split-file order?" in message and "--row-ids" in message
