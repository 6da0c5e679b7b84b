"""Unpack a downloaded zip or tar archive safely into a dataset root.

Every member is checked before anything is written: an absolute path, a
``..`` component, a symbolic or hard link pointing outside the unpacked folder,
or a device/FIFO member refuses the whole archive with one line. The members
are written into a temporary folder next to the target (same file system) and
moved into place at the end, so an interrupted unpack leaves the root as it
was (the temporary folder is removed). Free space is checked first.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslbench.data import disk_space
from zslbench.errors import DataError

class BadArchive(DataError):
    """An archive that is unreadable, damaged, malicious or not the expected one: it must not be used again."""


REFETCH_HINT = "fetch it again, from another --mirror if it comes back the same"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
COPY_CHUNK_BYTES = 1 << 20


def is_archive(filename: str) -> bool:
    """Whether ``filename`` is unpacked (zip or tar); other files are moved into place as they are."""
    lower = filename.lower()
    return lower.endswith(".zip") or lower.endswith(TAR_SUFFIXES)


@dataclass(frozen=True)
class Member:
    """One archive member, with its path relative to the unpacked folder."""

    name: str
    kind: str  # file, dir, symlink, hardlink
    size_bytes: int
    link: str  # symlink: the link text; hardlink: the (relative) name of the member it links to
    source: Any  # the ZipInfo or TarInfo


def _refusal(archive: Path, member: str, why: str) -> DataError:
    return BadArchive(f"{archive.name}: member {member!r} {why}; nothing was unpacked",
                      f"the archive is damaged or was tampered with: {REFETCH_HINT}")


def _relative(archive: Path, name: str) -> str:
    """``name`` as a clean relative path, or a refusal when it is absolute or climbs with ``..``."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _refusal(archive, name, "has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise _refusal(archive, name, "leaves the target folder ('..')")
    clean = posixpath.normpath(name)
    return "" if clean == "." else clean


def _hardlink_target(archive: Path, member: Member) -> str:
    """The archive-relative name a hard link points to; refused (naming the link) when it leaves the archive."""
    try:
        return _relative(archive, member.link)
    except DataError:
        raise _refusal(archive, member.name, f"is a hard link to {member.link}, outside the target") from None


def _inside(path: str) -> bool:
    """Whether a normalised relative path stays inside its folder."""
    return not (path == ".." or path.startswith("../") or posixpath.isabs(path))


def _read_members(archive: Path, opened) -> list[Member]:
    members = []
    if isinstance(opened, zipfile.ZipFile):
        for info in opened.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                members.append(Member(info.filename, "symlink", 0, opened.read(info).decode("utf-8", "replace"), info))
            else:
                members.append(Member(info.filename, "dir" if info.is_dir() else "file", info.file_size, "", info))
        return members
    for info in opened.getmembers():
        if info.isdir():
            kind = "dir"
        elif info.isreg():
            kind = "file"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        else:
            raise _refusal(archive, info.name, "is a device, FIFO or other special file")
        members.append(Member(info.name, kind, info.size if kind == "file" else 0, info.linkname, info))
    return members


def plan_members(archive: Path, members: list[Member], member_prefix: str = "") -> list[Member]:
    """Check every member, then keep those under ``member_prefix`` with the prefix removed.

    Links are checked against the folder the kept members are unpacked into: a
    link that would point above it is refused even when it stays inside the
    archive. An archive with no member under ``member_prefix`` is refused too.
    """
    prefix = _relative(archive, member_prefix.rstrip("/")) if member_prefix else ""
    kept = []
    for member in members:
        name = _relative(archive, member.name)
        if member.kind == "symlink" and (member.link.startswith(("/", "\\")) or
                                         not _inside(posixpath.normpath(posixpath.join(posixpath.dirname(name),
                                                                                       member.link)))):
            raise _refusal(archive, member.name, f"is a symbolic link pointing outside ({member.link})")
        link = _hardlink_target(archive, member) if member.kind == "hardlink" else member.link
        if prefix:
            if name == prefix or not name.startswith(prefix + "/"):
                continue
            name = name[len(prefix) + 1:]
            if member.kind == "hardlink":
                if not link.startswith(prefix + "/"):
                    raise _refusal(archive, member.name, f"is a hard link to {member.link}, outside {member_prefix}")
                link = link[len(prefix) + 1:]
        if not name:
            continue
        if member.kind == "symlink" and not _inside(posixpath.normpath(posixpath.join(posixpath.dirname(name), link))):
            raise _refusal(archive, member.name, f"is a symbolic link pointing outside {member_prefix} ({member.link})")
        kept.append(Member(name, member.kind, member.size_bytes, link, member.source))
    if prefix and not kept:
        raise BadArchive(f"{archive.name} has nothing under {member_prefix}: it is not the expected archive",
                         f"{REFETCH_HINT}, or fetch the dataset by hand (see zslbench data check)")
    return kept


def _open(archive: Path):
    try:
        if archive.name.lower().endswith(".zip"):
            return zipfile.ZipFile(archive)
        return tarfile.open(archive, "r:*")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise BadArchive(f"{archive} is not a readable archive: {exc}", REFETCH_HINT) from None


def unpack(archive: Path, root: Path, *, member_prefix: str = "", unpack_to: str = ".") -> list[Path]:
    """Unpack ``archive`` (its members under ``member_prefix``) into ``root / unpack_to``.

    Returns the top-level paths written. Plain files (not zip/tar) are copied
    to ``root / unpack_to / <name>``.
    """
    target = root / unpack_to
    root.mkdir(parents=True, exist_ok=True)
    if not is_archive(archive.name):
        disk_space.require_free_space(root, archive.stat().st_size, f"copying {archive.name}")
        target.mkdir(parents=True, exist_ok=True)
        staged = _staging_folder(root)
        try:
            shutil.copyfile(archive, staged / archive.name)
            os.replace(staged / archive.name, target / archive.name)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return [target / archive.name]
    with _open(archive) as opened:
        try:
            members = plan_members(archive, _read_members(archive, opened), member_prefix)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
            raise BadArchive(f"{archive} is not a readable archive: {exc}", REFETCH_HINT) from None
        disk_space.require_free_space(root, sum(m.size_bytes for m in members), f"unpacking {archive.name}")
        staged = _staging_folder(root)
        try:
            _extract(archive, opened, members, staged)
            written = [target / child.name for child in staged.iterdir()] if target.exists() else [target]
            _move_into_place(staged, target)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise BadArchive(f"{archive} is damaged: {exc}", REFETCH_HINT) from None
        except OSError as exc:  # e.g. the disk filled up: the staging folder goes, the root stays as it was
            raise DataError(f"cannot unpack {archive.name} into {root}: {exc.strerror or exc}",
                            "free some space and run the command again") from None
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return written


def _staging_folder(root: Path) -> Path:
    """A fresh hidden folder in ``root`` (same file system, so moving out of it is a rename).

    mkdtemp makes it private (0700); it becomes a dataset folder when it is
    renamed into place, so it gets the usual permissions.
    """
    staged = Path(tempfile.mkdtemp(prefix=".zslbench-unpack-", dir=root))
    staged.chmod(0o755)
    return staged


def _extract(archive: Path, opened, members: list[Member], staged: Path) -> None:
    base = os.path.realpath(staged)
    for member in members:
        dest = staged / member.name
        # a path through an earlier (checked) symlink must still resolve inside the staging folder
        if os.path.commonpath([base, os.path.realpath(dest.parent)]) != base:
            raise _refusal(archive, member.name, "would be written through a link outside the target")
        if member.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.is_file():  # a repeated member replaces the earlier one, never writes through it
            dest.unlink()
        if member.kind == "symlink":
            os.symlink(member.link, dest)
        elif member.kind == "hardlink":
            source = staged / member.link
            if not source.is_file():
                raise _refusal(archive, member.name, f"is a hard link to {member.link}, which is not unpacked before it")
            shutil.copyfile(source, dest)
        else:
            reader = opened.open(member.source) if isinstance(opened, zipfile.ZipFile) else opened.extractfile(member.source)
            with reader, open(dest, "wb") as out:
                shutil.copyfileobj(reader, out, COPY_CHUNK_BYTES)


def _move_into_place(staged: Path, target: Path) -> None:
    """Move the staged tree into ``target``: renames (atomic per entry); existing folders are merged."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        return
    for child in staged.iterdir():
        dest = target / child.name
        if child.is_dir() and not child.is_symlink() and dest.is_dir() and not dest.is_symlink():
            _move_into_place(child, dest)
        elif dest.is_dir() and not dest.is_symlink():
            raise DataError(f"cannot unpack {child.name} over the folder {dest}", "move that folder aside and try again")
        else:
            os.replace(child, dest)
