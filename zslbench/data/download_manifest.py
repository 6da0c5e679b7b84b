"""The digests of a root's downloads: ``<root>/.zslbench-downloads.json``, and the check of every file against them.

An archive whose spec carries a published sha256 is checked against it;
otherwise its digest, size and source URL are recorded here at the first
download and every later download (or kept archive) is checked against the
record. A file that does not match is moved aside (``<name>.bad``) and never
unpacked.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zslbench.errors import DataError

MANIFEST_NAME = ".zslbench-downloads.json"
HASH_CHUNK_BYTES = 1 << 20


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


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


def verify(path: Path, url: str, manifest: Manifest, published_sha256: str | None,
           published_source: str | None) -> str:
    """Check ``path`` (fetched from ``url``) against the published or recorded digest; record it when neither exists.

    Returns the digest. On a mismatch the file is renamed to ``<name>.bad`` and
    a :class:`DataError` names the file, both digests and the URL.
    """
    digest = sha256_of(path)
    recorded = manifest.entries.get(path.name)
    if published_sha256:
        expected, source = published_sha256.lower(), f"published, {published_source or 'dataset spec'}"
    elif recorded is not None:
        expected, source = recorded["sha256"], f"recorded in {manifest.path} from {recorded.get('url', '?')}"
    else:
        manifest.record(path.name, digest, path.stat().st_size, url)
        manifest.save()
        return digest
    if digest != expected:
        aside = path.with_name(path.name + ".bad")
        os.replace(path, aside)
        raise DataError(f"{path.name} from {url} has sha256 {digest}, expected {expected} ({source}); "
                        f"not unpacked, kept aside as {aside}",
                        "the mirror served other bytes: try another --mirror, or remove the manifest entry "
                        "if the file changed upstream")
    if recorded is None:
        manifest.record(path.name, digest, path.stat().st_size, url)
        manifest.save()
    return digest
