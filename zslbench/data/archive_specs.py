"""What ``zslbench data download`` fetches for a dataset: one :class:`Archive` record per file.

The records are data on the dataset tables (``xlsa17.DATASETS``, the
multi-label modules) and travel on :class:`zslbench.registry.DatasetSpec`
(``archives``). They import nothing heavy: ``data check`` and ``--help`` read
them. The fetching itself is :mod:`zslbench.data.dataset_download`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import quote

#: The parts of a dataset ``--what`` can ask for; ``all`` is every one.
WHAT_CHOICES = ("splits", "features", "images", "all")


@dataclass(frozen=True)
class Archive:
    """One file a dataset needs, where to get it and where its content goes.

    ``member_prefix`` selects the members under that folder of the archive
    (stripped) and ``unpack_to`` is the folder, relative to the dataset root,
    that receives them: ``xlsa17.zip``'s ``xlsa17/data/AWA2/`` lands in
    ``<root>/xlsa17/data/AWA2/`` and the other datasets' folders are not
    written. ``sha256`` is None where no published digest is known for
    certain: the digest is then recorded in the root's manifest at the first
    download and checked on every later one; a published ``md5`` (with its
    source) is checked too. ``manual`` archives (a licence
    page, a form, not distributed) are never fetched: the command names
    ``page`` and the exact place to put the file or folder (``place``).
    """

    filename: str  # the name the file is stored under (and appended to --mirror URLs)
    what: tuple[str, ...]  # which of splits / features / images it provides
    provides: str  # one line for users: what is in it
    urls: tuple[str, ...] = ()  # tried in order, after any --mirror
    page: str = ""  # the page that describes it (licence, form, homepage)
    size_bytes: int | None = None  # published size, where known
    sha256: str | None = None
    sha256_source: str | None = None  # where the published digest comes from
    # An md5 published by the field's loaders (torchvision, ...), checked as well where no sha256 is published.
    md5: str | None = None
    md5_source: str | None = None
    member_prefix: str = ""
    unpack_to: str = "."
    manual: bool = False
    place: str = ""  # manual archives: where the user puts what they fetched (relative to <root>)

    @property
    def address(self) -> str:
        """The one address ``data check`` prints: the first URL, else the page."""
        return self.urls[0] if self.urls else self.page


def selected(archives: tuple[Archive, ...], what: str) -> tuple[Archive, ...]:
    """The archives that provide ``what`` (one of :data:`WHAT_CHOICES`), in table order."""
    return tuple(a for a in archives if what == "all" or what in a.what)


def mirror_url(mirror: str, archive: Archive) -> str:
    """The URL of ``archive`` on a mirror: the mirror's base URL and the archive's file name."""
    return f"{mirror.rstrip('/')}/{quote(archive.filename)}"


def download_command(name: str, root: str | None = None, what: str = "all") -> str:
    """The ``zslbench data download`` command line that fetches ``what`` of ``name`` into ``root``."""
    parts = ["zslbench data download", name]
    if root is not None:
        parts.append(f"--root {shlex.quote(root)}")
    if what != "all":
        parts.append(f"--what {what}")
    return " ".join(parts)


def describe(archives: tuple[Archive, ...]) -> list[str]:
    """One line per archive for ``--help`` and README: fetched automatically, or by hand and where to put it."""
    lines = []
    for a in archives:
        kinds = "/".join(a.what)
        if a.manual:
            lines.append(f"by hand ({kinds}): {a.provides}; get it from {a.page} and put it at <root>/{a.place}")
        else:
            lines.append(f"automatic ({kinds}): {a.filename}, {a.provides}")
    return lines
