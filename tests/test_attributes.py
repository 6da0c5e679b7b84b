"""Attribute names: normalisation, groups and the dataset name files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from zslbench.data.attributes import (
    attribute_groups_for,
    attribute_groups_from_names,
    normalise_attribute_name,
    placeholder_names,
    read_attribute_names,
    read_names_txt,
)

REAL_NAMES = [Path(__file__).resolve().parents[2] / "shared" / "data" / "attribute-names",
              Path("/work/shared/data/attribute-names")]


def _real(file: str) -> Path:
    for base in REAL_NAMES:
        if (base / file).is_file():
            return base / file
    pytest.skip(f"reference attribute names {file} not available")


@pytest.mark.parametrize("raw, expected", [
    ("has_bill_shape::curved_(up_or_down)", "bill shape curved up or down"),
    ("quadrapedal", "quadrupedal"),
    ("newworld", "new world"),
    ("oldworld", "old world"),
    ("flys", "flies"),
    ("toughskin", "tough skin"),
    ("has_size::large_(16_-_32_in)", "size large 16 32 in"),
    ("has_head_pattern::eyering", "head pattern eye ring"),
    ("has_bill_shape::all-purpose", "bill shape all purpose"),
    ("wood (not part of a tree)", "wood not part of a tree"),
    ("sailing/ boating", "sailing boating"),
    ("  Black ", "black"),
])
def test_normalise_attribute_name(raw, expected):
    assert normalise_attribute_name(raw) == expected


def test_groups_from_cub_prefixes():
    names = ["has_bill_shape::dagger", "has_bill_shape::cone", "has_wing_color::blue", "has_size::small"]
    assert attribute_groups_from_names(names) == [[0, 1], [2], [3]]
    assert attribute_groups_from_names(["black", "white"]) is None


@pytest.mark.parametrize("dataset, k", [("awa2", 85), ("sun", 102)])
def test_reference_groups_partition_all_attributes(dataset, k):
    groups = attribute_groups_for(dataset, None, k)
    flat = sorted(i for g in groups for i in g)
    assert flat == list(range(k))
    assert attribute_groups_for(dataset, None, k - 1) is None  # only for the real attribute count


def test_real_cub_names_give_28_groups_matching_reference_boundaries():
    raw = read_names_txt(_real("CUB.txt"))
    groups = attribute_groups_for("cub", raw, len(raw))
    assert len(raw) == 312 and len(groups) == 28
    assert groups[0] == list(range(0, 9)) and groups[-1] == list(range(308, 312))


def test_real_awa2_names_normalise_to_plain_words():
    raw = read_names_txt(_real("AWA2.txt"))
    names = [normalise_attribute_name(r) for r in raw]
    assert len(names) == 85
    assert "quadrupedal" in names and "new world" in names and "quadrapedal" not in names
    assert all(n and n == n.lower() and "_" not in n for n in names)


def test_read_names_files(tmp_path):
    (tmp_path / "predicates.txt").write_text("1\tblack\n2\twhite\n\n")
    names, path = read_attribute_names("awa2", tmp_path)
    assert names == ["black", "white"] and path.name == "predicates.txt"

    cub = tmp_path / "cub" / "CUB_200_2011" / "attributes"
    cub.mkdir(parents=True)
    (cub / "attributes.txt").write_text("1 has_bill_shape::curved_(up_or_down)\n2 has_bill_shape::dagger\n")
    assert read_attribute_names("cub", tmp_path / "cub")[0][0] == "has_bill_shape::curved_(up_or_down)"

    sun = tmp_path / "sun" / "SUNAttributeDB"
    sun.mkdir(parents=True)
    arr = np.empty((2, 1), dtype=object)  # a MATLAB cell array of strings
    arr[:, 0] = ["sailing/ boating", "driving"]
    scipy.io.savemat(sun / "attributes.mat", {"attributes": arr})
    assert read_attribute_names("sun", tmp_path / "sun")[0] == ["sailing/ boating", "driving"]
    assert read_attribute_names("sun", tmp_path / "nothing") is None


def test_placeholder_names():
    assert placeholder_names(3) == ["attribute 1", "attribute 2", "attribute 3"]
