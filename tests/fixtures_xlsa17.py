"""Miniature copies of the six xlsa17 datasets in the exact schema, for loader tests.

``build_xlsa17_layout(root, "awa2")`` writes att_splits.mat and res101.mat
(cell arrays of strings, 1-based uint16 locations, (K, C) attributes, image
paths with the authors' absolute prefixes), the class lists, an attribute
names file and tiny JPEGs, and returns what a test needs to compare against.

"Miniature" means few images: the class table has the dataset's real class
count and attribute dimension (the loaders refuse anything else), but only the
first ``n_classes`` classes have images. FLO's file has no allclasses_names
and no original_att, as the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

#: Per dataset: class names, raw attribute names, foreign image prefix, image folder, relative path pattern.
_SPECS = {
    "awa2": dict(
        classes=["antelope", "grizzly+bear", "killer+whale", "beaver", "dalmatian", "persian+cat", "horse", "sheep"],
        attributes=["black", "white", "quadrapedal", "newworld", "oldworld", "toughskin", "flys"],
        prefix="/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/",
        image_dir="JPEGImages",
        folder="AWA2",
    ),
    "cub": dict(
        classes=["002.Laysan_Albatross", "001.Black_footed_Albatross", "003.Sooty_Albatross", "005.Crested_Auklet",
                 "004.Groove_billed_Ani", "006.Least_Auklet", "007.Parakeet_Auklet", "008.Rhinoceros_Auklet"],
        attributes=["has_bill_shape::curved_(up_or_down)", "has_bill_shape::dagger", "has_wing_color::blue",
                    "has_wing_color::brown", "has_wing_color::iridescent", "has_size::large_(16_-_32_in)",
                    "has_head_pattern::eyering"],
        prefix="/BS/Deep_Fragments/work/MSc/CUB_200_2011/CUB_200_2011/images/",
        image_dir="CUB_200_2011/images",
        folder="CUB",
    ),
    "sun": dict(
        classes=["abbey", "airport_terminal", "alley", "amphitheater", "bedroom", "beach", "canyon", "desert_sand"],
        attributes=["sailing/ boating", "driving", "wood (not part of a tree)", "man-made", "direct sun/sunny",
                    "vinyl/ linoleum", "far-away horizon"],
        prefix="/BS/Deep_Fragments/work/MSc/data/SUN/images/",
        image_dir="images",
        folder="SUN",
    ),
    "awa1": dict(
        classes=["antelope", "grizzly+bear", "killer+whale", "beaver", "dalmatian", "persian+cat", "horse", "sheep"],
        attributes=["black", "white", "quadrapedal", "newworld", "oldworld", "toughskin", "flys"],
        prefix="/BS/xian/work/data/Animals_with_Attributes//JPEGImages/",
        image_dir="JPEGImages",
        folder="AWA1",
    ),
    "apy": dict(
        classes=["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "donkey", "goat"],
        attributes=["2D Boxy", "3D Boxy", "Round", "Vert Cyl", "Horiz Cyl", "Occluded", "Tail"],
        prefix="/BS/Deep_Fragments/work/MSc/data/APY/images_att/",  # two source folders below it
        image_dir="images",
        folder="APY",
    ),
    "flo": dict(
        classes=[f"class {i + 1}" for i in range(8)],  # FLO's file has no names: the loader's placeholders
        attributes=[],
        prefix="/BS/Deep_Fragments/work/MSc/data/FLO/jpg/",
        image_dir="jpg",
        folder="FLO",
    ),
}

#: The real class count and attribute dimension of each dataset (what the loaders check).
FULL_SHAPE = {"awa1": (50, 85), "awa2": (50, 85), "apy": (32, 64), "cub": (200, 312), "sun": (717, 102),
              "flo": (102, 1024)}


@dataclass
class MiniLayout:
    """What was written, for assertions. Locations and labels are 0-based."""

    root: Path
    name: str
    split_dir: Path
    image_dir: Path
    class_names: list[str]
    attribute_names_raw: list[str]
    att: np.ndarray  # (C, K) as the loader should return it
    original_att: np.ndarray  # (C, K)
    image_files: list[str]  # foreign absolute paths, as in res101.mat
    rel_paths: list[str]
    labels: np.ndarray
    features: np.ndarray  # (N, 2048)
    seen: np.ndarray
    unseen: np.ndarray
    train_classes: np.ndarray
    val_classes: np.ndarray
    trainval_loc: np.ndarray
    test_seen_loc: np.ndarray
    test_unseen_loc: np.ndarray

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.rel_paths[index]


def _rel_path(name: str, class_name: str, k: int) -> str:
    if name in ("awa1", "awa2"):
        return f"{class_name}/{class_name}_{10001 + k}.jpg"
    if name == "cub":
        return f"{class_name}/{class_name.split('.', 1)[1]}_{k:04d}.jpg"
    if name == "apy":  # aPascal images in VOC2008, aYahoo images in their own folder
        return f"VOC2008/JPEGImages/2008_{class_name}_{k:03d}.jpg" if k % 2 else f"ayahoo_test_images/{class_name}_{k}.jpg"
    if name == "flo":
        return f"image_{class_name.split()[-1]}{k:04d}.jpg"
    return f"{class_name[0]}/{class_name}/sun_{class_name[:3]}{k:04d}.jpg"


def _padded(names: list[str], total: int, stem: str) -> list[str]:
    """``names`` followed by generated ones up to ``total``."""
    return list(names[:total]) + [f"{stem}{i + 1}" for i in range(len(names), total)]


def cell(strings: list[str]) -> np.ndarray:
    """An (n, 1) object array: scipy.io.savemat writes it as a MATLAB cell array of strings."""
    out = np.empty((len(strings), 1), dtype=object)
    out[:, 0] = strings
    return out


def write_jpeg(path: Path, height: int = 10, width: int = 12, seed: int = 0) -> None:
    """A small random-colour JPEG (written with Pillow, which torchvision depends on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def build_xlsa17_layout(root: str | Path, name: str = "awa2", *, with_train_val_loc: bool = True,
                        with_class_lists: bool = True, with_attribute_names: bool = True, with_images: bool = True,
                        with_res101: bool = True, split_subdir: str | None = None, image_dir: str | None = None,
                        n_classes: int = 6, n_unseen: int = 2, images_per_class: int = 4, seed: int = 0,
                        shape: tuple[int, int] | None = None) -> MiniLayout:
    """Write a miniature copy of ``name`` under ``root`` (default layout: <root>/xlsa17/data/<NAME>/).

    ``shape`` (classes, attributes) overrides the dataset's real one (to build a wrong file).
    """
    spec = _SPECS[name]
    root = Path(root)
    rng = np.random.default_rng(seed)
    total_classes, n_att = shape or FULL_SHAPE[name]
    stem = "class_" if name != "flo" else "class "
    all_classes = _padded(spec["classes"], total_classes, stem) if name != "flo" else [
        f"class {i + 1}" for i in range(total_classes)]
    classes = all_classes[:n_classes]
    attribute_stem = "has_extra_part_" if name == "cub" else "attribute_"
    raw_attributes = [a if name != "cub" or i < len(spec["attributes"]) else f"{a}::value"
                      for i, a in enumerate(_padded(spec["attributes"], n_att, attribute_stem))]
    split_dir = root / (split_subdir if split_subdir is not None else f"xlsa17/data/{spec['folder']}")
    split_dir.mkdir(parents=True, exist_ok=True)
    img_dir = root / (image_dir or spec["image_dir"])

    # Images in a shuffled row order, as in res101.mat (not grouped by class).
    labels_grouped = np.repeat(np.arange(n_classes), images_per_class)
    within = np.tile(np.arange(images_per_class), n_classes)
    order = rng.permutation(len(labels_grouped))
    labels, within = labels_grouped[order], within[order]
    rel_paths = [_rel_path(name, classes[c], int(k)) for c, k in zip(labels.tolist(), within.tolist())]
    image_files = [spec["prefix"] + p for p in rel_paths]

    unseen = np.arange(n_classes - n_unseen, n_classes)
    seen = np.arange(n_classes - n_unseen)
    n_val = max(1, len(seen) // 3)
    val_classes, train_classes = seen[-n_val:], seen[:-n_val]
    is_seen = np.isin(labels, seen)
    test_seen_mask = is_seen & (within == images_per_class - 1)  # last image of each seen class
    trainval_loc = np.flatnonzero(is_seen & ~test_seen_mask)
    test_seen_loc = np.flatnonzero(test_seen_mask)
    test_unseen_loc = np.flatnonzero(~is_seen)
    # Like the originals, train_loc overlaps test_seen_loc (the pitfall the loader must not fall into).
    train_loc = np.flatnonzero(np.isin(labels, train_classes))
    val_loc = np.flatnonzero(np.isin(labels, val_classes))

    original = rng.uniform(0, 100, size=(n_att, total_classes))
    att = original / np.linalg.norm(original, axis=0, keepdims=True)

    def one_based(locs: np.ndarray) -> np.ndarray:
        return (locs + 1).astype(np.uint16).reshape(-1, 1)

    splits = {
        "att": att, "trainval_loc": one_based(trainval_loc), "test_seen_loc": one_based(test_seen_loc),
        "test_unseen_loc": one_based(test_unseen_loc),
    }
    if name != "flo":  # FLO's att_splits.mat has neither
        splits.update(allclasses_names=cell(all_classes), original_att=original)
    if with_train_val_loc:
        splits.update(train_loc=one_based(train_loc), val_loc=one_based(val_loc))
    scipy.io.savemat(split_dir / "att_splits.mat", splits)

    features = rng.standard_normal((len(labels), 2048)).astype(np.float32)
    if with_res101:
        scipy.io.savemat(split_dir / "res101.mat", {
            "features": features.T, "image_files": cell(image_files),
            "labels": (labels + 1).astype(np.float64).reshape(-1, 1),
        })
    if with_class_lists:
        for file, ids in (("trainvalclasses.txt", seen), ("testclasses.txt", unseen),
                          ("trainclasses1.txt", train_classes), ("valclasses1.txt", val_classes)):
            (split_dir / file).write_text("\n".join(classes[i] for i in ids) + "\n")
    if with_attribute_names and name != "flo":
        write_attribute_names(root, name, raw_attributes)
    if with_images:
        for i, rel in enumerate(rel_paths):
            write_jpeg(img_dir / rel, seed=i)

    return MiniLayout(
        root=root, name=name, split_dir=split_dir, image_dir=img_dir, class_names=all_classes,
        attribute_names_raw=list(raw_attributes), att=att.T, original_att=original.T, image_files=image_files,
        rel_paths=rel_paths, labels=labels, features=features, seen=seen, unseen=unseen,
        train_classes=train_classes, val_classes=val_classes, trainval_loc=trainval_loc,
        test_seen_loc=test_seen_loc, test_unseen_loc=test_unseen_loc,
    )


def write_attribute_names(root: Path, name: str, raw: list[str]) -> Path:
    """The dataset's own names file: predicates.txt (AwA1/2), attributes.txt (CUB), attribute_names.txt (aPY),
    attributes.mat (SUN)."""
    if name in ("awa1", "awa2"):
        path = root / "predicates.txt"
        path.write_text("".join(f"{i + 1}\t{n}\n" for i, n in enumerate(raw)))
    elif name == "cub":
        path = root / "attributes.txt"
        path.write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(raw)))
    elif name == "apy":
        path = root / "attribute_data" / "attribute_names.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{n}\n" for n in raw))
    else:
        path = root / "SUNAttributeDB" / "attributes.mat"
        path.parent.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(path, {"attributes": cell(raw)})
    return path
