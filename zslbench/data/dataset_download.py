"""``zslbench data download NAME``: fetch, verify and unpack the archives of a dataset's spec into its root.

For each archive of the spec that provides what was asked for (``--what``):
skip it when the manifest says it was unpacked and its folder is there;
otherwise fetch it into ``<root>/.zslbench-downloads/`` (the ``--mirror``
base URLs first, then the spec's URLs; :mod:`zslbench.data.download`), verify
its sha256 (:mod:`zslbench.data.download_manifest`), unpack it
(:mod:`zslbench.data.archives`) and delete it unless asked to keep it.
Archives that must be fetched by hand are listed with the place to put them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from zslbench.data.archive_specs import Archive, WHAT_CHOICES, describe, mirror_url, selected
from zslbench.errors import UsageError

if TYPE_CHECKING:  # imported where used: httpx and the unpacker load only when something is fetched
    from zslbench.data.archives import BadArchive
    from zslbench.data.download_manifest import Manifest

#: Where archives wait (and ``.part`` files resume) inside a dataset root.
DOWNLOADS_DIR = ".zslbench-downloads"


@dataclass
class DownloadOutcome:
    """What one ``data download`` did: file names fetched, unpacked, skipped; archives left to the user."""

    fetched: list[str] = field(default_factory=list)
    unpacked: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    by_hand: list[Archive] = field(default_factory=list)


def help_lines(specs: Sequence) -> list[str]:
    """Per dataset with archives: what is fetched automatically and what by hand (for ``--help`` and README)."""
    lines = []
    for spec in specs:
        if spec.archives:
            lines += [f"{spec.name}:", *(f"  {line}" for line in describe(spec.archives))]
    generated = [spec.name for spec in specs if not spec.needs_download]
    if generated:
        lines.append(f"{', '.join(generated)}: generated on first use, nothing to download")
    return lines


def by_hand_lines(archives: Sequence[Archive], root: Path) -> list[str]:
    """One line per archive the user fetches by hand: what, where from, and the exact place under ``root``."""
    return [f"fetch by hand: {a.provides}\n  from {a.page}\n  put it at {root}/{a.place}" for a in archives]


def download_dataset(name: str, archives: Sequence[Archive], root: Path, what: str = "all",
                     mirrors: Sequence[str] = (), *, keep_archives: bool = False, progress: bool = True,
                     echo: Callable[[str], None] = print) -> DownloadOutcome:
    """Fetch, verify and unpack ``what`` of dataset ``name`` into ``root``; see the module doc."""
    from zslbench.data import archives as unpacking
    from zslbench.data import download
    from zslbench.data.download_manifest import Manifest, verify

    if what not in WHAT_CHOICES:
        raise UsageError(f"unknown --what {what!r}", f"choose one of {', '.join(WHAT_CHOICES)}")
    bad_mirrors = [m for m in mirrors if not m.startswith(("http://", "https://"))]
    if bad_mirrors:
        raise UsageError(f"--mirror {bad_mirrors[0]!r} is not an http(s) URL", "e.g. --mirror https://host/path/")
    chosen = selected(tuple(archives), what)
    if not archives:
        raise UsageError(f"{name} has nothing to download", "it is generated or embedded: `zslbench data check "
                                                            f"{name}` says how to get it")
    outcome = DownloadOutcome(by_hand=[a for a in chosen if a.manual])
    root.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(root)
    for archive in (a for a in chosen if not a.manual):
        written = manifest.unpacked(archive.filename)
        if written and all((root / p).exists() for p in written):
            echo(f"{archive.filename}: already unpacked ({', '.join(written)})")
            outcome.already_there.append(archive.filename)
            continue
        path = root / DOWNLOADS_DIR / archive.filename
        url = manifest.entries.get(archive.filename, {}).get("url", "a previous run")
        if not path.exists():
            urls = [mirror_url(m, archive) for m in mirrors] + list(archive.urls)
            echo(f"{archive.filename}: {archive.provides}")
            fetched = download.fetch(urls, path, unpack_factor=1.0 if unpacking.is_archive(archive.filename) else 0.0,
                                     progress=progress)
            url = fetched.url
            outcome.fetched.append(archive.filename)
        first_record = archive.filename not in manifest.entries
        verify(path, url, manifest, archive)
        try:
            written = unpacking.unpack(path, root, member_prefix=archive.member_prefix, unpack_to=archive.unpack_to)
        except unpacking.BadArchive as exc:
            raise _set_aside(path, manifest, first_record, exc) from None
        manifest.mark_unpacked(archive.filename, [p.relative_to(root).as_posix() for p in written])
        manifest.save()
        outcome.unpacked.append(archive.filename)
        echo(f"{archive.filename}: unpacked into {root / archive.unpack_to}")
        if not keep_archives:
            path.unlink()
    return outcome


def _set_aside(path: Path, manifest: "Manifest", first_record: bool, exc: "BadArchive") -> "BadArchive":
    """A refused archive is moved to ``<name>.bad`` (never unpacked, not reused); a digest recorded from it is
    forgotten, so the next download is not held to it. Returns the error to raise."""
    aside = path.with_name(path.name + ".bad")
    path.replace(aside)
    if first_record:
        manifest.entries.pop(path.name, None)
        manifest.save()
    return type(exc)(f"{exc.message}; kept aside as {aside}", exc.hint)
