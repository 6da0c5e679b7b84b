"""``zslbench score``: the honest protocol on a prediction matrix saved by any codebase, stored as a run.

From one matrix (rows: test images, columns: classes; see
:mod:`zslbench.scoring.alignment` for the conventions) and the dataset's own
labels this computes, with :mod:`zslbench.evaluation` itself:

* the honest numbers: T1, U, S, H (per-class mean top-1), AUSUC, and CS-U/S/H
  at a calibration gamma chosen on *validation* predictions (``--val``), as
  ``--protocol gbu`` chooses it; without validation predictions CS-* are absent;
* beside them, numbers chosen on the test data, labelled so: ``oracle_*``
  (gamma swept on test) and the as-published numbers of
  :mod:`zslbench.published_protocol` (softmax probabilities, an offset swept
  on test, per-image accuracy), each with its gap to the honest number.

A label-only file (one predicted class per image) gives T1/U/S/H only; AUSUC,
calibration and the test-chosen numbers are recorded as unavailable with the
reason. Every check runs before anything is written; the run directory
(``runs/<dataset>/<name>/<run-id>/``, config kind ``scored``) then appears in
one rename, complete, and ``compare`` / ``report`` / ``load_runs`` read it
like any run.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zslbench.errors import DataError, UsageError
from zslbench.scoring import alignment
from zslbench.scoring.readers import read_lines, read_predictions

#: ``config.json`` kind of a stored scored run (trained runs have none).
SCORED_KIND = "scored"
#: The GBU validation split's held-out share, as ``zslbench run --protocol gbu`` uses by default.
VALIDATION_FRACTION = 0.2
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class ScoredRun:
    """A stored scored run: where it is, its config and metrics (as in ``config.json`` / ``metrics.json``)."""

    dir: Path
    config: dict
    metrics: dict
    timings: dict = field(default_factory=dict)

    @property
    def test(self) -> dict:
        """The honest test metrics (fractions in [0, 1])."""
        return self.metrics.get("test", {})


@dataclass
class _Matrix:
    """A predictions file read and aligned to the dataset's class order."""

    values: np.ndarray  # (N, C) scores in dataset class order, or (N,) predicted class ids
    provenance: dict

    @property
    def label_only(self) -> bool:
        return self.values.ndim == 1


# --------------------------------------------------------------------------- inputs


def file_provenance(path: Path) -> dict:
    """Absolute path, size in bytes and sha256 of a file."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
    return {"path": str(Path(path).resolve()), "size_bytes": int(Path(path).stat().st_size),
            "sha256": digest.hexdigest()}


def load_scoring_dataset(name: str, root: str | Path | None = None) -> Any:
    """The dataset's labels and splits, without images or features (loaders that can skip the image check do)."""
    import inspect

    from zslbench import registry
    from zslbench.config import DataConfig, build_dataclass
    from zslbench.data.dataset import SINGLE_LABEL
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    spec = registry.datasets.get(name)
    if spec.task != SINGLE_LABEL:
        raise UsageError(f"zslbench score handles single-label datasets; {spec.name} is {spec.task}")
    data_cfg = build_dataclass(DataConfig, {"root": str(root) if root is not None else None}, prefix="data.")
    if "require_images" in inspect.signature(spec.load).parameters:
        dataset = spec.load(data_cfg, require_images=False)
    else:
        dataset = spec.load(data_cfg)
    try:
        dataset.validate()
    except ValueError as exc:
        raise DataError(str(exc), f"run `zslbench data check {spec.name}`") from None
    return dataset


def _read_matrix(path: Path, key: str | None, dataset: Any, columns: Sequence[str] | None, what: str) -> _Matrix:
    values, used_key = read_predictions(path, key)
    provenance = {**file_provenance(path), "key": used_key, "shape": list(values.shape), "dtype": str(values.dtype),
                  "content": "labels" if values.ndim == 1 else "scores"}
    num_classes = dataset.num_classes
    if values.ndim == 2:
        if values.shape[1] != (len(columns) if columns is not None else num_classes):
            raise alignment.column_count_error(what, values.shape[1], dataset)
        finite = np.isfinite(values)
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            raise DataError(f"{what} hold {int((~finite).sum())} NaN or infinite values (first at row {row}, "
                            f"column {column})", "scores must be finite real numbers")
        if columns is not None:
            values = values[:, alignment.column_permutation(columns, dataset.class_names, f"{what} --columns")]
    else:
        limit = len(columns) if columns is not None else num_classes
        alignment.require_class_ids(values, limit, f"{what}: predicted label", "row", 0,
                                    "predicted labels are 0-based class ids in the column order", "MATLAB's")
        if columns is not None:
            perm = alignment.column_permutation(columns, dataset.class_names, f"{what} --columns")
            values = np.argsort(perm)[values]  # file column j is dataset class argsort(perm)[j]
    return _Matrix(values, provenance)


def _row_predictions(matrix: _Matrix) -> np.ndarray:
    return matrix.values if matrix.label_only else matrix.values.argmax(axis=1)


# --------------------------------------------------------------------------- metrics


def _label_only_metrics(pred_seen: np.ndarray, seen_labels: np.ndarray, pred_unseen: np.ndarray,
                        unseen_labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray) -> tuple[dict, dict]:
    from zslbench.evaluation import harmonic_mean
    from zslbench.evaluation.single_label import _mean, _per_class_dict  # the per-class tables evaluate() stores

    tables = {"gzsl_unseen": _per_class_dict(pred_unseen, unseen_labels, unseen),
              "gzsl_seen": _per_class_dict(pred_seen, seen_labels, seen)}
    u, s = _mean(tables["gzsl_unseen"]), _mean(tables["gzsl_seen"])
    test: dict[str, Any] = {}
    unavailable = {
        "ausuc": "the file holds predicted labels only: the seen-unseen curve needs class scores",
        "cs": "the file holds predicted labels only: calibrated stacking needs class scores",
        "oracle": "the file holds predicted labels only: no calibration can be swept",
        "published": "the file holds predicted labels only: the as-published numbers need class scores",
    }
    if np.all(np.isin(pred_unseen, unseen)):
        # Each prediction is already an unseen class, so it is also the best among the unseen classes only.
        tables["zsl_unseen"] = dict(tables["gzsl_unseen"])
        test["t1"] = u
    else:
        unavailable["t1"] = ("some test_unseen images are predicted as seen classes, so their prediction among "
                             "the unseen classes only (T1) is not in the file")
    test.update(u=u, s=s, h=harmonic_mean(u, s), per_class=tables)
    test["counts"] = {"images_test_seen": int(len(seen_labels)), "images_test_unseen": int(len(unseen_labels)),
                      "classes_seen": int(len(seen)), "classes_unseen": int(len(unseen)),
                      "classes_seen_present": len(tables["gzsl_seen"]),
                      "classes_unseen_present": len(tables["gzsl_unseen"])}
    return test, unavailable


def _published(seen_scores: np.ndarray, seen_labels: np.ndarray, unseen_scores: np.ndarray,
               unseen_labels: np.ndarray, dataset: Any) -> tuple[dict | None, str | None]:
    """The as-published numbers of this one matrix (one 'epoch'), or why they cannot be computed."""
    from zslbench.published_protocol import epoch_record, published_metrics

    largest = float(np.finfo(np.float32).max)
    if any(block.size and block.dtype == np.float64 and max(block.max(), -block.min()) > largest
           for block in (seen_scores, unseen_scores)):
        return None, "scores exceed the float32 range the as-published softmax runs in"
    record = epoch_record(0, seen_scores, seen_labels, unseen_scores, unseen_labels,
                          dataset.seen_classes, dataset.unseen_classes)
    return published_metrics([record]).to_dict(), None


def _choose_gamma(val: _Matrix, blocks: alignment.RowBlocks, val_dataset: Any) -> float:
    from zslbench.evaluation import choose_calibration

    return float(choose_calibration(val.values[blocks.seen_rows], val_dataset.labels[blocks.seen_images],
                                    val.values[blocks.unseen_rows], val_dataset.labels[blocks.unseen_images],
                                    val_dataset.seen_classes, val_dataset.unseen_classes))


# --------------------------------------------------------------------------- the protocol


def score(predictions: str | Path, dataset: Any, *, name: str | None = None, val: str | Path | None = None,
          data_root: str | Path | None = None, key: str | None = None, val_key: str | None = None,
          order: str = "seen-first", row_ids: str | Path | None = None, columns: str | Path | None = None,
          labels: str | Path | None = None, val_row_ids: str | Path | None = None, val_seed: int = 0,
          trust_order: bool = False, out: str | Path | None = None, tags: Sequence[str] = (),
          command: str | None = None) -> ScoredRun:
    """Score a stored prediction matrix under the honest protocol and store it as a run (kind ``scored``).

    ``dataset`` is a registered dataset name (its copy under ``data_root``) or a
    loaded :class:`~zslbench.data.dataset.ZSLDataset`. Rows are the test_seen
    then test_unseen images in split-file order (``order="unseen-first"``
    swaps the blocks; ``row_ids`` names each row's image); columns are all
    classes in the split file's order (``columns``: a file of class names).
    ``val`` holds validation predictions (the pseudo-seen then pseudo-unseen
    images of :func:`zslbench.data.dataset.validation_split` with ``val_seed``,
    or the images named by ``val_row_ids``), used only to choose the
    calibration gamma. Every mismatch raises a one-line ``ZSLBenchError``
    before anything is stored.
    """
    started = time.perf_counter()
    predictions = Path(predictions)
    if isinstance(dataset, str):
        dataset = load_scoring_dataset(dataset, data_root)
    run_name = _run_name(name, predictions)
    column_names = read_lines(columns, "--columns") if columns is not None else None
    matrix = _read_matrix(predictions, key, dataset, column_names, f"predictions {predictions.name}")
    blocks, seen_labels, unseen_labels = _test_rows(matrix, dataset, f"predictions {predictions.name}", order,
                                                    row_ids, labels, trust_order)
    if val_row_ids is not None and val is None:
        raise UsageError("--val-row-ids needs --val (the validation predictions)")
    gamma, validation, val_provenance = (None, None, None) if val is None else _validation(
        Path(val), val_key, val_row_ids, val_seed, dataset, column_names, matrix.label_only)
    metrics = _metrics(matrix, blocks, seen_labels, unseen_labels, dataset, gamma)
    if validation is not None:
        metrics["validation"] = validation

    from zslbench.paths import runs_dir
    from zslbench.version import __version__

    config = {
        "kind": SCORED_KIND, "method": run_name, "dataset": dataset.name, "seed": 0, "protocol": metrics["protocol"],
        "tags": list(dict.fromkeys(tags)), "out": str(out) if out is not None else None,
        "data": {"root": str(data_root) if data_root is not None else None},
        "predictions": matrix.provenance,
        "rows": {"convention": blocks.convention, "order": None if row_ids is not None else order,
                 "row_ids_file": file_provenance(Path(row_ids)) if row_ids is not None else None},
        "columns": {"convention": "the class names of the columns file" if columns is not None
                    else "all classes in the split file's class order",
                    "columns_file": file_provenance(Path(columns)) if columns is not None else None},
        "labels": file_provenance(Path(labels)) if labels is not None else
                  {"source": dataset.meta.get("res101_file") or f"{dataset.name} labels"},
        "validation": val_provenance,
        "split": split_provenance(dataset),
        "zslbench": __version__,
        "command": command or _command(predictions, dataset.name, run_name),
    }
    return _store(runs_dir(str(out) if out is not None else None), dataset.name, run_name, config, metrics, started)


def _test_rows(matrix: _Matrix, dataset: Any, what: str, order: str, row_ids: str | Path | None,
               labels: str | Path | None, trust_order: bool) -> tuple[alignment.RowBlocks, np.ndarray, np.ndarray]:
    """Which test image each row is, and the labels of the test_seen and test_unseen rows (all checked)."""
    n_rows = len(matrix.values)
    if row_ids is not None:
        blocks = alignment.rows_by_ids(read_lines(row_ids, "--row-ids"), n_rows, dataset, "--row-ids")
    else:
        seen_order, unseen_order = alignment.split_file_order(dataset)
        blocks = alignment.rows_by_order(n_rows, seen_order, unseen_order, order, what, dataset.name,
                                         len(dataset.splits["trainval"]))
    if labels is not None:
        row_labels = alignment.labels_from_lines(read_lines(labels, "--labels"), n_rows, dataset.num_classes, "--labels")
        return blocks, row_labels[blocks.seen_rows], row_labels[blocks.unseen_rows]
    if row_ids is None and not trust_order:
        _check_not_swapped(matrix, blocks, order, dataset)
    return blocks, dataset.labels[blocks.seen_images], dataset.labels[blocks.unseen_images]


def _metrics(matrix: _Matrix, blocks: alignment.RowBlocks, seen_labels: np.ndarray, unseen_labels: np.ndarray,
             dataset: Any, gamma: float | None) -> dict:
    """``metrics.json`` of a scored run: the schema of trained runs, plus what is unavailable and why."""
    from zslbench.tasks.single_label import evaluate_with_curve

    metrics: dict[str, Any] = {"protocol": "gbu" if gamma is not None else "standard", "task": "single-label"}
    unavailable: dict[str, str] = {}
    if matrix.label_only:
        metrics["test"], unavailable = _label_only_metrics(
            matrix.values[blocks.seen_rows], seen_labels, matrix.values[blocks.unseen_rows], unseen_labels,
            np.asarray(dataset.seen_classes), np.asarray(dataset.unseen_classes))
    else:
        seen_scores, unseen_scores = matrix.values[blocks.seen_rows], matrix.values[blocks.unseen_rows]
        evaluated, metrics["curve"] = evaluate_with_curve(seen_scores, seen_labels, unseen_scores, unseen_labels,
                                                          dataset, gamma)
        metrics["test"] = evaluated.to_dict()
        published, why = _published(seen_scores, seen_labels, unseen_scores, unseen_labels, dataset)
        if published is not None:
            metrics["published"] = published
        else:
            unavailable["published"] = why
        if gamma is None:
            unavailable["cs"] = "no validation predictions (--val): a calibration chosen on test data is not a result"
    metrics["unavailable"] = unavailable
    metrics["counts"] = dataset.counts()
    metrics["skipped_images"] = int(dataset.meta.get("skipped_images", 0))
    if dataset.meta.get("generator_version") is not None:  # generated data: the version this run saw
        metrics["data_version"] = int(dataset.meta["generator_version"])
    return metrics


def _validation(path: Path, key: str | None, ids_file: str | Path | None, seed: int, dataset: Any,
                column_names: Sequence[str] | None, test_label_only: bool) -> tuple[float, dict, dict]:
    from zslbench.data.dataset import validation_split

    if test_label_only:
        raise UsageError("--val needs class scores: the test predictions hold labels only",
                         "calibrated stacking shifts scores; score a matrix to get CS-*")
    val_dataset = validation_split(dataset, seed=seed, heldout_fraction=VALIDATION_FRACTION)
    val = _read_matrix(path, key, dataset, column_names, f"validation predictions {path.name}")
    if val.label_only:
        raise UsageError(f"validation predictions {path.name} hold labels only", "calibration needs class scores")
    if ids_file is not None:
        blocks = alignment.validation_rows_by_ids(read_lines(ids_file, "--val-row-ids"), len(val.values), dataset,
                                                  val_dataset.seen_classes, val_dataset.unseen_classes, "--val-row-ids")
    else:
        blocks = alignment.rows_by_order(len(val.values), val_dataset.splits["test_seen"],
                                         val_dataset.splits["test_unseen"], "seen-first",
                                         f"validation predictions {path.name}", f"{dataset.name}'s validation split",
                                         names=("pseudo-seen", "pseudo-unseen"))
        blocks.convention = (f"pseudo-seen then pseudo-unseen images of the GBU validation split (seed {seed}, "
                             f"held-out fraction {VALIDATION_FRACTION}), each in image-list order")
    gamma = _choose_gamma(val, blocks, val_dataset)
    validation = {"chosen_gamma": gamma, "counts": val_dataset.counts(), "seed": seed,
                  "heldout_fraction": VALIDATION_FRACTION}
    provenance = {**val.provenance, "rows": blocks.convention,
                  "row_ids_file": file_provenance(Path(ids_file)) if ids_file is not None else None}
    return gamma, validation, provenance


def _check_not_swapped(matrix: _Matrix, blocks: alignment.RowBlocks, order: str, dataset: Any) -> None:
    """Refuse rows that agree with the labels far better with the blocks swapped, or sorted by image index."""
    n_rows, labels = blocks.num_rows, dataset.labels
    readings = []
    other = alignment.ROW_ORDERS[1] if order == alignment.ROW_ORDERS[0] else alignment.ROW_ORDERS[0]
    swapped = alignment.rows_by_order(n_rows, blocks.seen_images, blocks.unseen_images, other, "", dataset.name)
    readings.append(alignment.RowReading(
        "swapped", f"as {other}", f"{other.replace('-first', '')} rows first?",
        f"pass --order {other}, or --trust-order to score the rows as given",
        alignment.row_labels(n_rows, swapped.seen_rows, swapped.unseen_rows, labels[blocks.seen_images],
                             labels[blocks.unseen_images])))
    seen_sorted, unseen_sorted = np.sort(blocks.seen_images), np.sort(blocks.unseen_images)
    if not (np.array_equal(seen_sorted, blocks.seen_images) and np.array_equal(unseen_sorted, blocks.unseen_images)):
        readings.append(alignment.RowReading(
            "sorted", "with each block sorted by image index", "rows sorted rather than in split-file order?",
            "name each row's image with --row-ids (or --trust-order to score the rows as given)",
            alignment.row_labels(n_rows, blocks.seen_rows, blocks.unseen_rows, labels[seen_sorted],
                                 labels[unseen_sorted])))
    as_given = alignment.row_labels(n_rows, blocks.seen_rows, blocks.unseen_rows, labels[blocks.seen_images],
                                    labels[blocks.unseen_images])
    error = alignment.misread_rows_error(order, _row_predictions(matrix), as_given, readings)
    if error is not None:
        raise error


def validation_image_ids(dataset: Any, seed: int = 0) -> list[str]:
    """The images the rows of ``--val`` predictions follow: pseudo-seen, then pseudo-unseen (paths, or indices)."""
    from zslbench.data.dataset import validation_split

    val_dataset = validation_split(dataset, seed=seed, heldout_fraction=VALIDATION_FRACTION)
    names = alignment.image_names(dataset)
    indices = np.concatenate([val_dataset.splits["test_seen"], val_dataset.splits["test_unseen"]])
    return [names[i] if names is not None else str(int(i)) for i in indices.tolist()]


def split_provenance(dataset: Any) -> dict:
    """The split file (path, sha256) where there is one, and the digest of the labels and splits used (the feature
    cache's ``split_fingerprint``, so a scored run and a cache entry of the same split carry the same digest)."""
    from zslbench.features.fingerprints import split_fingerprint

    split_file = dataset.meta.get("split_file")
    return {"file": file_provenance(Path(split_file)) if split_file else None,
            "labels_and_splits_sha256": split_fingerprint(dataset)}


def _run_name(name: str | None, predictions: Path) -> str:
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    label = name if name is not None else predictions.stem
    if not _NAME.match(label):
        raise UsageError(f"run name {label!r} is not a plain name", "use letters, digits and . _ + - (--name LABEL)")
    ensure_loaded()
    if label in registry.methods:
        raise UsageError(f"{label!r} is a registered method: a scored run needs its own name",
                         "pass --name, e.g. --name my-" + label)
    return label


def _command(predictions: Path, dataset: str, name: str) -> str:
    """The command line that made the run (the CLI's own argv, else the equivalent minimal command)."""
    if Path(sys.argv[0]).name == "zslbench" or sys.argv[1:2] == ["score"]:
        return " ".join(shlex.quote(a) for a in ["zslbench", *sys.argv[1:]])
    return " ".join(shlex.quote(p) for p in ["zslbench", "score", str(predictions), "--dataset", dataset,
                                              "--name", name])


def _store(root: Path, dataset: str, name: str, config: dict, metrics: dict, started: float) -> ScoredRun:
    from zslbench import store

    run_dir = store.run_dir_for(root, dataset, name, store.new_run_id(0))
    commit, dirty = store.git_state()
    import numpy

    from zslbench.version import __version__

    env = {"zslbench": __version__, "python": sys.version.split()[0], "numpy": numpy.__version__,
           "platform": platform.platform(), "device": "cpu (scoring stored predictions)",
           "git_commit": None if commit is None else commit + ("-dirty" if dirty else ""), "git_dirty": dirty,
           "command": config["command"]}
    timings = {"total_seconds": time.perf_counter() - started}
    lock = store.create_run_dir(run_dir, config, store.status_record("complete"),
                                files={store.METRICS_FILE: metrics, store.ENV_FILE: env, store.TIMINGS_FILE: timings})
    lock.release()  # the run is complete as it appears: no writer stays
    return ScoredRun(run_dir, config, metrics, timings)


# --------------------------------------------------------------------------- what the command prints


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}"


def summary_lines(run: ScoredRun) -> list[str]:
    """The honest numbers, the test-chosen ones beside them with their gaps, and what is unavailable and why."""
    from zslbench.metric_names import metric_label
    from zslbench.published_protocol import published_scores

    test, unavailable = run.test, run.metrics.get("unavailable", {})
    counts = test.get("counts", {})
    lines = [f"scored {run.config['predictions']['path']} on {run.config['dataset']}: "
             f"{counts.get('images_test_seen', '?')} test_seen + {counts.get('images_test_unseen', '?')} test_unseen "
             f"rows ({run.config['rows']['convention']})",
             "honest (per-class mean top-1, %):"]
    keys = ["t1", "u", "s", "h", "ausuc", "cs_u", "cs_s", "cs_h"]
    lines.append("  " + "  ".join(f"{metric_label(k)} {_percent(test.get(k))}" for k in keys if test.get(k) is not None))
    if test.get("cs_gamma") is not None:
        lines.append(f"  calibration gamma {test['cs_gamma']:.6g}, chosen on the validation predictions")
    chosen = published_scores(run.metrics)
    if chosen or test.get("oracle_h") is not None:
        lines.append("chosen on test data (not results; shown to measure the gap):")
        if "published_h" in chosen:
            lines.append(f"  {metric_label('published_u')} {_percent(chosen['published_u'])}  "
                         f"{metric_label('published_s')} {_percent(chosen['published_s'])}  "
                         f"{metric_label('published_h')} {_percent(chosen['published_h'])}  "
                         f"{metric_label('published_gap_h')} {100 * chosen['published_gap_h']:+.2f}  "
                         "(softmax, stacking offset swept on test, per-image accuracy)")
        if test.get("oracle_h") is not None:
            lines.append(f"  {metric_label('oracle_h')} {_percent(test['oracle_h'])}  "
                         f"Δ {100 * (test['oracle_h'] - test['h']):+.2f}  (gamma swept on test, per-class accuracy)")
    for what, why in unavailable.items():
        lines.append(f"unavailable: {what}: {why}")
    lines.append(f"stored in {run.dir}")
    return lines
