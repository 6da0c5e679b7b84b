"""The GBU datasets with the "Proposed Split" (xlsa17) of Xian et al.: AwA1, AwA2, aPY, CUB, SUN, and FLO.

The facts of each dataset (class count, attribute dimension, split sizes,
folders, downloads) are data in :data:`DATASETS`; every loader checks a file's
class count and attribute dimension against them and refuses a file that
belongs to another dataset, naming the one it looks like.

Each dataset lives under its own root, ``paths.data_root(name, data.root)``
(``$ZSLBENCH_DATA/<name>`` by default). The loader needs two kinds of files:

* the split files of Xian et al. (``xlsa17.zip``): ``att_splits.mat`` (class
  names, class attributes, split indices) and ``res101.mat`` (image list and
  labels; also the published ResNet-101 features). They are looked for in
  ``<root>/xlsa17/data/<AWA1|AWA2|APY|CUB|SUN|FLO>/``, ``<root>/xlsa17/<NAME>/``,
  ``<root>/data/<NAME>/``, ``<root>/<NAME>/`` and ``<root>/`` itself;
* the images of the original dataset (only for image methods; feature methods
  on the published res101 features need none), see :func:`expected_layout`;
* optionally the attribute names (predicates.txt, attributes.txt, attributes.mat,
  attribute_names.txt; see :mod:`zslbench.data.attributes`); without them the
  attributes get placeholder names, which semantic text encoders refuse. FLO's
  "attributes" are 1024-d sentence embeddings (Reed et al.): they have no names.

``res101.mat`` stores absolute image paths of the authors' machines; each is
mapped onto the user's image folder by the part after the image folder name
(``JPEGImages/`` for AwA1/AwA2, ``images/`` for CUB and SUN, ``jpg/`` for FLO),
or, for aPY (two source folders) and for paths without that folder, by the
part after the folder prefix all paths share.

FLO's att_splits.mat has no ``allclasses_names`` and no ``original_att``: class
names come from ``allclasses.txt`` next to it when present, else placeholders.

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

from zslbench import npz_cache, paths
from zslbench.data.archive_specs import Archive
from zslbench.data.attributes import attribute_groups_for, normalise_attribute_name, placeholder_names, read_attribute_names
from zslbench.data.dataset import ROWS_ARE_OBJECTS, FileImages, ZSLDataset
from zslbench.data.matfiles import cellstr, read_mat
from zslbench.errors import DataError, UsageError
from zslbench.settings_check import ATTRIBUTE_CHOICES

log = logging.getLogger(__name__)

REQUIRED_SPLIT_KEYS = ("att", "trainval_loc", "test_seen_loc", "test_unseen_loc")
#: Present in every dataset's att_splits.mat except FLO's.
CLASS_NAMES_KEY = "allclasses_names"
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
    image_dir_name: str | None  # the folder in res101.mat paths after which the relative path starts (None: common prefix)
    image_dirs: tuple[str, ...]  # candidate image folders, relative to the root
    homepage: str
    archives: tuple[Archive, ...]  # what `zslbench data download` fetches (or names, when fetched by hand)
    standard: StandardSizes
    num_attributes: int
    attribute_names_file: str | None  # where the names file is expected (None: the columns have no names)
    semantic_kind: str = "attributes"  # what the columns of 'att' are
    has_class_names: bool = True  # att_splits.mat holds allclasses_names
    has_original_att: bool = True  # att_splits.mat holds original_att
    # Rows are objects (bounding boxes), several per image file (aPY's aPascal part): rows of different splits
    # may share a file in the original split, so the leak-by-file-name check does not apply.
    rows_are_objects: bool = False

    @property
    def num_classes(self) -> int:
        return self.standard.seen_classes + self.standard.unseen_classes

    @property
    def downloads(self) -> tuple[str, ...]:
        """The address of every archive, in table order (what ``data check`` and the layout print)."""
        return tuple(a.address for a in self.archives)


XLSA17_URL = "https://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"
XLSA17_PAGE = ("https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/"
               "zero-shot-learning/zero-shot-learning-the-good-the-bad-and-the-ugly")
FLO_SPLITS_PAGE = ("https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/"
                   "zero-shot-learning/feature-generating-networks-for-zero-shot-learning")


def _xlsa17_archive(folder: str) -> Archive:
    """The Proposed Split and ResNet-101 features of one dataset: its folder of xlsa17.zip (the others are skipped)."""
    return Archive(
        filename="xlsa17.zip", what=("splits", "features"), urls=(XLSA17_URL,), page=XLSA17_PAGE,
        provides=f"the Proposed Split and published ResNet-101 features (att_splits.mat, res101.mat) of {folder}",
        member_prefix=f"xlsa17/data/{folder}/", unpack_to=f"xlsa17/data/{folder}",
    )


def _images_archive(filename: str, url: str, page: str, provides: str, member_prefix: str = "",
                    unpack_to: str = ".", what: tuple[str, ...] = ("images",), md5: str | None = None,
                    md5_source: str | None = None) -> Archive:
    return Archive(filename=filename, what=what, urls=(url,), page=page, provides=provides,
                   member_prefix=member_prefix, unpack_to=unpack_to, md5=md5, md5_source=md5_source)


DATASETS: dict[str, XlsaDataset] = {
    "awa1": XlsaDataset(
        name="awa1", folder="AWA1", title="Animals with Attributes", image_dir_name="JPEGImages",
        image_dirs=("JPEGImages", "Animals_with_Attributes/JPEGImages"),
        homepage="https://cvml.ista.ac.at/AwA/",
        # AwA1's images are not distributed (copyright); its published features are in xlsa17.zip.
        archives=(Archive(filename="JPEGImages", what=("images",), page="https://cvml.ista.ac.at/AwA/", manual=True,
                          provides="the AwA1 images, not distributed (copyright): only the published features "
                                   "(xlsa17.zip) are public", place="JPEGImages/ (or Animals_with_Attributes/JPEGImages/)"),
                  _xlsa17_archive("AWA1")),
        standard=StandardSizes(40, 10, 19832, 4958, 5685), num_attributes=85,
        attribute_names_file="<root>/predicates.txt (or <root>/Animals_with_Attributes/predicates.txt)",
    ),
    "awa2": XlsaDataset(
        name="awa2", folder="AWA2", title="Animals with Attributes 2", image_dir_name="JPEGImages",
        image_dirs=("JPEGImages", "Animals_with_Attributes2/JPEGImages"),
        homepage="https://cvml.ista.ac.at/AwA2/",
        archives=(_images_archive("AwA2-data.zip", "https://cvml.ista.ac.at/AwA2/AwA2-data.zip",
                                  "https://cvml.ista.ac.at/AwA2/",
                                  "the images and predicates.txt (Animals_with_Attributes2/, 13 GB)"),
                  _xlsa17_archive("AWA2")),
        standard=StandardSizes(40, 10, 23527, 5882, 7913), num_attributes=85,
        attribute_names_file="<root>/predicates.txt (or <root>/Animals_with_Attributes2/predicates.txt)",
    ),
    "apy": XlsaDataset(
        name="apy", folder="APY", title="attribute Pascal and Yahoo", image_dir_name=None,
        image_dirs=("images",),
        homepage="https://vision.cs.uiuc.edu/attributes/",
        archives=(_images_archive("attribute_data.tar.gz", "https://vision.cs.uiuc.edu/attributes/attribute_data.tar.gz",
                                  "https://vision.cs.uiuc.edu/attributes/", "the attribute names (attribute_data/)",
                                  what=("splits",)),
                  _images_archive("ayahoo_test_images.tar.gz",
                                  "https://vision.cs.uiuc.edu/attributes/ayahoo_test_images.tar.gz",
                                  "https://vision.cs.uiuc.edu/attributes/", "the aYahoo images",
                                  member_prefix="ayahoo_test_images/", unpack_to="images/ayahoo_test_images"),
                  _images_archive("VOCtrainval_14-Jul-2008.tar",
                                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2008/VOCtrainval_14-Jul-2008.tar",
                                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2008/", "the aPascal images (VOC2008)",
                                  member_prefix="VOCdevkit/VOC2008/JPEGImages/", unpack_to="images/VOC2008/JPEGImages",
                                  md5="2629fa636546599198acfcfbfcf1904a", md5_source="torchvision.datasets.VOCDetection"),
                  _xlsa17_archive("APY")),
        standard=StandardSizes(20, 12, 5932, 1483, 7924), num_attributes=64,
        attribute_names_file="<root>/attribute_names.txt (or <root>/attribute_data/attribute_names.txt)",
        rows_are_objects=True,
    ),
    "cub": XlsaDataset(
        name="cub", folder="CUB", title="Caltech-UCSD Birds-200-2011", image_dir_name="images",
        image_dirs=("CUB_200_2011/images", "images"),
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        archives=(_images_archive("CUB_200_2011.tgz",
                                  "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                                  "https://www.vision.caltech.edu/datasets/cub_200_2011/",
                                  "the images and attribute names (CUB_200_2011/, attributes.txt; 1.1 GB)",
                                  md5="97eceeb196236b17998738112f37df78",
                                  md5_source="tgz_md5 of the Cub2011 loader, github.com/TDeVries/cub2011_dataset"),
                  _xlsa17_archive("CUB")),
        standard=StandardSizes(150, 50, 7057, 1764, 2967), num_attributes=312,
        attribute_names_file="<root>/attributes.txt (or <root>/CUB_200_2011/attributes/attributes.txt)",
    ),
    "sun": XlsaDataset(
        name="sun", folder="SUN", title="SUN Attribute Database", image_dir_name="images",
        image_dirs=("images", "SUN/images"),
        homepage="https://cs.brown.edu/~gmpatter/sunattributes.html",
        archives=(_images_archive("SUNAttributeDB_Images.tar.gz",
                                  "https://cs.brown.edu/~gmpatter/Attributes/SUNAttributeDB_Images.tar.gz",
                                  "https://cs.brown.edu/~gmpatter/sunattributes.html", "the images (images/)"),
                  _images_archive("SUNAttributeDB.tar.gz", "https://cs.brown.edu/~gmpatter/Attributes/SUNAttributeDB.tar.gz",
                                  "https://cs.brown.edu/~gmpatter/sunattributes.html",
                                  "the attribute names (SUNAttributeDB/attributes.mat)", what=("splits",)),
                  _xlsa17_archive("SUN")),
        standard=StandardSizes(645, 72, 10320, 2580, 1440), num_attributes=102,
        attribute_names_file="<root>/SUNAttributeDB/attributes.mat (or <root>/attributes.mat)",
    ),
    "flo": XlsaDataset(
        name="flo", folder="FLO", title="Oxford Flowers-102", image_dir_name="jpg",
        image_dirs=("jpg", "102flowers/jpg"),
        homepage="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        # The 1024-d sentence features (Reed et al., CVPR 2016) are FLO's att in the xlsa17 version used by
        # f-CLSWGAN; the copy in xlsa17.zip lacks FLO, the authors' feature-generation page provides it.
        archives=(_images_archive("102flowers.tgz", "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
                                  "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/", "the images (jpg/)",
                                  md5="52808999861908f626f3c1f4e79d11fa", md5_source="torchvision.datasets.Flowers102"),
                  Archive(filename="FLO", what=("splits", "features"), page=FLO_SPLITS_PAGE, manual=True,
                          provides="FLO's split and features (att_splits.mat, res101.mat; not in xlsa17.zip): the "
                                   "data archive of the f-CLSWGAN page, a form", place="xlsa17/data/FLO/")),
        standard=StandardSizes(82, 20, 5631, 1403, 1155), num_attributes=1024,
        attribute_names_file=None, semantic_kind="sentence embeddings (1024-d, Reed et al. 2016)",
        has_class_names=False, has_original_att=False,
    ),
}


def dataset_info(name: str) -> XlsaDataset:
    """Facts of dataset ``name`` (one of :data:`DATASETS`: awa1, awa2, apy, cub, sun, flo)."""
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
    mapping = (f"paths in res101.mat after '{info.image_dir_name}/'" if info.image_dir_name
               else "paths in res101.mat after the folder prefix they all share")
    std = info.standard
    names = (f"  attribute names (optional): {info.attribute_names_file}" if info.attribute_names_file
             else f"  attribute names: none ({info.semantic_kind}; placeholders are used)")
    return "\n".join([
        f"{info.title} ({info.name}), <root> = data.root or $ZSLBENCH_DATA/{info.name}:",
        f"  <root>/xlsa17/data/{info.folder}/att_splits.mat   (also accepted in <root>/xlsa17/{info.folder}/, "
        f"<root>/{info.folder}/ or <root>/)",
        f"  <root>/xlsa17/data/{info.folder}/res101.mat   (enough for feature methods on the published features)",
        f"  images (image methods only): {images}  ({mapping})",
        names,
        f"  expected: {info.num_classes} classes ({std.seen_classes} seen / {std.unseen_classes} unseen), "
        f"{info.num_attributes}-d {info.semantic_kind}; trainval / test_seen / test_unseen "
        f"{std.trainval} / {std.test_seen} / {std.test_unseen}",
        f"  downloads: {', '.join(info.downloads)}",
    ])


def _split_sizes(splits: "AttSplits") -> tuple[int, int, int]:
    return len(splits.trainval_loc), len(splits.test_seen_loc), len(splits.test_unseen_loc)


def lookalike_datasets(num_classes: int, num_attributes: int, split_sizes: tuple[int, int, int] | None = None) -> list[str]:
    """The datasets a file of this shape belongs to: same class count and attribute dimension.

    When several match (AwA1 and AwA2 are both 50 classes x 85 attributes), the
    standard split sizes decide if they match one of them exactly.
    """
    same_shape = [i for i in DATASETS.values() if (i.num_classes, i.num_attributes) == (num_classes, num_attributes)]
    if split_sizes is not None and len(same_shape) > 1:
        exact = [i for i in same_shape if (i.standard.trainval, i.standard.test_seen, i.standard.test_unseen) == split_sizes]
        if exact:
            return [i.name for i in exact]
    return [i.name for i in same_shape]


def check_dataset_shape(name: str, splits: "AttSplits") -> None:
    """Refuse an att_splits.mat whose class count or attribute dimension is not ``name``'s.

    Also refuses a file of the right shape whose split sizes are exactly another
    dataset's standard sizes (an AwA1 file given as awa2). The hint names the
    dataset the file looks like.
    """
    info = dataset_info(name)
    shape = (splits.num_classes, splits.num_attributes)
    looks_like = lookalike_datasets(*shape, _split_sizes(splits))
    if shape == (info.num_classes, info.num_attributes) and (info.name in looks_like or not looks_like):
        return
    if looks_like:
        hint = (f"it looks like {' or '.join(looks_like)}: use --dataset {looks_like[0]}, "
                f"or point --data-root at your {info.name} copy")
    else:
        hint = f"it matches none of {', '.join(DATASETS)}; use the att_splits.mat of the original {info.title} split"
    raise DataError(f"{splits.path}: {shape[0]} classes x {shape[1]} attributes (split sizes "
                    f"{'/'.join(map(str, _split_sizes(splits)))}), but {info.name} has {info.num_classes} classes x "
                    f"{info.num_attributes} attributes", hint)


def _layout_hint(name: str) -> str:
    return f"run `zslbench data check {name}` to see what is missing; expected layout:\n{expected_layout(name)}"


def integral_values(path: Path, key: str, values: Any) -> np.ndarray:
    """``values`` as int64, refusing fractions, NaN or infinities (``astype`` would truncate 3.5 to 3 silently)."""
    raw = np.asarray(values).ravel()
    if raw.dtype.kind in "iub":
        return raw.astype(np.int64)
    if raw.dtype.kind != "f":
        raise DataError(f"{path}: {key} holds {raw.dtype} values, expected integers",
                        "this is not an xlsa17 file; download xlsa17.zip again")
    bad = ~np.isfinite(raw) | (raw != np.round(raw))
    if bad.any():
        shown = ", ".join(f"{v:g}" for v in raw[bad][:PATHS_SHOWN])
        raise DataError(f"{path}: {key} holds {int(bad.sum())} non-integral values, e.g. {shown} "
                        f"(at positions {np.flatnonzero(bad)[:PATHS_SHOWN].tolist()})",
                        "the file is damaged or was re-saved wrongly; use the original xlsa17 file")
    return raw.astype(np.int64)


def _locs(data: dict, key: str, path: Path) -> np.ndarray:
    """A 1-based MATLAB index vector as 0-based int64 (uint16 in the originals: widen first)."""
    locs = integral_values(path, key, data[key]) - 1
    if locs.size and locs.min() < 0:
        raise DataError(f"{path}: {key} holds index 0 or negative; expected 1-based indices")
    return locs


def require_finite(path: Path, key: str, matrix: np.ndarray, class_names: list[str]) -> None:
    """Refuse a (C, K) class matrix with NaN or infinite values, naming the first classes (-1, "missing", is fine)."""
    finite = np.isfinite(matrix)
    if finite.all():
        return
    rows = np.flatnonzero(~finite.all(axis=1))
    names = ", ".join(class_names[int(r)] for r in rows[:PATHS_SHOWN]) + (", ..." if rows.size > PATHS_SHOWN else "")
    raise DataError(f"{path}: {key!r} holds {int((~finite).sum())} NaN or infinite values, in {rows.size} classes "
                    f"({names})", "the file is damaged; download xlsa17.zip again")


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
    class_names_source: str = "allclasses_names"  # or "allclasses.txt", "placeholder" (FLO)

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


def read_att_splits(path: str | Path, require_class_names: bool = True) -> AttSplits:
    """Parse an ``att_splits.mat`` (any variant) and the class lists in its folder.

    ``require_class_names=False`` accepts a file without ``allclasses_names``
    (FLO's): names then come from ``allclasses.txt`` next to it, else are
    placeholders (``"class 1"``...), and the class list files are not used.
    """
    path = Path(path)
    required = REQUIRED_SPLIT_KEYS + ((CLASS_NAMES_KEY,) if require_class_names else ())
    data = read_mat(path, required, optional=("original_att", "train_loc", "val_loc", CLASS_NAMES_KEY))
    att = np.asarray(data["att"], dtype=np.float64)
    if att.ndim != 2:
        raise DataError(f"{path}: 'att' has shape {att.shape}, expected (attributes, classes)")
    folder = path.parent
    names_known = CLASS_NAMES_KEY in data
    if names_known:
        names = cellstr(data[CLASS_NAMES_KEY])
    else:
        names = _read_class_list(folder / "allclasses.txt") or []
        names_known = len(names) == att.shape[1]
        if not names_known:
            names = [f"class {i + 1}" for i in range(att.shape[1])]
    if att.shape[1] != len(names):
        raise DataError(f"{path}: 'att' has {att.shape[1]} class columns but allclasses_names lists {len(names)} classes",
                        "the file is inconsistent; download xlsa17.zip again")
    require_finite(path, "att", att.T, names)
    original = data.get("original_att")
    if original is not None:
        original = np.asarray(original, dtype=np.float64)
        if original.shape != att.shape:
            raise DataError(f"{path}: 'original_att' has shape {original.shape} but 'att' has {att.shape}")
        original = original.T
        require_finite(path, "original_att", original, names)
    class_list = _read_class_list if names_known else (lambda _path: None)
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
        seen_class_names=class_list(folder / "trainvalclasses.txt"),
        unseen_class_names=class_list(folder / "testclasses.txt"),
        train_class_names=class_list(folder / "trainclasses1.txt"),
        val_class_names=class_list(folder / "valclasses1.txt"),
        class_names_source=("allclasses_names" if CLASS_NAMES_KEY in data
                            else "allclasses.txt" if names_known else "placeholder"),
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
    """image_files and labels of a res101.mat (not the large features), cached as a checksummed .npz.

    The cache key is the file's path, size and mtime, so a replaced file is re-read;
    a damaged cache file is reported in one warning and rebuilt (:mod:`zslbench.npz_cache`).
    """
    path = Path(path)
    cache = paths.cache_dir("xlsa17") / f"res101-index-{_identity_key(path)}.npz"
    stored = npz_cache.load_checked(cache, ("image_files", "labels"), log, valid=_index_problem)
    if stored is not None:
        return Res101Index(image_files=stored["image_files"], labels=stored["labels"])
    data = read_mat(path, ("image_files", "labels"))
    index = _parse_index(data, path)
    npz_cache.save_checked(cache, {"image_files": index.image_files, "labels": index.labels})
    return index


def _index_problem(arrays: dict[str, np.ndarray]) -> str | None:
    files, labels = arrays["image_files"], arrays["labels"]
    if files.ndim != 1 or labels.shape != files.shape or labels.dtype != np.int64 or files.dtype.kind != "U":
        return f"image_files {files.dtype}{files.shape} and labels {labels.dtype}{labels.shape} do not fit"
    return None


def _parse_index(data: dict, path: Path) -> Res101Index:
    image_files = np.array(cellstr(data["image_files"]), dtype=str)
    labels = integral_values(path, "labels", data["labels"]) - 1
    if len(image_files) != len(labels):
        raise DataError(f"{path}: {len(image_files)} image_files but {len(labels)} labels")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: labels must be 1-based class indices, found {labels.min() + 1}")
    return Res101Index(image_files=image_files, labels=labels)


def _normalised_paths(image_files: np.ndarray) -> np.ndarray:
    """Forward slashes only, no doubled slashes (the authors' paths have both)."""
    files = np.char.replace(np.asarray(image_files, dtype=str), "\\", "/")
    while bool(np.char.find(files, "//").max(initial=-1) >= 0):
        files = np.char.replace(files, "//", "/")
    return files


def after_common_prefix(image_files: np.ndarray) -> np.ndarray:
    """Each path without the folder prefix all paths share (``/a/b/x/1.jpg``, ``/a/b/y/2.jpg`` -> ``x/1.jpg``, ``y/2.jpg``)."""
    files = _normalised_paths(image_files)
    if files.size == 0:
        return files
    prefix = os.path.commonprefix(files.tolist())
    prefix = prefix[: prefix.rfind("/") + 1]  # whole folders only
    return np.char.lstrip(np.array([f[len(prefix):] for f in files.tolist()], dtype=str), "/")


def dataset_relative_paths(name: str, image_files: np.ndarray, strict: bool = True) -> np.ndarray:
    """Image paths of ``name`` relative to its image folder.

    Datasets without a single image folder name (aPY) use :func:`after_common_prefix`.
    ``strict=False`` (feature-only loading, where the paths are only an identity
    of each row) falls back to it for paths that lack the folder name.
    """
    folder = dataset_info(name).image_dir_name
    if folder is None:
        return after_common_prefix(image_files)
    try:
        return relative_image_paths(image_files, folder)
    except DataError:
        if strict:
            raise
        return after_common_prefix(image_files)


def relative_image_paths(image_files: np.ndarray, image_dir_name: str) -> np.ndarray:
    """The part of each absolute path after its last ``/<image_dir_name>/`` (e.g. ``antelope/antelope_10001.jpg``).

    Backslashes and doubled slashes of the authors' paths are normalised first.
    A path without the folder name is a DataError listing the first few.
    """
    files = _normalised_paths(image_files)
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


def train_val_classes(splits: AttSplits, labels: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """GBU train/validation classes: from train_loc/val_loc, else the class lists, else none."""
    if splits.train_loc is not None and splits.val_loc is not None:
        return _classes_of(labels, splits.train_loc), _classes_of(labels, splits.val_loc), "train_loc/val_loc"
    train, val = splits.class_ids(splits.train_class_names), splits.class_ids(splits.val_class_names)
    if train is not None and val is not None:
        return train, val, "trainclasses1.txt/valclasses1.txt"
    return None, None, None


def check_label_range(index: Res101Index, splits: AttSplits, res101: Path) -> None:
    """Refuse labels past the class count of att_splits.mat (0-based labels are refused when read)."""
    if index.labels.size and index.labels.max() >= splits.num_classes:
        raise DataError(f"{res101}: label {int(index.labels.max()) + 1} exceeds the {splits.num_classes} classes of "
                        f"{splits.path}", "labels must be 1-based rows of allclasses_names; use att_splits.mat and "
                        "res101.mat from one xlsa17.zip")


def split_classes(splits: AttSplits, labels: np.ndarray, res101: Path) -> tuple[np.ndarray, np.ndarray]:
    """Seen and unseen class ids: the class lists next to att_splits.mat when present, else the labels' classes.

    With the lists (trainvalclasses.txt, testclasses.txt), labels that are
    not the listed classes but would be shifted by one (1-based labels stored
    2-based, or 0-based ones) are refused as "off by one"; other mismatches
    and a listed class without images are left to
    :func:`~zslbench.data.split_check.check_class_presence`. Lists naming
    classes that are not in the file are not used.
    """
    try:
        declared_seen, declared_unseen = splits.class_ids(splits.seen_class_names), splits.class_ids(splits.unseen_class_names)
    except DataError:  # lists of other class names (a hand-made allclasses.txt): the labels decide, as before
        declared_seen = declared_unseen = None
    if declared_seen is None or declared_unseen is None:
        return np.unique(labels[splits.trainval_loc]), np.unique(labels[splits.test_unseen_loc])
    for split, declared, listed in (("trainval", declared_seen, "trainvalclasses.txt"),
                                    ("test_seen", declared_seen, "trainvalclasses.txt"),
                                    ("test_unseen", declared_unseen, "testclasses.txt")):
        found = np.unique(labels[getattr(splits, f"{split}_loc")])
        outside = np.setdiff1d(found, declared)
        if not outside.size:
            continue
        shifts = [d for d in (1, -1) if found.size and not np.setdiff1d(found - d, declared).size]
        if not shifts:
            continue  # another mismatch (e.g. a leaked image): split_check names it
        shown = ", ".join(str(int(c) + 1) for c in outside[:PATHS_SHOWN])
        raise DataError(f"{res101}: the {split} images have labels {shown} (1-based) of classes that "
                        f"{splits.path.parent / listed} does not list; the labels look shifted by {shifts[0]:+d} "
                        "(off by one)", "labels must be 1-based rows of allclasses_names; use att_splits.mat and "
                        "res101.mat from one xlsa17.zip")
    return declared_seen, declared_unseen


def _check_locs(splits: AttSplits, num_images: int, res101: Path) -> None:
    for key in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
        locs = getattr(splits, key)
        if locs is not None and locs.size and locs.max() >= num_images:
            raise DataError(f"{splits.path}: {key} refers to image {int(locs.max()) + 1} but {res101} lists {num_images}",
                            "att_splits.mat and res101.mat come from different versions; use both from one xlsa17.zip")


def _find_bad_images(name: str, images: FileImages, rel_paths: np.ndarray, image_dir: Path,
                     used: np.ndarray, decode: bool) -> np.ndarray:
    """Indices (among ``used``) of missing images, and of unreadable ones: every image decoded when ``decode``,
    else the suspects of a look at each file's first and last bytes (empty, foreign, truncated JPEG) decoded."""
    from zslbench.data.image_files import unreadable_images

    missing = used[~existing_files_mask(image_dir, rel_paths[used])]
    present = np.setdiff1d(used, missing)
    if decode:
        log.info("%s: decoding %d images to find unreadable ones (data.skip_bad_images)", name, len(present))
    broken = unreadable_images([images.paths[int(i)] for i in present], decode_all=decode)
    return np.union1d(missing, present[sorted(broken)].astype(np.int64))


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
    info = dataset_info(name)
    if info.attribute_names_file is None:  # FLO: sentence-embedding dimensions have no names
        return placeholder_names(num_attributes), None, "placeholder"
    found = read_attribute_names(name, root)
    if found is None:
        warnings.warn(f"{name}: attribute names file not found under {root}; using placeholder names "
                      f"(expected {info.attribute_names_file})", RuntimeWarning, stacklevel=3)
        return placeholder_names(num_attributes), None, "placeholder"
    raw, path = found
    if len(raw) != num_attributes:
        raise DataError(f"{path} lists {len(raw)} attribute names but the attribute matrix has {num_attributes} columns",
                        f"use the names file of the original {dataset_info(name).title} download")
    return [normalise_attribute_name(r) for r in raw], raw, str(path)


def read_dataset_splits(name: str, path: Path) -> AttSplits:
    """The att_splits.mat of dataset ``name``, refused when its shape is another dataset's (:func:`check_dataset_shape`)."""
    splits = read_att_splits(path, require_class_names=dataset_info(name).has_class_names)
    check_dataset_shape(name, splits)
    return splits


def load_dataset(name: str, data_cfg: Any, require_images: bool = True) -> ZSLDataset:
    """Load one of :data:`DATASETS` with the Proposed Split as a :class:`ZSLDataset`.

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
    splits = read_dataset_splits(name, split_dir / "att_splits.mat")
    class_attributes = splits.attributes(choice)
    res101 = split_dir / "res101.mat"
    if not res101.is_file():
        raise DataError(f"{name}: res101.mat not found next to {splits.path}", _layout_hint(name))
    index = read_res101_index(res101)
    check_label_range(index, splits, res101)
    _check_locs(splits, len(index.labels), res101)
    rel_paths = dataset_relative_paths(name, index.image_files, strict=require_images)
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
    seen_classes, unseen_classes = split_classes(splits, labels, res101)
    train_classes, val_classes, train_val_source = train_val_classes(splits, labels)
    attribute_names, raw_names, names_source = _attribute_names(name, root, splits.num_attributes)
    dataset = ZSLDataset(
        name=name,
        class_names=splits.class_names,
        attribute_names=attribute_names,
        class_attributes=class_attributes,
        labels=labels,
        splits={k: np.sort(v) for k, v in split_locs.items()},
        seen_classes=seen_classes,
        unseen_classes=unseen_classes,
        images=images,
        train_classes=train_classes,
        val_classes=val_classes,
        attribute_groups=attribute_groups_for(name, raw_names, splits.num_attributes),
        meta={
            "recipe": name,
            "root": str(root),
            "attributes": choice,
            "class_names_source": splits.class_names_source,
            "split_file": str(splits.path),
            "res101_file": str(res101),
            "image_dir": str(image_dir),
            "images_checked": require_images,
            "source_files": [file_identity(splits.path), file_identity(res101)],
            "attribute_names_source": names_source,
            "attribute_names_raw": raw_names,
            "train_val_classes_source": train_val_source,
            ROWS_ARE_OBJECTS: info.rows_are_objects,
            **skip_meta,
        },
    )
    _validate(dataset)
    return dataset


def _validate(dataset: ZSLDataset) -> None:
    """Consistency of the loaded files; leaked splits raise SplitIntegrityError from ``validate`` itself."""
    try:
        dataset.validate()
    except ValueError as exc:
        raise DataError(str(exc), "att_splits.mat and res101.mat do not match; use both from one xlsa17.zip") from None


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
    features, index = read_res101_features(res101)
    return features, index.labels, dataset_relative_paths(info.name, index.image_files, strict=False)


def read_res101_features(res101: Path) -> tuple[np.ndarray, Res101Index]:
    """The (N, dim) float32 features and the image index of a res101.mat, checked.

    A feature count other than the number of images (labels, image_files) and
    NaN or infinite values (also values too large for float32) are a DataError
    naming the file and the first images.
    """
    data = read_mat(res101, ("features", "image_files", "labels"))
    index = _parse_index(data, res101)
    features = np.asarray(data["features"])
    num_images = len(index.labels)
    if features.ndim != 2 or num_images not in features.shape:
        raise DataError(f"{res101}: 'features' has shape {features.shape} but the file lists {num_images} images "
                        "(labels, image_files)", "the file is damaged; download xlsa17.zip again")
    if features.shape[0] == num_images and features.shape[1] != num_images:
        rows = features
    else:
        rows = features.T  # stored (2048, N) by MATLAB
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused below
        rows = np.ascontiguousarray(rows, dtype=np.float32)
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        shown = ", ".join(f"{int(i)} ({index.image_files[i]})" for i in bad[:2])
        raise DataError(f"{res101}: the features of {bad.size} images hold NaN or infinite values, e.g. images {shown}",
                        "the file is damaged; download xlsa17.zip again")
    return rows, index
