"""NUS-WIDE for multi-label zero-shot learning, read from the user's copy in the layout the field uses.

Labels (the LESA/BiAM protocol): the 925 seen labels are the Flickr tags of
``TagList1k.txt`` that are not among the 81 human-annotated concepts of
``Concepts81.txt``; the 81 concepts are the unseen labels (1,006 in all; seen
first, in TagList1k order, then the concepts in Concepts81 order). Seen-label
annotations come from ``Train_Tags1k.dat`` / ``Test_Tags1k.dat``, unseen-label
annotations from ``Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt``;
1 becomes +1 and 0 becomes -1 (NUS-WIDE annotates every label of every image).

Images listed in ``ImageList/{Train,Test}Imagelist.txt`` but absent from
``Flickr/`` are left out (many NUS-WIDE URLs are dead, so every copy lacks
some); how many is recorded as ``skipped_images``. Label vectors are the
field's GloVe pickle (``wiki_contexts/NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300``:
a pair (1000 x 300 in TagList1k order, 81 x 300 in Concepts81 order)), L2
normalised, looked for in every layout the authors' repositories use; without
it a run stops unless ``data.label_vectors`` names the pickle or asks for
``text-encoder`` (vectors of the label names). The run records the source.
Image-list lines with an absolute prefix from the authors' machines are
matched by their last path parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.archive_specs import Archive
from zslbench.data.dataset import ZSLDataset
from zslbench.data.xlsa17 import existing_files_mask
from zslbench.errors import DataError
from zslbench.data.multilabel_files import (MultiLabelCheckReport, as_vector_matrix, existing_root, file_dataset,
                                            find_first, h5_image_keys, read_binary_matrix, read_lines, require_file,
                                            resolve_label_vectors, vector_pair)

NAME = "nus-wide"
TOP_K = (3, 5)
HOMEPAGE = "https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html"
#: The LESA code release, which distributes the field's GloVe label vectors of NUS-WIDE and Open Images.
LESA_PAGE = "https://github.com/hbdat/cvpr20_LESA"
#: Nothing of NUS-WIDE is a stable public file: the NUS pages hand out the lists and the images on request.
ARCHIVES = (
    Archive(filename="NUS-WIDE lists", what=("splits",), page=HOMEPAGE, manual=True,
            provides="the image lists, concepts, tags and ground truth (ImageList.zip, ConceptsList.zip, "
                     "NUS_WID_Tags.zip, Groundtruth.zip), unpacked",
            place="ImageList/, Concepts81.txt, NUS_WID_Tags/, Groundtruth/"),
    Archive(filename="NUS-WIDE label vectors", what=("splits",), page=LESA_PAGE, manual=True,
            provides="the GloVe label vectors of LESA", place="wiki_contexts/NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300"),
    Archive(filename="NUS-WIDE images", what=("images",), page=HOMEPAGE, manual=True,
            provides="the Flickr images (by request to the NUS-WIDE authors)", place="Flickr/<folder>/<file>.jpg"),
)

CONCEPTS = ("Concepts81.txt", "ConceptsList/Concepts81.txt")
TAG_LIST = ("NUS_WID_Tags/TagList1k.txt", "TagList1k.txt")
IMAGE_LISTS = {"trainval": ("ImageList/TrainImagelist.txt", "TrainImagelist.txt"),
               "test": ("ImageList/TestImagelist.txt", "TestImagelist.txt")}
TAG_MATRICES = {"trainval": ("NUS_WID_Tags/Train_Tags1k.dat", "Train_Tags1k.dat"),
                "test": ("NUS_WID_Tags/Test_Tags1k.dat", "Test_Tags1k.dat")}
CONCEPT_LABEL_DIRS = ("Groundtruth/TrainTestLabels", "TrainTestLabels")
CONCEPT_SUFFIX = {"trainval": "Train", "test": "Test"}
#: The field's GloVe label-vector pickle (searched in every layout of ``files.label_vector_dirs``).
LABEL_VECTOR_FILES = ("NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300",)
IMAGE_DIRS = ("Flickr", "images")
#: The authors' precomputed features (LESA / BiAM / Generative_MLZSL): one HDF5 file per split.
FEATURE_FILES = {"trainval": ("features/nus_wide_train.h5", "nus_wide_train.h5"),
                 "test": ("features/nus_wide_test.h5", "nus_wide_test.h5")}

LAYOUT = """<root>/                                  (default $ZSLBENCH_DATA/nus-wide)
  ImageList/TrainImagelist.txt, TestImagelist.txt   one image per line, e.g. actor\\0001_2124494179.jpg
  Concepts81.txt                                    the 81 concepts (unseen labels); or ConceptsList/Concepts81.txt
  NUS_WID_Tags/TagList1k.txt                        the 1,000 Flickr tags
  NUS_WID_Tags/Train_Tags1k.dat, Test_Tags1k.dat    one row of 1,000 0/1 values per listed image
  Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt, Labels_<concept>_Test.txt   one 0/1 per listed image
  wiki_contexts/NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300   GloVe label vectors, a pickle
                                                    (1000 x 300 tag vectors, 81 x 300 concept vectors); also found
                                                    in <root>/, <root>/word_embedding/ or wiki_contexts/ beside or
                                                    above <root>; or data.label_vectors=PATH | text-encoder
  Flickr/<folder>/<file>.jpg                        the images, as listed (missing ones are left out)
  features/nus_wide_train.h5, nus_wide_test.h5      (optional) the authors' precomputed features
                                                    ('<folder>_<file>-features' per image): --backbone authors-h5"""
LAYOUT_HINT = f"expected the NUS-WIDE layout: see `zslbench data check {NAME}`"


def label_split(tags: list[str], concepts: list[str]) -> tuple[np.ndarray, list[str]]:
    """(TagList1k column ids of the seen tags, seen tag names): tags that are not concepts."""
    concept_set = set(concepts)
    seen_columns = np.array([i for i, t in enumerate(tags) if t not in concept_set], dtype=np.int64)
    return seen_columns, [tags[i] for i in seen_columns]


def _concept_matrix(root: Path, concepts: list[str], split: str, rows: int) -> np.ndarray:
    folder = require_file(root, CONCEPT_LABEL_DIRS, "the concept ground truth folder", LAYOUT_HINT)
    columns = []
    for concept in concepts:  # 81 files; each is read vectorised
        path = folder / f"Labels_{concept}_{CONCEPT_SUFFIX[split]}.txt"
        if not path.is_file():
            raise DataError(f"concept label file missing: {path}", LAYOUT_HINT)
        columns.append(read_binary_matrix(path, rows, 1, LAYOUT_HINT)[:, 0])
    return np.stack(columns, axis=1) if columns else np.zeros((rows, 0), np.int8)


def _label_vectors(root: Path, tags: list[str], concepts: list[str], seen_columns: np.ndarray,
                   names: list[str], data_cfg: Any) -> tuple[np.ndarray, str]:
    """(L2-normalised label vectors, their source), as ``data.label_vectors`` asks (see ``files.resolve_label_vectors``)."""
    def from_pickle(path: Path, content: Any) -> np.ndarray:
        tag_content, concept_content = vector_pair(path, content, "(tag vectors, concept vectors)", LAYOUT_HINT)
        tag_vectors = as_vector_matrix(tag_content, len(tags), path, "tag vectors", LAYOUT_HINT)
        concept_vectors = as_vector_matrix(concept_content, len(concepts), path, "concept vectors", LAYOUT_HINT)
        if tag_vectors.shape[1] != concept_vectors.shape[1]:
            raise DataError(f"{path}: tag and concept vectors differ in width", LAYOUT_HINT)
        return np.concatenate([tag_vectors[seen_columns], concept_vectors])

    return resolve_label_vectors(NAME, root, LABEL_VECTOR_FILES, names, data_cfg, from_pickle, LAYOUT_HINT)


def image_list_path(line: str) -> str:
    """An image-list line as a path relative to the image folder (``actor/0001_2124494179.jpg``).

    Lines use Windows separators and sometimes an absolute prefix from the
    authors' machines (``C:\\ImageData\\Flickr\\actor\\0001.jpg``): the part after
    ``Flickr/`` is kept, else the last two parts (folder and file) of an absolute path.
    """
    path = line.strip().replace("\\", "/")
    if "Flickr/" in path:
        return path.rsplit("Flickr/", 1)[1]
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "/".join(path.split("/")[-2:])
    return path


def read_image_list(path: Path) -> list[str]:
    """The image-list file's lines as paths relative to the image folder (see :func:`image_list_path`)."""
    return [image_list_path(line) for line in read_lines(path)]


def image_key(rel_path: str) -> str:
    """The key of an image in the authors' HDF5 feature files: ``actor/0001_2124494179.jpg`` -> ``actor_0001_2124494179.jpg``."""
    return rel_path.replace("/", "_")


def feature_files(root: Path) -> dict[str, Path]:
    """The authors' precomputed feature files (split -> path) found under ``root``; empty when there are none."""
    files = {split: find_first(root, candidates) for split, candidates in FEATURE_FILES.items()}
    return {split: path for split, path in files.items() if path is not None} if all(files.values()) else {}


def load_nuswide(data_cfg: Any, require_images: bool = True) -> ZSLDataset:
    """The NUS-WIDE multi-label ZSL benchmark from ``data.root`` (default ``$ZSLBENCH_DATA/nus-wide``).

    ``require_images=False`` (feature methods on ``--backbone authors-h5``):
    with the authors' feature files present, the images kept are those with
    features in them, and no image folder is needed.
    """
    root = existing_root(NAME, data_cfg, "NUS-WIDE", LAYOUT_HINT)
    concepts = read_lines(require_file(root, CONCEPTS, "Concepts81.txt", LAYOUT_HINT))
    tags = read_lines(require_file(root, TAG_LIST, "TagList1k.txt", LAYOUT_HINT))
    seen_columns, seen_names = label_split(tags, concepts)
    h5_files = feature_files(root)
    from_features = not require_images and bool(h5_files)
    image_dir = find_first(root, IMAGE_DIRS)
    if image_dir is None:
        if not from_features:
            raise DataError(f"NUS-WIDE image folder not found under {root} (Flickr/)", LAYOUT_HINT)
        image_dir = root / IMAGE_DIRS[0]
    rel_paths, label_blocks, split_sizes, missing = [], [], {}, {}
    for split in ("trainval", "test"):
        listed = read_image_list(require_file(root, IMAGE_LISTS[split], f"{split} image list", LAYOUT_HINT))
        tag_matrix = read_binary_matrix(require_file(root, TAG_MATRICES[split], f"{split} tag matrix", LAYOUT_HINT),
                                        len(listed), len(tags), LAYOUT_HINT)
        annotations = np.concatenate([tag_matrix[:, seen_columns], _concept_matrix(root, concepts, split, len(listed))],
                                     axis=1)
        if from_features:
            with_features = h5_image_keys(h5_files[split])
            present = np.array([image_key(p) in with_features for p in listed], dtype=bool)
        else:
            present = existing_files_mask(image_dir, np.asarray(listed, dtype=str)) if listed else np.zeros(0, bool)
        missing[split] = int((~present).sum())
        rel_paths.extend(np.asarray(listed, dtype=object)[present].tolist())
        label_blocks.append(annotations[present])
        split_sizes[split] = int(present.sum())
    if split_sizes["trainval"] == 0 or split_sizes["test"] == 0:
        where = "the feature files" if from_features else str(image_dir)
        raise DataError(f"no NUS-WIDE images found in {where} for the listed {'train' if not split_sizes['trainval'] else 'test'} images",
                        LAYOUT_HINT)
    labels = np.concatenate(label_blocks) * np.int8(2) - np.int8(1)  # 1 -> +1, 0 -> -1
    names = seen_names + concepts
    vectors, vector_source = _label_vectors(root, tags, concepts, seen_columns, names, data_cfg)
    return file_dataset(NAME, class_names=names, vectors=vectors, vector_source=vector_source, labels=labels,
                        split_sizes=split_sizes, num_seen=len(seen_names), image_paths=[image_dir / p for p in rel_paths],
                        top_k=TOP_K, skipped_by_split=missing, root=root,
                        feature_files={split: str(path) for split, path in h5_files.items()},
                        image_keys=[image_key(p) for p in rel_paths])


def check_nuswide(root: Path) -> MultiLabelCheckReport:
    """Inspect a NUS-WIDE copy for ``zslbench data check nus-wide``; never raises for a broken copy."""
    root = Path(root)
    report = MultiLabelCheckReport(dataset=NAME, root=str(root), layout=LAYOUT, downloads=[HOMEPAGE])
    if not report.require_root():
        return report
    found: dict[str, list[str]] = {}
    for key, candidates in (("concepts", CONCEPTS), ("tags", TAG_LIST)):
        path = find_first(root, candidates)
        if path is None:
            report.missing.append(f"{candidates[0]}")
        else:
            found[key] = read_lines(path)
            report.present.append(f"{path} ({len(found[key])} names)")
    if "concepts" in found and "tags" in found:
        seen_columns, _ = label_split(found["tags"], found["concepts"])
        report.counts.update(seen_labels=int(len(seen_columns)), unseen_labels=len(found["concepts"]))
        if (len(seen_columns), len(found["concepts"])) != (925, 81):
            report.notes.append(f"{len(seen_columns)} seen / {len(found['concepts'])} unseen labels (the standard is 925 / 81)")
    h5_files = feature_files(root)
    for split, path in h5_files.items():
        report.present.append(f"authors' {split} features {path} (feature methods: --backbone authors-h5)")
    image_dir = find_first(root, IMAGE_DIRS)
    if image_dir is None and h5_files:
        report.notes.append("no image folder Flickr/: image methods need it; feature methods read the authors' features")
    elif image_dir is None:
        report.missing.append("image folder Flickr/")
    else:
        report.present.append(f"image folder {image_dir}")
    for split in ("trainval", "test"):
        _check_split(report, root, split, found, image_dir)
    report.check_label_vectors(root, LABEL_VECTOR_FILES)
    report.ok = not report.missing
    return report


def _check_split(report: MultiLabelCheckReport, root: Path, split: str, found: dict, image_dir: Path | None) -> None:
    list_path = find_first(root, IMAGE_LISTS[split])
    if list_path is None:
        report.missing.append(IMAGE_LISTS[split][0])
        return
    listed = read_image_list(list_path)
    report.present.append(f"{list_path} ({len(listed)} images)")
    report.counts[f"{split}_listed"] = len(listed)
    matrix_path = find_first(root, TAG_MATRICES[split])
    if matrix_path is None:
        report.missing.append(TAG_MATRICES[split][0])
    elif "tags" in found:
        try:
            read_binary_matrix(matrix_path, len(listed), len(found["tags"]), LAYOUT_HINT)
            report.present.append(f"{matrix_path}")
        except DataError as exc:
            report.missing.append(f"a readable {matrix_path.name}: {exc.message}")
    folder = find_first(root, CONCEPT_LABEL_DIRS)
    if folder is None:
        if split == "trainval":
            report.missing.append(CONCEPT_LABEL_DIRS[0] + "/")
    elif "concepts" in found:
        absent = [c for c in found["concepts"] if not (folder / f"Labels_{c}_{CONCEPT_SUFFIX[split]}.txt").is_file()]
        if absent:
            report.missing.append(f"{len(absent)} {split} concept label files, e.g. Labels_{absent[0]}_{CONCEPT_SUFFIX[split]}.txt")
    if image_dir is not None and listed:
        present = existing_files_mask(image_dir, np.asarray(listed, dtype=str))
        report.counts[f"{split}_images_found"] = int(present.sum())
        report.counts[f"{split}_unmatched_lines"] = int((~present).sum())
        if not present.all():
            report.notes.append(f"{int((~present).sum())} listed {split} images are missing and will be left out")
        if not present.any():
            report.missing.append(f"the {split} images (none of the listed files is in {image_dir})")
