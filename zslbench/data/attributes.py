"""Attribute names of the real datasets, in the order of the attribute columns.

Sources (read from the user's copy of each dataset):

* AwA1 and AwA2: ``predicates.txt`` (``"1\\tblack"`` lines, 85 predicates);
* aPY: ``attribute_names.txt`` of ``attribute_data`` (one bare name a line, 64 names);
* CUB-200-2011: ``attributes.txt`` (``"1 has_bill_shape::curved_(up_or_down)"``, 312 names);
* SUN Attributes: ``attributes.mat`` (a 102 x 1 cell array ``attributes``).

:func:`normalise_attribute_name` turns a raw name into plain words suitable for
word vectors ("has_bill_shape::curved_(up_or_down)" -> "bill shape curved up or
down"), fixing the known misspellings and compounds of AwA2's predicates.
:func:`attribute_groups_for` gives the semantic attribute groups (CUB from its
``has_<part>::<value>`` prefixes; AwA2 and SUN from the grouping used by the
SVIP reference implementation).
"""

from __future__ import annotations

import re
from pathlib import Path

from zslbench.errors import DataError

#: Known misspellings and run-together compounds -> plain words (AwA2's predicates and
#: two CUB values are written without spaces; GloVe knows the separate words only).
WORD_FIXES: dict[str, str] = {
    "quadrapedal": "quadrupedal",
    "newworld": "new world",
    "oldworld": "old world",
    "flys": "flies",
    "toughskin": "tough skin",
    "longleg": "long leg",
    "longneck": "long neck",
    "chewteeth": "chew teeth",
    "meatteeth": "meat teeth",
    "buckteeth": "buck teeth",
    "strainteeth": "strain teeth",
    "nestspot": "nest spot",
    "eyeline": "eye line",  # CUB head patterns
    "eyering": "eye ring",
}

#: Attribute groups (0-based column indices) of the SVIP reference implementation
#: for datasets whose names carry no group prefix; keyed by (dataset, K).
_REFERENCE_GROUPS: dict[tuple[str, int], list[list[int]]] = {
    ("awa2", 85): [
        list(range(0, 8)), list(range(8, 14)), list(range(14, 18)),
        [*range(18, 34), 44, 45], list(range(34, 44)), list(range(46, 51)),
        list(range(51, 63)), list(range(63, 78)), list(range(78, 85)),
    ],
    ("sun", 102): [
        list(range(0, 36)), [*range(36, 74), 80, 99],
        [*range(74, 80), *range(81, 85)], [*range(85, 99), 100, 101],
    ],
}

# AwA1 has the same 85 predicates, in the same order, as AwA2.
_REFERENCE_GROUPS[("awa1", 85)] = _REFERENCE_GROUPS[("awa2", 85)]

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_attribute_name(raw: str) -> str:
    """Plain lower-case words of a raw attribute name.

    ``"has_bill_shape::curved_(up_or_down)"`` -> ``"bill shape curved up or down"``,
    ``"quadrapedal"`` -> ``"quadrupedal"``, ``"newworld"`` -> ``"new world"``.
    Underscores and punctuation become spaces; words in :data:`WORD_FIXES` are replaced.
    """
    text = raw.strip().lower()
    if text.startswith("has_"):
        text = text[len("has_"):]
    words = _NON_WORD.sub(" ", text).split()
    return " ".join(WORD_FIXES.get(w, w) for w in words)


def attribute_groups_from_names(raw_names: list[str]) -> list[list[int]] | None:
    """Groups of column indices sharing a ``has_<part>::`` prefix (CUB); None without prefixes."""
    if not raw_names or not all("::" in n for n in raw_names):
        return None
    prefixes = [n.split("::", 1)[0].strip() for n in raw_names]
    order: dict[str, list[int]] = {}
    for index, prefix in enumerate(prefixes):
        order.setdefault(prefix, []).append(index)
    return list(order.values())


def attribute_groups_for(dataset: str, raw_names: list[str] | None, num_attributes: int) -> list[list[int]] | None:
    """Attribute groups of a dataset: from name prefixes when present, else the reference table."""
    if raw_names is not None:
        groups = attribute_groups_from_names(raw_names)
        if groups is not None:
            return groups
    table = _REFERENCE_GROUPS.get((dataset, num_attributes))
    return [list(g) for g in table] if table is not None else None


def _strip_index(line: str) -> str:
    """``"1\\tblack"`` / ``"1 has_x::y"`` -> the name; a bare name is returned as is."""
    parts = line.strip().split(maxsplit=1)
    if len(parts) == 2 and parts[0].isdigit():
        return parts[1].strip()
    return line.strip()


def read_names_txt(path: Path) -> list[str]:
    """Raw names from a text file of ``"<index> <name>"`` (or bare ``"<name>"``) lines."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read attribute names file {path}: {exc}") from None
    return [_strip_index(line) for line in lines if line.strip()]


def read_names_mat(path: Path, key: str = "attributes") -> list[str]:
    """Raw names from a cell array of strings in a .mat file (SUN's ``attributes.mat``)."""
    from zslbench.data.matfiles import cellstr, read_mat

    data = read_mat(Path(path), [key])
    return cellstr(data[key])


#: Candidate locations (relative to the dataset root) of each dataset's names file, first hit wins.
NAME_FILES: dict[str, tuple[str, ...]] = {
    "awa1": ("predicates.txt", "Animals_with_Attributes/predicates.txt"),
    "awa2": ("predicates.txt", "Animals_with_Attributes2/predicates.txt"),
    "apy": ("attribute_names.txt", "attribute_data/attribute_names.txt"),
    "cub": ("attributes.txt", "CUB_200_2011/attributes.txt", "attributes/attributes.txt",
            "CUB_200_2011/attributes/attributes.txt"),
    "sun": ("attributes.mat", "SUNAttributeDB/attributes.mat"),
}


def find_attribute_names_file(dataset: str, root: Path) -> Path | None:
    """The first existing names file of ``dataset`` under ``root``, or None."""
    for rel in NAME_FILES.get(dataset, ()):
        candidate = Path(root) / rel
        if candidate.is_file():
            return candidate
    return None


def read_attribute_names(dataset: str, root: Path) -> tuple[list[str], Path] | None:
    """Raw attribute names of ``dataset`` found under ``root`` and the file they came from, or None."""
    path = find_attribute_names_file(dataset, root)
    if path is None:
        return None
    names = read_names_mat(path) if path.suffix == ".mat" else read_names_txt(path)
    return names, path


def placeholder_names(num_attributes: int) -> list[str]:
    """Stand-in names ``"attribute 1"``... used when a dataset copy lacks its names file."""
    return [f"attribute {i + 1}" for i in range(num_attributes)]
