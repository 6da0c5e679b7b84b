"""Open Images V4 for multi-label zero-shot learning, read from the user's copy (the LESA/BiAM layout).

Labels: the 7,186 trainable classes of ``classes-trainable.txt`` are the seen
labels; the unseen labels are the 400 of ``top_400_unseen.csv`` (the 400 most
frequent test labels outside the seen ones; the file holds row indices into
the unseen-label list ``unseen_labels.pkl``, or the label ids themselves).
Annotations come from the human-verified image-level label CSVs
(``ImageID,Source,LabelName,Confidence``): confidence 1 is +1, 0 is -1, a
label not listed for an image is 0 (not annotated). Training images keep their
seen-label annotations only; test images keep all 7,586 labels. Images listed
in a CSV whose file is absent are left out and counted (``skipped_images``).

The annotation matrix is stored sparse (:class:`~zslbench.data.multilabel_files.SparseLabels`):
dense it would not fit in memory. Label vectors are the field's GloVe pickle
(``wiki_contexts/OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl``:
a pair (7186 x 300 seen vectors, one row per unseen-list entry)), L2
normalised, looked for in every layout the authors' repositories use; without
it a run stops unless ``data.label_vectors`` names the pickle or asks for
``text-encoder`` (vectors of the label display names). The run records the
source. Annotation CSVs are streamed with ids mapped to integers as they are
read (tens of millions of rows), and may start with a byte-order mark.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.archive_specs import Archive
from zslbench.data.dataset import ZSLDataset
from zslbench.data.xlsa17 import existing_files_mask
from zslbench.errors import DataError
from zslbench.data.multilabel_files import (MultiLabelCheckReport, SparseLabels, as_vector_matrix, existing_root,
                                            file_dataset, find_first, load_array_pickle, read_lines, require_file,
                                            resolve_label_vectors, vector_pair)

NAME = "open-images-v4"
TOP_K = (10, 20)
HOMEPAGE = "https://storage.googleapis.com/openimages/web/download_v4.html"
#: Where the V4 metadata files are published (listed on HOMEPAGE).
FILES_URL = "https://storage.googleapis.com/openimages/2018_04"
LESA_PAGE = "https://github.com/hbdat/cvpr20_LESA"


def _metadata_file(rel: str, provides: str) -> Archive:
    folder, _, filename = f"2018_04/{rel}".rpartition("/")
    return Archive(filename=filename, what=("splits",), urls=(f"{FILES_URL}/{rel}",), page=HOMEPAGE, provides=provides,
                   unpack_to=folder)


#: The V4 label metadata is public (plain files, no archive); the unseen-label lists and label vectors come
#: with LESA's code, and the images (about 500 GB) are left to the user.
ARCHIVES = (
    _metadata_file("class-descriptions.csv", "label ids and display names"),
    _metadata_file("classes-trainable.txt", "the 7,186 trainable (seen) label ids"),
    _metadata_file("train/train-annotations-human-imagelabels.csv", "the human-verified training labels"),
    _metadata_file("test/test-annotations-human-imagelabels.csv", "the human-verified test labels"),
    Archive(filename="LESA unseen labels and label vectors", what=("splits",), page=LESA_PAGE, manual=True,
            provides="top_400_unseen.csv, unseen_labels.pkl and the GloVe label vectors of LESA",
            place="2018_04/top_400_unseen.csv, 2018_04/unseen_labels.pkl, "
                  "wiki_contexts/OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl"),
    Archive(filename="Open Images V4 images", what=("images",), page=HOMEPAGE, manual=True,
            provides="the train and test images", place="train/<ImageID>.jpg, test/<ImageID>.jpg"),
)
META_DIRS = ("2018_04", ".")


def _candidates(rel: str) -> tuple[str, ...]:
    return tuple(f"{d}/{rel}" if d != "." else rel for d in META_DIRS)


DESCRIPTIONS = _candidates("class-descriptions.csv")
TRAINABLE = _candidates("classes-trainable.txt")
UNSEEN_LIST = _candidates("unseen_labels.pkl") + _candidates("unseen_labels.txt")
TOP_UNSEEN = _candidates("top_400_unseen.csv")
ANNOTATIONS = {"trainval": _candidates("train/train-annotations-human-imagelabels.csv"),
               "test": _candidates("test/test-annotations-human-imagelabels.csv")}
IMAGE_DIRS = {"trainval": ("train", "images/train", "image_data/train"),
              "test": ("test", "images/test", "image_data/test")}
#: The field's GloVe label-vector pickle (searched in every layout of ``files.label_vector_dirs``).
LABEL_VECTOR_FILES = ("OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl",)

LAYOUT = """<root>/                                  (default $ZSLBENCH_DATA/open-images-v4)
  2018_04/class-descriptions.csv          LabelName,DisplayName (e.g. /m/011k07,Tortoise), no header
  2018_04/classes-trainable.txt           the 7,186 seen label ids, one per line
  2018_04/top_400_unseen.csv              the 400 unseen labels: indices into unseen_labels.pkl (or label ids)
  2018_04/unseen_labels.pkl               the unseen-label id list (or unseen_labels.txt, one per line)
  2018_04/train/train-annotations-human-imagelabels.csv   ImageID,Source,LabelName,Confidence
  2018_04/test/test-annotations-human-imagelabels.csv
  wiki_contexts/OpenImage_w2v_context_window_10_glove-wiki-gigaword-300.pkl   GloVe label vectors, a pair
                                          (7186 x 300 seen, one row per unseen_labels.pkl entry); also found in
                                          <root>/ or wiki_contexts/ beside or above <root>; or
                                          data.label_vectors=PATH | text-encoder
  train/<ImageID>.jpg, test/<ImageID>.jpg   the images (missing ones are left out); or image_data/train, image_data/test
(the 2018_04/ files may also sit directly in <root>)"""
LAYOUT_HINT = f"expected the Open Images V4 layout: see `zslbench data check {NAME}`"


def read_descriptions(path: Path) -> dict[str, str]:
    """Label id -> display name from ``class-descriptions.csv``."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        return {row[0].strip(): row[1].strip() for row in csv.reader(fh) if len(row) >= 2}


def _read_unseen_list(path: Path) -> list[str]:
    if path.suffix == ".txt":
        return read_lines(path)
    content = load_array_pickle(path, LAYOUT_HINT)
    return [str(x.decode() if isinstance(x, bytes) else x) for x in np.asarray(content).reshape(-1).tolist()]


def unseen_label_ids(root: Path) -> tuple[list[str], np.ndarray | None]:
    """(the 400 unseen label ids, their rows in the unseen-label list, or None where that list is absent).

    ``top_400_unseen.csv`` holds row indices into ``unseen_labels.pkl`` (the
    authors' file) or the label ids themselves.
    """
    entries = [line.split(",")[0].strip() for line in read_lines(require_file(root, TOP_UNSEEN, "top_400_unseen.csv", LAYOUT_HINT))]
    list_path = find_first(root, UNSEEN_LIST)
    if entries and all(e.startswith("/m/") or e.startswith("/g/") for e in entries):
        if list_path is None:
            return entries, None
        row_of = {label: i for i, label in enumerate(_read_unseen_list(list_path))}
        absent = [e for e in entries if e not in row_of]
        if absent:
            raise DataError(f"top_400_unseen.csv names {len(absent)} labels absent from {list_path.name}, e.g. {absent[0]}",
                            LAYOUT_HINT)
        return entries, np.array([row_of[e] for e in entries], dtype=np.int64)
    try:
        rows = np.array([int(float(e)) for e in entries], dtype=np.int64)
    except ValueError:
        raise DataError(f"top_400_unseen.csv must hold row indices or label ids (/m/...), found {entries[0]!r}",
                        LAYOUT_HINT) from None
    unseen_list = _read_unseen_list(require_file(root, UNSEEN_LIST, "unseen_labels.pkl", LAYOUT_HINT))
    if rows.size and (rows.min() < 0 or rows.max() >= len(unseen_list)):
        raise DataError(f"top_400_unseen.csv indexes beyond the {len(unseen_list)} unseen labels", LAYOUT_HINT)
    return [unseen_list[i] for i in rows], rows


ANNOTATION_HEADER = ["ImageID", "Source", "LabelName", "Confidence"]


@dataclass
class Annotations:
    """A human image-label CSV read with ids mapped to integers while streaming.

    ``image_ids[image_rows[i]]`` is the image of annotation ``i``, ``columns[i]``
    its label column (only labels in the column map are kept) and
    ``values[i]`` 1 (present) or 0 (verified absent).
    """

    image_ids: list[str]
    image_rows: np.ndarray  # int32
    columns: np.ndarray  # int32
    values: np.ndarray  # int8


def read_annotations(path: Path, column_of: dict[str, int] | None = None) -> Annotations:
    """Stream a human image-label CSV (``ImageID,Source,LabelName,Confidence`` with its header row).

    With ``column_of`` only rows whose label is in it are kept, as that column;
    without it every label gets a column in order of first appearance. Rows
    are appended to typed arrays (9 bytes a row) instead of Python tuples, so
    files of tens of millions of rows fit in memory.
    """
    from array import array

    keep_all = column_of is None
    column_of = {} if keep_all else column_of
    row_of: dict[str, int] = {}
    image_rows, columns, values = array("i"), array("i"), array("b")
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:4]] != ANNOTATION_HEADER:
            raise DataError(f"{path}: expected the header ImageID,Source,LabelName,Confidence", LAYOUT_HINT)
        for record in reader:
            if len(record) < 4:
                continue
            column = column_of.get(record[2], -1)
            if column < 0:
                if not keep_all:
                    continue
                column = column_of.setdefault(record[2], len(column_of))
            try:
                value = float(record[3]) > 0.5
            except ValueError:
                raise DataError(f"{path}: Confidence must be 0 or 1, found {record[3]!r}", LAYOUT_HINT) from None
            image_rows.append(row_of.setdefault(record[0], len(row_of)))
            columns.append(column)
            values.append(value)
    return Annotations(list(row_of), np.frombuffer(image_rows, dtype=np.int32), np.frombuffer(columns, dtype=np.int32),
                       np.frombuffer(values, dtype=np.int8))


def _split_annotations(root: Path, split: str, column_of: dict[str, int], allowed_columns: int,
                       image_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, int]:
    """(image ids kept, row, column, value) of one split; images whose file is absent are dropped."""
    allowed = {label: c for label, c in column_of.items() if c < allowed_columns}
    found = read_annotations(require_file(root, ANNOTATIONS[split], f"{split} annotations", LAYOUT_HINT), allowed)
    image_ids = np.asarray(found.image_ids, dtype=str)
    present = existing_files_mask(image_dir, np.char.add(image_ids, ".jpg")) if image_ids.size else np.zeros(0, bool)
    new_row = np.cumsum(present) - 1
    on_disk = present[found.image_rows]
    return (image_ids[present].tolist(), new_row[found.image_rows[on_disk]], found.columns[on_disk].astype(np.int64),
            (found.values[on_disk] * 2 - 1).astype(np.int8), int((~present).sum()))


def _label_vectors(root: Path, seen: list[str], unseen_rows: np.ndarray | None, names: list[str],
                   data_cfg: Any) -> tuple[np.ndarray, str]:
    """(L2-normalised label vectors, their source), as ``data.label_vectors`` asks (see ``files.resolve_label_vectors``).

    The pickle is a pair (seen vectors in classes-trainable order, one row per
    entry of the unseen-label list): the unseen rows come from top_400_unseen.csv.
    """
    def from_pickle(path: Path, content: Any) -> np.ndarray:
        seen_content, unseen_content = vector_pair(path, content, "(seen vectors, unseen vectors)", LAYOUT_HINT)
        seen_vectors = as_vector_matrix(seen_content, len(seen), path, "seen-label vectors", LAYOUT_HINT)
        if unseen_rows is None:
            raise DataError(f"{path}: its unseen vectors follow unseen_labels.pkl, which is missing",
                            f"add 2018_04/unseen_labels.pkl; {LAYOUT_HINT}")
        unseen_all = np.asarray(unseen_content, dtype=np.float32)
        if (unseen_all.ndim != 2 or unseen_rows.max(initial=-1) >= len(unseen_all)
                or unseen_all.shape[1] != seen_vectors.shape[1]):
            raise DataError(f"{path}: unseen-label vectors of shape {unseen_all.shape} do not fit top_400_unseen.csv",
                            LAYOUT_HINT)
        return np.concatenate([seen_vectors, unseen_all[unseen_rows]])

    return resolve_label_vectors(NAME, root, LABEL_VECTOR_FILES, names, data_cfg, from_pickle, LAYOUT_HINT)


def load_openimages(data_cfg: Any) -> ZSLDataset:
    """The Open Images V4 multi-label ZSL benchmark from ``data.root`` (default ``$ZSLBENCH_DATA/open-images-v4``)."""
    root = existing_root(NAME, data_cfg, "Open Images", LAYOUT_HINT)
    descriptions = read_descriptions(require_file(root, DESCRIPTIONS, "class-descriptions.csv", LAYOUT_HINT))
    seen = read_lines(require_file(root, TRAINABLE, "classes-trainable.txt", LAYOUT_HINT))
    unseen, unseen_rows = unseen_label_ids(root)
    overlap = set(seen) & set(unseen)
    if overlap:
        raise DataError(f"{len(overlap)} unseen labels are also trainable (seen), e.g. {sorted(overlap)[0]}", LAYOUT_HINT)
    label_ids = seen + unseen
    column_of = {label: i for i, label in enumerate(label_ids)}
    image_ids, rows, columns, values, missing, offset = [], [], [], [], {}, 0
    split_sizes = {}
    for split, allowed in (("trainval", len(seen)), ("test", len(label_ids))):  # train: seen labels only
        image_dir = require_file(root, IMAGE_DIRS[split], f"{split} image folder", LAYOUT_HINT)
        ids, r, c, v, missing[split] = _split_annotations(root, split, column_of, allowed, image_dir)
        image_ids.extend(str(image_dir / f"{i}.jpg") for i in ids)
        rows.append(r + offset)
        columns.append(c)
        values.append(v)
        split_sizes[split] = len(ids)
        offset += len(ids)
    if split_sizes["trainval"] == 0 or split_sizes["test"] == 0:
        raise DataError(f"no Open Images {'training' if not split_sizes['trainval'] else 'test'} images with annotations "
                        "were found on disk", LAYOUT_HINT)
    names = [descriptions.get(label, label) for label in label_ids]
    vectors, vector_source = _label_vectors(root, seen, unseen_rows, names, data_cfg)
    labels = SparseLabels(np.concatenate(rows), np.concatenate(columns), np.concatenate(values), (offset, len(label_ids)))
    return file_dataset(NAME, class_names=names, vectors=vectors, vector_source=vector_source, labels=labels,
                        split_sizes=split_sizes, num_seen=len(seen), image_paths=[Path(p) for p in image_ids],
                        top_k=TOP_K, skipped_by_split=missing, root=root, label_ids=label_ids)


def check_openimages(root: Path) -> MultiLabelCheckReport:
    """Inspect an Open Images V4 copy for ``zslbench data check open-images-v4``; never raises."""
    root = Path(root)
    report = MultiLabelCheckReport(dataset=NAME, root=str(root), layout=LAYOUT, downloads=[HOMEPAGE])
    if not report.require_root():
        return report
    for what, candidates in (("class descriptions", DESCRIPTIONS), ("seen labels", TRAINABLE),
                             ("unseen labels", TOP_UNSEEN)):
        path = find_first(root, candidates)
        if path is None:
            report.missing.append(f"{what}: {candidates[0]}")
        else:
            report.present.append(f"{what}: {path}")
    seen_path = find_first(root, TRAINABLE)
    if seen_path is not None:
        report.counts["seen_labels"] = len(read_lines(seen_path))
    if find_first(root, TOP_UNSEEN) is not None:
        try:
            unseen, _ = unseen_label_ids(root)
            report.counts["unseen_labels"] = len(unseen)
        except DataError as exc:
            report.missing.append(f"readable unseen labels: {exc.message}")
    for split in ("trainval", "test"):
        path = find_first(root, ANNOTATIONS[split])
        image_dir = find_first(root, IMAGE_DIRS[split])
        if path is None:
            report.missing.append(ANNOTATIONS[split][0])
        else:
            report.present.append(f"{split} annotations: {path}")
        if image_dir is None:
            report.missing.append(f"{split} image folder {IMAGE_DIRS[split][0]}/")
            continue
        report.present.append(f"{split} image folder: {image_dir}")
        if path is not None:
            try:
                ids = np.asarray(read_annotations(path).image_ids, dtype=str)
            except DataError as exc:
                report.missing.append(f"readable {split} annotations: {exc.message}")
                continue
            found = existing_files_mask(image_dir, np.char.add(ids.astype(str), ".jpg")) if ids.size else np.zeros(0, bool)
            report.counts[f"{split}_images_annotated"] = int(ids.size)
            report.counts[f"{split}_images_found"] = int(found.sum())
            if ids.size and not found.any():
                report.missing.append(f"the {split} images (none of the annotated ImageIDs has a file in {image_dir})")
    report.check_label_vectors(root, LABEL_VECTOR_FILES)
    report.ok = not report.missing
    return report
