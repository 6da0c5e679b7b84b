"""``zslbench data check NAME``: what a copy of an xlsa17 dataset has, lacks, and how it counts.

:func:`check_dataset` never raises for a broken copy: every problem becomes a
``missing`` entry (required for any use), a ``missing_for_images`` entry
(required only by image methods: the image folder and files), a ``damaged``
entry (a file that is there but unreadable: an image that does not decode) or
a note (optional, or unusual), so the user sees everything at once. A copy
with the split files but no images is usable for feature methods on the
published res101 features; ``ok`` means usable for at least one kind of
method and nothing damaged.

The checks are the loader's own (:mod:`zslbench.data.xlsa17`,
:mod:`zslbench.data.split_check`, :mod:`zslbench.data.image_files`), so what
``data check`` passes a run loads: finite ``att``/``original_att`` and res101
features, as many features as images, integral split indices and labels,
labels that are the classes of the class lists (not shifted by one), disjoint
splits by index and by image file, every seen and unseen class in its test
split, and every listed image decodable (``decode_images=False``: only a look at
each file's first and last bytes, see ``--fast``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from zslbench import paths
from zslbench.data import xlsa17
from zslbench.data.archive_specs import download_command
from zslbench.data.image_files import unreadable_images
from zslbench.data.split_check import check_class_presence, check_split_integrity
from zslbench.data.attributes import find_attribute_names_file, read_attribute_names
from zslbench.errors import DataError

#: How many image paths of res101.mat to report as examples of missing files.
MISSING_SHOWN = 5


@dataclass
class CheckReport:
    """The result of checking one dataset copy; ``ok`` means ``load`` will find what it needs."""

    dataset: str
    root: str
    ok: bool = False
    usable_for_features: bool = False
    usable_for_images: bool = False
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    missing_for_images: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    attribute_names_found: bool = False
    downloads: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def status(self) -> str:
        """``OK`` (every use), ``OK for feature methods only``, or ``INCOMPLETE``."""
        if self.usable_for_images:
            return "OK"
        return "OK for feature methods only" if self.usable_for_features else "INCOMPLETE"

    def render(self) -> str:
        """Plain-text report, one fact per line."""
        lines = report_head_lines(self.dataset, self.root, self.ok, self.present, self.missing, self.counts,
                                  status=self.status())
        lines.append(f"usable for feature methods (res101.mat): {'yes' if self.usable_for_features else 'no'}")
        lines.append(f"usable for image methods (images): {'yes' if self.usable_for_images else 'no'}")
        lines += section_lines("missing for image methods", self.missing_for_images, "- ")
        lines += section_lines("damaged", self.damaged, "- ")
        lines.append(f"attribute names: {'found' if self.attribute_names_found else 'not found'}")
        lines += section_lines("notes", self.notes, "* ")
        if not self.usable_for_images:
            lines.append("downloads:")
            lines.extend(f"  {url}" for url in self.downloads)
            images_there = any(p.startswith("image folder") for p in self.present) and not self.missing_for_images
            what = "images" if self.usable_for_features else ("splits" if images_there else "all")
            lines.append(f"fetch what is missing: {download_command(self.dataset, self.root, what)}")
            lines += titled_block("expected layout", xlsa17.expected_layout(self.dataset))
        return "\n".join(lines)


# --------------------------------------------------------------------------- report text (shared with multi-label checks)


def section_lines(title: str, items: Iterable[str], bullet: str = "") -> list[str]:
    """``title:`` then one indented ``bullet item`` line per item; nothing when there are no items."""
    items = list(items)
    return [f"{title}:", *(f"  {bullet}{item}" for item in items)] if items else []


def titled_block(title: str, text: str) -> list[str]:
    """``title:`` then every line of ``text``, indented (always shown, even when ``text`` is empty)."""
    return [f"{title}:", *(f"  {line}" for line in text.splitlines())]


def report_head_lines(dataset: str, root: str, ok: bool, present: list[str], missing: list[str],
                      counts: dict, status: str | None = None) -> list[str]:
    """The opening of a ``data check`` report: dataset, root, status, what is present and missing, counts.

    ``status`` replaces the plain OK / INCOMPLETE derived from ``ok``.
    """
    lines = [f"dataset: {dataset}", f"root: {root}", f"status: {status or ('OK' if ok else 'INCOMPLETE')}"]
    lines += section_lines("present", present, "+ ")
    lines += section_lines("missing", missing, "- ")
    lines += section_lines("counts", (f"{k}: {v}" for k, v in counts.items()))
    return lines


def _check_splits(report: CheckReport, name: str, split_dir: Path) -> xlsa17.AttSplits | None:
    info = xlsa17.dataset_info(name)
    try:
        splits = xlsa17.read_att_splits(split_dir / "att_splits.mat", require_class_names=info.has_class_names)
    except DataError as exc:
        report.missing.append(f"a readable att_splits.mat: {exc.message}")
        return None
    try:
        xlsa17.check_dataset_shape(name, splits)
    except DataError as exc:
        report.missing.append(f"the att_splits.mat of {name}: {exc.message}; {exc.hint}")
    report.present.append(f"att_splits.mat: {splits.path}")
    if splits.class_names_source != "allclasses_names":
        report.notes.append(f"att_splits.mat has no allclasses_names (as {name}'s); class names: "
                            f"{splits.class_names_source}")
    if info.has_original_att and splits.original_att is None:
        report.notes.append("att_splits.mat has no original_att: only data.attributes=\"att\" is available")
    report.counts.update(
        classes=splits.num_classes,
        attributes=splits.num_attributes,
        trainval=int(len(splits.trainval_loc)),
        test_seen=int(len(splits.test_seen_loc)),
        test_unseen=int(len(splits.test_unseen_loc)),
    )
    if splits.train_loc is not None:
        overlap = int(np.isin(splits.train_loc, splits.test_seen_loc).sum())
        if overlap:
            report.notes.append(f"train_loc shares {overlap} images with test_seen_loc (as in the original files): "
                                "zslbench uses train_loc/val_loc for their class lists only")
    else:
        report.notes.append("att_splits.mat has no train_loc/val_loc (a re-saved variant); "
                            "GBU train/validation classes come from trainclasses1.txt/valclasses1.txt if present")
    seen = splits.class_ids(splits.seen_class_names)
    unseen = splits.class_ids(splits.unseen_class_names)
    if seen is not None and unseen is not None:
        report.counts.update(seen_classes=int(len(seen)), unseen_classes=int(len(unseen)))
    return splits


def _check_res101(report: CheckReport, name: str, split_dir: Path, splits: xlsa17.AttSplits | None) -> np.ndarray | None:
    res101 = split_dir / "res101.mat"
    if not res101.is_file():
        report.missing.append(f"res101.mat (expected next to att_splits.mat in {split_dir})")
        return None
    try:
        index = xlsa17.read_res101_index(res101)
    except DataError as exc:
        report.missing.append(f"a readable res101.mat: {exc.message}")
        return None
    report.present.append(f"res101.mat: {res101}")
    try:
        xlsa17.read_res101_features(res101)
    except DataError as exc:
        report.missing.append(f"sound res101.mat features: {exc.message}")
    try:
        rel = xlsa17.dataset_relative_paths(name, index.image_files, strict=True)
    except DataError as exc:  # feature methods only use the paths as row identities
        report.missing_for_images.append(f"image paths that map onto the image folder: {exc.message}")
        rel = None
    report.counts["images_listed"] = int(len(index.labels))
    if splits is None:
        return rel
    try:
        xlsa17.check_label_range(index, splits, res101)
    except DataError as exc:
        report.missing.append(f"res101.mat labels within the classes of att_splits.mat: {exc.message}")
        return rel
    files = rel if rel is not None else xlsa17.after_common_prefix(index.image_files)
    if xlsa17.dataset_info(name).rows_are_objects:
        shared = len(files) - len(np.unique(files))
        if shared:
            report.notes.append(f"{shared} rows of res101.mat are further objects of an image file listed before "
                                f"(as in {name}'s original split): splits are checked by row, not by file")
        files = None
    _check_leakage(report, name, splits, index.labels, res101, files)
    return rel


def _check_leakage(report: CheckReport, name: str, splits: xlsa17.AttSplits, labels: np.ndarray, res101: Path,
                   files: np.ndarray | None) -> None:
    """The split files themselves: disjoint image splits (by index and by file), no unseen class in trainval,
    disjoint GBU classes, labels that are the listed classes, every class in its test split."""
    locs = {"trainval": splits.trainval_loc, "test_seen": splits.test_seen_loc, "test_unseen": splits.test_unseen_loc}
    in_range = all(loc.size == 0 or (loc.min() >= 0 and loc.max() < len(labels)) for loc in locs.values())
    seen = unseen = train = val = None
    try:
        if in_range:
            train, val, _ = xlsa17.train_val_classes(splits, labels)
            seen, unseen = xlsa17.split_classes(splits, labels, res101)
            report.counts.update(seen_classes=int(len(seen)), unseen_classes=int(len(unseen)))
    except DataError as exc:
        report.missing.append(f"labels that match the class lists: {exc.message}")
        return
    try:
        check_split_integrity(name, locs, len(labels), labels if in_range else None, seen, unseen, train, val, files)
    except DataError as exc:
        report.missing.append(f"disjoint splits: {exc.message}")
        return
    try:
        if in_range:
            check_class_presence(name, labels, locs, seen, unseen, splits.class_names)
    except DataError as exc:
        report.missing.append(f"every class in its splits: {exc.message}")


def _check_images(report: CheckReport, name: str, root: Path, rel_paths: np.ndarray | None, decode: bool) -> None:
    image_dir = xlsa17.find_image_dir(name, root)
    if image_dir is None:
        candidates = " or ".join(f"{root / d}" for d in xlsa17.dataset_info(name).image_dirs)
        report.missing_for_images.append(f"image folder ({candidates})")
        return
    report.present.append(f"image folder: {image_dir}")
    if rel_paths is None:
        report.notes.append("image files not compared with the image list (res101.mat is missing)")
        return
    exists = xlsa17.existing_files_mask(image_dir, rel_paths)
    report.counts["images_found"] = int(exists.sum())
    if not exists.all():
        shown = ", ".join(str(image_dir / p) for p in rel_paths[~exists][:MISSING_SHOWN])
        report.missing_for_images.append(f"{int((~exists).sum())} of {len(rel_paths)} images listed in res101.mat, "
                                         f"e.g. {shown} (or set data.skip_bad_images=true)")
    present = [image_dir / p for p in rel_paths[exists].tolist()]
    broken = unreadable_images(present, decode_all=decode)
    report.counts["images_decoded" if decode else "images_looked_at"] = len(present)
    if broken:
        first = min(broken)
        report.damaged.append(f"{len(broken)} of {len(present)} images do not decode, e.g. {present[first]} "
                              f"({broken[first]}); replace them, or set data.skip_bad_images=true")


def _check_attribute_names(report: CheckReport, name: str, root: Path, splits: xlsa17.AttSplits | None) -> None:
    if xlsa17.dataset_info(name).attribute_names_file is None:
        report.notes.append(f"{name}'s class embeddings are {xlsa17.dataset_info(name).semantic_kind}: "
                            "no names (semantic text encoders do not apply)")
        return
    path = find_attribute_names_file(name, root)
    if path is None:
        report.notes.append("attribute names file not found: attributes get placeholder names and semantic "
                            "text encoders (SVIP's W2P) refuse them")
        return
    try:
        found = read_attribute_names(name, root)
    except DataError as exc:
        report.notes.append(f"attribute names file unreadable: {exc.message}")
        return
    names = found[0] if found else []
    if splits is not None and len(names) != splits.num_attributes:
        report.missing.append(f"attribute names matching the {splits.num_attributes} attributes ({path} lists {len(names)})")
        return
    report.attribute_names_found = True
    report.present.append(f"attribute names: {path} ({len(names)})")


def _compare_standard(report: CheckReport, name: str) -> None:
    std = xlsa17.dataset_info(name).standard
    expected = {"seen_classes": std.seen_classes, "unseen_classes": std.unseen_classes, "trainval": std.trainval,
                "test_seen": std.test_seen, "test_unseen": std.test_unseen}
    differ = {k: (report.counts[k], v) for k, v in expected.items() if k in report.counts and report.counts[k] != v}
    if differ:
        report.notes.append("counts differ from the standard Proposed Split: "
                            + ", ".join(f"{k} {got} (standard {want})" for k, (got, want) in differ.items()))
    elif all(k in report.counts for k in expected):
        report.notes.append("class and image counts match the standard Proposed Split")


def check_dataset(name: str, root: str | Path | None = None, decode_images: bool = True) -> CheckReport:
    """Inspect the copy of ``name`` (an xlsa17 dataset) under ``root`` (default: the configured data root).

    ``decode_images=False`` looks at each image file's first and last bytes
    instead of decoding it (the check a run makes; seconds instead of minutes).
    """
    info = xlsa17.dataset_info(name)
    root_path = paths.data_root(info.name, str(root) if root is not None else None)
    report = CheckReport(dataset=info.name, root=str(root_path), downloads=list(info.downloads))
    if not root_path.is_dir():
        report.missing.append(f"dataset root {root_path}")
        return report
    split_dir = xlsa17.find_split_dir(info.name, root_path)
    splits = None
    rel_paths = None
    if split_dir is None:
        report.missing.append("att_splits.mat (searched " + ", ".join(
            str(root_path / d) for d in xlsa17.split_dir_candidates(info.name)) + ")")
    else:
        splits = _check_splits(report, info.name, split_dir)
        rel_paths = _check_res101(report, info.name, split_dir, splits)
    _check_images(report, info.name, root_path, rel_paths, decode_images)
    _check_attribute_names(report, info.name, root_path, splits)
    _compare_standard(report, info.name)
    report.usable_for_features = not report.missing
    report.usable_for_images = report.usable_for_features and not report.missing_for_images and not report.damaged
    report.ok = report.usable_for_features and not report.damaged
    return report
