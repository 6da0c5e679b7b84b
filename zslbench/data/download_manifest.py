"""The digests of a root's downloads: ``<root>/.zslbench-downloads.json``, and the check of every file against them.

An archive whose spec carries a published sha256 is checked against it;
otherwise its digest, size and source URL are recorded here at the first
download and every later download (or kept archive) is checked against the
record. A published md5 (the field's loaders publish those) is checked too. A file that does not match is moved aside (``<name>.bad``) and never
unpacked.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zslbench.data.archive_specs import Archive
from zslbench.errors import DataError

MANIFEST_NAME = ".zslbench-downloads.json"
HASH_CHUNK_BYTES = 1 << 20


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file (without the md5 that :func:`digests_of` adds)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def digests_of(path: Path) -> tuple[str, str]:
    """The hex sha256 and md5 of a file, in one pass."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


@dataclass
class Manifest:
    """What was downloaded into one root: per file name, sha256, size, source URL, and where it was unpacked."""

    path: Path
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> "Manifest":
        """The root's manifest (empty when there is none); a malformed file is a one-line refusal."""
        path = root / MANIFEST_NAME
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data["files"]
            if not isinstance(entries, dict) or not all(isinstance(e, dict) and isinstance(e.get("sha256"), str)
                                                        for e in entries.values()):
                raise ValueError("entries without sha256")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is not a zslbench download manifest ({exc})",
                            "move it aside; the next download records the digests again") from None
        return cls(path, entries)

    def save(self) -> None:
        """Write the manifest atomically (temporary file, then rename)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"files": self.entries}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)

    def record(self, filename: str, sha256: str, size_bytes: int, url: str) -> None:
        self.entries[filename] = {"sha256": sha256, "size_bytes": size_bytes, "url": url,
                                  "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def mark_unpacked(self, filename: str, written: list[str]) -> None:
        """Record the paths (relative to the root) that unpacking ``filename`` wrote."""
        self.entries[filename]["unpacked"] = written

    def unpacked(self, filename: str) -> list[str] | None:
        """The paths unpacking ``filename`` wrote, or None when it was never unpacked here."""
        written = self.entries.get(filename, {}).get("unpacked")
        return written if isinstance(written, list) and all(isinstance(p, str) for p in written) else None


def verify(path: Path, url: str, manifest: Manifest, archive: Archive) -> str:
    """Check ``path`` (fetched from ``url``) against the digests of ``archive`` and the manifest; returns its sha256.

    Expected: the published sha256 of the archive record, else the one the
    manifest recorded, and the published md5 where the record has one. With
    no sha256 to compare, the file's is recorded. On a mismatch the file is
    renamed to ``<name>.bad`` and a :class:`DataError` names the file, both
    digests and the URL.
    """
    sha256, md5 = digests_of(path)
    recorded = manifest.entries.get(path.name)
    expected = []  # (kind, got, wanted, where the wanted digest comes from)
    if archive.sha256:
        expected.append(("sha256", sha256, archive.sha256.lower(), f"published, {archive.sha256_source or 'dataset spec'}"))
    elif recorded is not None:
        expected.append(("sha256", sha256, recorded["sha256"],
                         f"recorded in {manifest.path} from {recorded.get('url', '?')}"))
    if archive.md5:
        expected.append(("md5", md5, archive.md5.lower(), f"published, {archive.md5_source or 'dataset spec'}"))
    for kind, got, wanted, source in expected:
        if got != wanted:
            aside = path.with_name(path.name + ".bad")
            os.replace(path, aside)
            changed_upstream = " (or remove its manifest entry if the file changed upstream)" if "recorded" in source else ""
            raise DataError(f"{path.name} from {url} has {kind} {got}, expected {wanted} ({source}); "
                            f"not unpacked, kept aside as {aside}",
                            f"the server sent other bytes: run again, or try another --mirror{changed_upstream}")
    if recorded is None:
        manifest.record(path.name, sha256, path.stat().st_size, url)
        manifest.save()
    return sha256
