"""AwA2, CUB and SUN with the "Proposed Split" (xlsa17) of Xian et al.

Each dataset lives under its own root, ``paths.data_root(name, data.root)``
(``$ZSLBENCH_DATA/<name>`` by default). The loader needs two kinds of files:

* the split files of Xian et al. (``xlsa17.zip``): ``att_splits.mat`` (class
  names, class attributes, split indices) and ``res101.mat`` (image list and
  labels; also the published ResNet-101 features). They are looked for in
  ``<root>/xlsa17/data/<AWA2|CUB|SUN>/``, ``<root>/xlsa17/<NAME>/``,
  ``<root>/data/<NAME>/``, ``<root>/<NAME>/`` and ``<root>/`` itself;
* the images of the original dataset: AwA2 ``<root>/JPEGImages/<class>/...``
  (or ``<root>/Animals_with_Attributes2/JPEGImages``), CUB
  ``<root>/CUB_200_2011/images/...`` (or ``<root>/images``), SUN
  ``<root>/images/...`` (or ``<root>/SUN/images``);
* optionally the attribute names (predicates.txt, attributes.txt, attributes.mat;
  see :mod:`zslbench.data.attributes`); without them the attributes get
  placeholder names, which semantic text encoders refuse.

``res101.mat`` stores absolute image paths of the authors' machines; each is
mapped onto the user's image folder by the part after the image folder name
(``JPEGImages/`` for AwA2, ``images/`` for CUB and SUN).

Image ``i`` of a loaded dataset is row ``i`` of ``res101.mat``, so split indices
are the file's 1-based ``*_loc`` minus one, and cached features stay aligned.
``train_loc``/``val_loc`` (present in the original files only) overlap
``test_seen_loc``: they are used for their class sets only (the GBU
train/validation classes), never as image splits.

This module is longer than 500 lines because it is the whole reader of one external layout (the
xlsa17 split files, their res101 image index and the original image folders); its parts share the
layout tables and checks above and are only used together by :func:`load_dataset`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench import paths
from zslbench.data.attributes import attribute_groups_for, normalise_attribute_name, placeholder_names, read_attribute_names
from zslbench.data.dataset import FileImages, ZSLDataset
from zslbench.data.matfiles import cellstr, read_mat
from zslbench.errors import DataError, UsageError

log = logging.getLogger(__name__)

ATTRIBUTE_CHOICES = ("att", "original_att")
REQUIRED_SPLIT_KEYS = ("allclasses_names", "att", "trainval_loc", "test_seen_loc", "test_unseen_loc")
#: How many offending paths an error or the dataset meta lists.
PATHS_SHOWN = 5


@dataclass(frozen=True)
class StandardSizes:
    """Class and image counts of the Proposed Split, to recognise a complete, unmodified copy."""

    seen_classes: int
    unseen_classes: int
    trainval: int
    test_seen: int
    test_unseen: int


@dataclass(frozen=True)
class XlsaDataset:
    """Static facts about one xlsa17 dataset."""

    name: str
    folder: str  # the dataset's folder name inside xlsa17.zip
    title: str
    image_dir_name: str  # the folder in res101.mat paths after which the relative path starts
    image_dirs: tuple[str, ...]  # candidate image folders, relative to the root
    homepage: str
    downloads: tuple[str, ...]
    standard: StandardSizes
    num_attributes: int


XLSA17_URL = "https://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"

DATASETS: dict[str, XlsaDataset] = {
    "awa2": XlsaDataset(
        name="awa2", folder="AWA2", title="Animals with Attributes 2", image_dir_name="JPEGImages",
        image_dirs=("JPEGImages", "Animals_with_Attributes2/JPEGImages"),
        homepage="https://cvml.ista.ac.at/AwA2/",
        downloads=("https://cvml.ista.ac.at/AwA2/AwA2-data.zip", XLSA17_URL),
        standard=StandardSizes(40, 10, 23527, 5882, 7913), num_attributes=85,
    ),
    "cub": XlsaDataset(
        name="cub", folder="CUB", title="Caltech-UCSD Birds-200-2011", image_dir_name="images",
        image_dirs=("CUB_200_2011/images", "images"),
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        downloads=("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz", XLSA17_URL),
        standard=StandardSizes(150, 50, 7057, 1764, 2967), num_attributes=312,
    ),
    "sun": XlsaDataset(
        name="sun", folder="SUN", title="SUN Attribute Database", image_dir_name="images",
        image_dirs=("images", "SUN/images"),
        homepage="https://cs.brown.edu/~gmpatter/sunattributes.html",
        downloads=("https://cs.brown.edu/~gmpatter/Attributes/SUNAttributeDB_Images.tar.gz",
                   "https://cs.brown.edu/~gmpatter/Attributes/SUNAttributeDB.tar.gz", XLSA17_URL),
        standard=StandardSizes(645, 72, 10320, 2580, 1440), num_attributes=102,
    ),
}

_ATTRIBUTE_NAME_FILES = {
    "awa2": "<root>/predicates.txt (or <root>/Animals_with_Attributes2/predicates.txt)",
    "cub": "<root>/attributes.txt (or <root>/CUB_200_2011/attributes/attributes.txt)",
    "sun": "<root>/SUNAttributeDB/attributes.mat (or <root>/attributes.mat)",
}


def dataset_info(name: str) -> XlsaDataset:
    """Facts of dataset ``name`` ("awa2", "cub" or "sun")."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise UsageError(f"{name!r} is not an xlsa17 dataset", f"choose one of {', '.join(DATASETS)}") from None


def split_dir_candidates(name: str) -> tuple[str, ...]:
    """Folders (relative to the root) searched for att_splits.mat / res101.mat, in order."""
    folder = dataset_info(name).folder
    return (f"xlsa17/data/{folder}", f"xlsa17/{folder}", f"data/{folder}", folder, ".")


def expected_layout(name: str) -> str:
    """The folder layout the loader of ``name`` expects, as indented text (for README and errors)."""
    info = dataset_info(name)
    images = " or ".join(f"<root>/{d}/" for d in info.image_dirs)
    return "\n".join([
        f"{info.title} ({info.name}), <root> = data.root or $ZSLBENCH_DATA/{info.name}:",
        f"  <root>/xlsa17/data/{info.folder}/att_splits.mat   (also accepted in <root>/xlsa17/{info.folder}/, "
        f"<root>/{info.folder}/ or <root>/)",
        f"  <root>/xlsa17/data/{info.folder}/res101.mat",
        f"  images: {images}  (paths in res101.mat after '{info.image_dir_name}/')",
        f"  attribute names (optional): {_ATTRIBUTE_NAME_FILES[info.name]}",
        f"  downloads: {', '.join(info.downloads)}",
    ])


def _layout_hint(name: str) -> str:
    return f"run `zslbench data check {name}` to see what is missing; expected layout:\n{expected_layout(name)}"


def _locs(data: dict, key: str, path: Path) -> np.ndarray:
    """A 1-based MATLAB index vector as 0-based int64 (uint16 in the originals: widen first)."""
    locs = np.asarray(data[key]).ravel().astype(np.int64) - 1
    if locs.size and locs.min() < 0:
        raise DataError(f"{path}: {key} holds index 0 or negative; expected 1-based indices")
    return locs


def _read_class_list(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


@dataclass
class AttSplits:
    """The content of one ``att_splits.mat`` plus the class lists next to it.

    Attribute matrices are (C, K). Locations are 0-based indices into the rows
    of res101.mat. ``train_loc``/``val_loc`` are None in re-saved files that
    lack them; they overlap ``test_seen_loc`` in the originals (see module doc).
    Class lists (``*_class_names``) come from trainvalclasses.txt, testclasses.txt,
    trainclasses1.txt and valclasses1.txt when present.
    """

    path: Path
    class_names: list[str]
    att: np.ndarray
    original_att: np.ndarray | None
    trainval_loc: np.ndarray
    test_seen_loc: np.ndarray
    test_unseen_loc: np.ndarray
    train_loc: np.ndarray | None = None
    val_loc: np.ndarray | None = None
    seen_class_names: list[str] | None = None
    unseen_class_names: list[str] | None = None
    train_class_names: list[str] | None = None
    val_class_names: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_attributes(self) -> int:
        return int(self.att.shape[1])

    def class_ids(self, names: list[str] | None) -> np.ndarray | None:
        """Class ids (rows of ``att``) of class names from a list file; unknown names are a DataError."""
        if names is None:
            return None
        lookup = {n: i for i, n in enumerate(self.class_names)}
        unknown = [n for n in names if n not in lookup]
        if unknown:
            raise DataError(f"{self.path.parent}: class list names {unknown[:PATHS_SHOWN]} are not in allclasses_names")
        return np.sort(np.array([lookup[n] for n in names], dtype=np.int64))

    def attributes(self, choice: str) -> np.ndarray:
        """Class attribute matrix (C, K) float32: ``"att"`` (L2-normalised) or ``"original_att"``."""
        if choice not in ATTRIBUTE_CHOICES:
            raise UsageError(f"unknown attribute matrix {choice!r}", f"data.attributes is one of {', '.join(ATTRIBUTE_CHOICES)}")
        matrix = self.att if choice == "att" else self.original_att
        if matrix is None:
            raise DataError(f"{self.path} has no variable 'original_att'", "use data.attributes=\"att\"")
        return matrix.astype(np.float32)


def read_att_splits(path: str | Path) -> AttSplits:
    """Parse an ``att_splits.mat`` (either variant) and the class lists in its folder."""
    path = Path(path)
    data = read_mat(path, REQUIRED_SPLIT_KEYS, optional=("original_att", "train_loc", "val_loc"))
    names = cellstr(data["allclasses_names"])
    att = np.asarray(data["att"], dtype=np.float64)
    if att.ndim != 2:
        raise DataError(f"{path}: 'att' has shape {att.shape}, expected (attributes, classes)")
    if att.shape[1] != len(names):
        raise DataError(f"{path}: 'att' has {att.shape[1]} class columns but allclasses_names lists {len(names)} classes",
                        "the file is inconsistent; download xlsa17.zip again")
    original = data.get("original_att")
    if original is not None:
        original = np.asarray(original, dtype=np.float64)
        if original.shape != att.shape:
            raise DataError(f"{path}: 'original_att' has shape {original.shape} but 'att' has {att.shape}")
        original = original.T
    folder = path.parent
    return AttSplits(
        path=path,
        class_names=names,
        att=att.T,
        original_att=original,
        trainval_loc=_locs(data, "trainval_loc", path),
        test_seen_loc=_locs(data, "test_seen_loc", path),
        test_unseen_loc=_locs(data, "test_unseen_loc", path),
        train_loc=_locs(data, "train_loc", path) if "train_loc" in data else None,
        val_loc=_locs(data, "val_loc", path) if "val_loc" in data else None,
        seen_class_names=_read_class_list(folder / "trainvalclasses.txt"),
        unseen_class_names=_read_class_list(folder / "testclasses.txt"),
        train_class_names=_read_class_list(folder / "trainclasses1.txt"),
        val_class_names=_read_class_list(folder / "valclasses1.txt"),
    )


# --------------------------------------------------------------------------- res101.mat


@dataclass
class Res101Index:
    """Image list of res101.mat: the authors' absolute paths and 0-based class ids, row by row."""

    image_files: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64, 0-based


def file_identity(path: Path) -> dict:
    """Path, size and modification time of a file: changes whenever the file is replaced."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": int(stat.st_size), "mtime_ns": int(stat.st_mtime_ns)}


def _identity_key(path: Path) -> str:
    ident = file_identity(path)
    return hashlib.sha256(f"{ident['path']}|{ident['size']}|{ident['mtime_ns']}".encode()).hexdigest()[:16]


def read_res101_index(path: str | Path) -> Res101Index:
    """image_files and labels of a res101.mat (not the large features), cached as .npz.

    The cache key is the file's path, size and mtime, so a replaced file is re-read.
    """
    path = Path(path)
    cache = paths.cache_dir("xlsa17") / f"res101-index-{_identity_key(path)}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                return Res101Index(image_files=stored["image_files"], labels=stored["labels"])
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable cache file %s", cache)
    data = read_mat(path, ("image_files", "labels"))
    index = _parse_index(data, path)
    tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, image_files=index.image_files, labels=index.labels)
    os.replace(tmp, cache)  # atomic: concurrent readers never see a partial file
    return index


def _parse_index(data: dict, path: Path) -> Res101Index:
    image_files = np.array(cellstr(data["image_files"]), dtype=str)
    labels = np.asarray(data["labels"]).ravel().astype(np.int64) - 1
    if len(image_files) != len(labels):
        raise DataError(f"{path}: {len(image_files)} image_files but {len(labels)} labels")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: labels must be 1-based class indices, found {labels.min() + 1}")
    return Res101Index(image_files=image_files, labels=labels)


def relative_image_paths(image_files: np.ndarray, image_dir_name: str) -> np.ndarray:
    """The part of each absolute path after its last ``/<image_dir_name>/`` (e.g. ``antelope/antelope_10001.jpg``).

    Backslashes and doubled slashes of the authors' paths are normalised first.
    A path without the folder name is a DataError listing the first few.
    """
    files = np.char.replace(np.asarray(image_files, dtype=str), "\\", "/")
    while bool(np.char.find(files, "//").max(initial=-1) >= 0):
        files = np.char.replace(files, "//", "/")
    parts = np.char.rpartition(np.char.add("/", files), f"/{image_dir_name}/")
    found = parts[:, 1] != ""
    if not found.all():
        bad = files[~found]
        raise DataError(f"{int((~found).sum())} image paths in res101.mat contain no '{image_dir_name}/' folder: "
                        f"{', '.join(bad[:PATHS_SHOWN].tolist())}",
                        "this res101.mat does not belong to this dataset")
    return parts[:, 2]


def find_split_dir(name: str, root: Path) -> Path | None:
    """The first candidate folder under ``root`` holding att_splits.mat, or None."""
    for rel in split_dir_candidates(name):
        folder = (Path(root) / rel)
        if (folder / "att_splits.mat").is_file():
            return folder
    return None


def find_image_dir(name: str, root: Path) -> Path | None:
    """The first existing candidate image folder of ``name`` under ``root``, or None."""
    for rel in dataset_info(name).image_dirs:
        folder = Path(root) / rel
        if folder.is_dir():
            return folder
    return None


def existing_files_mask(image_dir: Path, rel_paths: np.ndarray) -> np.ndarray:
    """Which relative paths exist under ``image_dir``: one directory walk, then a set lookup."""
    present: list[str] = []
    base = str(image_dir)
    for folder, _dirs, files in os.walk(base):
        prefix = os.path.relpath(folder, base).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        present.extend(prefix + f for f in files)
    if not present:
        return np.zeros(len(rel_paths), dtype=bool)
    return np.isin(np.asarray(rel_paths, dtype=str), np.array(present, dtype=str))


# --------------------------------------------------------------------------- loading


def _dataset_root(name: str, root_override: str | None) -> Path:
    root = paths.data_root(name, root_override)
    if not root.is_dir():
        raise DataError(f"{name}: dataset root {root} does not exist", _layout_hint(name))
    return root


def _require_split_dir(name: str, root: Path) -> Path:
    folder = find_split_dir(name, root)
    if folder is None:
        raise DataError(f"{name}: att_splits.mat not found under {root}", _layout_hint(name))
    return folder


def _classes_of(labels: np.ndarray, locs: np.ndarray | None) -> np.ndarray | None:
    return None if locs is None else np.unique(labels[locs])


def _train_val_classes(splits: AttSplits, labels: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """GBU train/validation classes: from train_loc/val_loc, else the class lists, else none."""
    if splits.train_loc is not None and splits.val_loc is not None:
        return _classes_of(labels, splits.train_loc), _classes_of(labels, splits.val_loc), "train_loc/val_loc"
    train, val = splits.class_ids(splits.train_class_names), splits.class_ids(splits.val_class_names)
    if train is not None and val is not None:
        return train, val, "trainclasses1.txt/valclasses1.txt"
    return None, None, None


def _check_locs(splits: AttSplits, num_images: int, res101: Path) -> None:
    for key in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
        locs = getattr(splits, key)
        if locs is not None and locs.size and locs.max() >= num_images:
            raise DataError(f"{splits.path}: {key} refers to image {int(locs.max()) + 1} but {res101} lists {num_images}",
                            "att_splits.mat and res101.mat come from different versions; use both from one xlsa17.zip")


def _find_bad_images(name: str, images: FileImages, rel_paths: np.ndarray, image_dir: Path,
                     used: np.ndarray, decode: bool) -> np.ndarray:
    """Indices (among ``used``) of missing images, and of undecodable ones when ``decode``."""
    missing = used[~existing_files_mask(image_dir, rel_paths[used])]
    if not decode:
        return missing
    from zslbench.data.transforms import scan_images

    present = np.setdiff1d(used, missing)
    log.info("%s: decoding %d images to find unreadable ones (data.skip_bad_images)", name, len(present))
    return np.union1d(missing, np.asarray(scan_images(images, present), dtype=np.int64))


def _drop_bad(name: str, split_locs: dict[str, np.ndarray], bad: np.ndarray, images: FileImages,
              image_dir: Path, skip: bool) -> tuple[dict[str, np.ndarray], dict]:
    """Raise on bad images, or (with skip) remove them from every split and describe what was removed."""
    if bad.size == 0:
        return split_locs, {}
    shown = [images.describe(int(i)) for i in bad[:PATHS_SHOWN]]
    if not skip:
        raise DataError(f"{name}: {bad.size} images are missing or unreadable under {image_dir}: {', '.join(shown)}",
                        "restore them (see `zslbench data check " + name + "`), or set data.skip_bad_images=true "
                        "to leave them out (recorded with the results)")
    kept = {k: v[~np.isin(v, bad)] for k, v in split_locs.items()}
    by_split = {k: int(len(split_locs[k]) - len(kept[k])) for k in split_locs}
    warnings.warn(f"{name}: skipping {bad.size} missing or unreadable images ({by_split}); first: {shown[0]}",
                  RuntimeWarning, stacklevel=3)
    meta = {"skipped_images": int(bad.size), "skipped_image_paths": shown, "skipped_by_split": by_split}
    return kept, meta


def _attribute_names(name: str, root: Path, num_attributes: int) -> tuple[list[str], list[str] | None, str]:
    """(normalised names, raw names or None, source) of the attribute columns."""
    found = read_attribute_names(name, root)
    if found is None:
        warnings.warn(f"{name}: attribute names file not found under {root}; using placeholder names "
                      f"(expected {_ATTRIBUTE_NAME_FILES[name]})", RuntimeWarning, stacklevel=3)
        return placeholder_names(num_attributes), None, "placeholder"
    raw, path = found
    if len(raw) != num_attributes:
        raise DataError(f"{path} lists {len(raw)} attribute names but the attribute matrix has {num_attributes} columns",
                        f"use the names file of the original {dataset_info(name).title} download")
    return [normalise_attribute_name(r) for r in raw], raw, str(path)


def load_dataset(name: str, data_cfg: Any, require_images: bool = True) -> ZSLDataset:
    """Load AwA2, CUB or SUN with the Proposed Split as a :class:`ZSLDataset`.

    ``data_cfg`` is a :class:`zslbench.config.DataConfig` (root, attributes,
    skip_bad_images). ``require_images=False`` loads without the image folder
    (for methods that only use the published res101 features); image paths are
    then unchecked.
    """
    info = dataset_info(name)
    name = info.name
    choice = getattr(data_cfg, "attributes", "att")
    if choice not in ATTRIBUTE_CHOICES:
        raise UsageError(f"unknown attribute matrix {choice!r}", f"data.attributes is one of {', '.join(ATTRIBUTE_CHOICES)}")
    root = _dataset_root(name, getattr(data_cfg, "root", None))
    split_dir = _require_split_dir(name, root)
    splits = read_att_splits(split_dir / "att_splits.mat")
    class_attributes = splits.attributes(choice)
    res101 = split_dir / "res101.mat"
    if not res101.is_file():
        raise DataError(f"{name}: res101.mat not found next to {splits.path}", _layout_hint(name))
    index = read_res101_index(res101)
    if index.labels.size and index.labels.max() >= splits.num_classes:
        raise DataError(f"{res101}: label {int(index.labels.max()) + 1} exceeds the {splits.num_classes} classes of {splits.path}")
    _check_locs(splits, len(index.labels), res101)
    rel_paths = relative_image_paths(index.image_files, info.image_dir_name)
    image_dir = find_image_dir(name, root)
    if image_dir is None:
        if require_images:
            raise DataError(f"{name}: image folder not found under {root}", _layout_hint(name))
        image_dir = root / info.image_dirs[0]
    images = FileImages([image_dir / p for p in rel_paths.tolist()])

    split_locs = {"trainval": splits.trainval_loc, "test_seen": splits.test_seen_loc, "test_unseen": splits.test_unseen_loc}
    skip_meta: dict = {}
    if require_images:
        used = np.unique(np.concatenate(list(split_locs.values())))
        skip = bool(getattr(data_cfg, "skip_bad_images", False))
        bad = _find_bad_images(name, images, rel_paths, image_dir, used, decode=skip)
        split_locs, skip_meta = _drop_bad(name, split_locs, bad, images, image_dir, skip)

    labels = index.labels
    train_classes, val_classes, train_val_source = _train_val_classes(splits, labels)
    attribute_names, raw_names, names_source = _attribute_names(name, root, splits.num_attributes)
    dataset = ZSLDataset(
        name=name,
        class_names=splits.class_names,
        attribute_names=attribute_names,
        class_attributes=class_attributes,
        labels=labels,
        splits={k: np.sort(v) for k, v in split_locs.items()},
        seen_classes=np.unique(labels[splits.trainval_loc]),
        unseen_classes=np.unique(labels[splits.test_unseen_loc]),
        images=images,
        train_classes=train_classes,
        val_classes=val_classes,
        attribute_groups=attribute_groups_for(name, raw_names, splits.num_attributes),
        meta={
            "recipe": name,
            "root": str(root),
            "attributes": choice,
            "split_file": str(splits.path),
            "res101_file": str(res101),
            "image_dir": str(image_dir),
            "images_checked": require_images,
            "source_files": [file_identity(splits.path), file_identity(res101)],
            "attribute_names_source": names_source,
            "attribute_names_raw": raw_names,
            "train_val_classes_source": train_val_source,
            **skip_meta,
        },
    )
    _validate(dataset, train_classes, val_classes)
    return dataset


def _validate(dataset: ZSLDataset, train: np.ndarray | None, val: np.ndarray | None) -> None:
    try:
        dataset.validate()
    except ValueError as exc:
        raise DataError(str(exc), "att_splits.mat and res101.mat do not match; use both from one xlsa17.zip") from None
    seen = set(dataset.seen_classes.tolist())
    for label, classes in (("train", train), ("validation", val)):
        if classes is not None and not set(classes.tolist()) <= seen:
            raise DataError(f"{dataset.name}: GBU {label} classes include unseen classes "
                            f"{sorted(set(classes.tolist()) - seen)[:PATHS_SHOWN]}")


def load_res101_features(name: str, data_cfg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The published ResNet-101 features of Xian et al.

    Returns ``features`` (N, 2048) float32, ``labels`` (N,) int64 0-based class
    ids, and ``image_files`` (N,) the image paths relative to the image folder
    (a machine-independent identity). Row ``i`` is image ``i`` of :func:`load_dataset`.
    """
    info = dataset_info(name)
    root = _dataset_root(info.name, getattr(data_cfg, "root", None))
    split_dir = _require_split_dir(info.name, root)
    res101 = split_dir / "res101.mat"
    if not res101.is_file():
        raise DataError(f"{info.name}: res101.mat not found next to {split_dir / 'att_splits.mat'}", _layout_hint(info.name))
    data = read_mat(res101, ("features", "image_files", "labels"))
    index = _parse_index(data, res101)
    features = np.asarray(data["features"])
    num_images = len(index.labels)
    if features.ndim != 2 or num_images not in features.shape:
        raise DataError(f"{res101}: features have shape {features.shape}, expected (dim, {num_images})")
    if features.shape[0] == num_images and features.shape[1] != num_images:
        rows = features
    else:
        rows = features.T  # stored (2048, N) by MATLAB
    return (np.ascontiguousarray(rows, dtype=np.float32), index.labels,
            relative_image_paths(index.image_files, info.image_dir_name))
