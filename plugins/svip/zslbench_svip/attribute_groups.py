"""Semantic attribute groups of CUB, AwA2 and SUN, as used by SVIP's public code.

Group boundaries (0-based attribute column indices) are those of the
authors' repository (uqzhichen/SVIP), collected in
/work/shared/reference/svip-method.md. They feed the optional
attribute-group decorrelation loss (``decorrelation_weight``), which the
paper does not describe but the reference implementation uses.
"""

from __future__ import annotations


def _span(first: int, last: int) -> list[int]:
    """Inclusive range of attribute indices."""
    return list(range(first, last + 1))


def _cub_groups() -> list[list[int]]:
    bounds = [(0, 8), (9, 23), (24, 38), (39, 53), (54, 57), (58, 72), (73, 78), (79, 93), (94, 104),
              (105, 119), (120, 134), (135, 148), (149, 151), (152, 166), (167, 181), (182, 196),
              (197, 211), (212, 216), (217, 221), (222, 235), (236, 239), (240, 243), (244, 247),
              (248, 262), (263, 277), (278, 292), (293, 307), (308, 311)]
    return [_span(a, b) for a, b in bounds]


def _awa2_groups() -> list[list[int]]:
    return [_span(0, 7), _span(8, 13), _span(14, 17), _span(18, 33) + [44, 45], _span(34, 43),
            _span(46, 50), _span(51, 62), _span(63, 77), _span(78, 84)]


def _sun_groups() -> list[list[int]]:
    return [_span(0, 35), _span(36, 73) + [80, 99], _span(74, 79) + _span(81, 84), _span(85, 98) + [100, 101]]


#: dataset name -> (number of attributes, groups); read through :func:`reference_attribute_groups`.
_REFERENCE_GROUPS = {"cub": (312, _cub_groups), "awa2": (85, _awa2_groups), "sun": (102, _sun_groups)}


def reference_attribute_groups(dataset_name: str, num_attributes: int) -> list[list[int]] | None:
    """The reference code's attribute groups for ``dataset_name`` (cub, awa2, sun), else None.

    Returns None as well when the dataset's attribute count differs from the
    one the groups were written for (a custom attribute set under the same name).
    """
    entry = _REFERENCE_GROUPS.get(dataset_name.lower())
    if entry is None or entry[0] != num_attributes:
        return None
    return entry[1]()
