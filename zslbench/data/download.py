"""Fetch one file over HTTP(S) with httpx: resumable, retried with back-off, mirrors in order, one progress bar.

The bytes go to ``<dest>.part``; a later call continues it with an HTTP Range
request (a server that ignores the range sends the whole file, which then
replaces the part). Connection errors, timeouts, truncated bodies and the
transient statuses (408, 425, 429, 5xx) are retried with exponential back-off;
404 and other client errors move on to the next URL at once. Proxies come from
the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``: httpx's
``trust_env``). Free disk space is checked once the size is known and before
the first byte is written.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import httpx

from zslbench.data import disk_space
from zslbench.errors import DataError

#: Statuses worth asking again for; any other error status moves on to the next URL.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often one URL is tried and how long to wait between tries."""

    attempts: int = 5
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 60.0

    def backoff_seconds(self, failed_attempts: int) -> float:
        return min(self.max_backoff_seconds, self.first_backoff_seconds * 2 ** (failed_attempts - 1))


RETRY_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Fetched:
    """A finished download: where it is and the URL that sent its last bytes."""

    path: Path
    url: str
    size_bytes: int
    resumed_from_bytes: int


class _TryAgain(Exception):
    """A transient failure of one attempt."""


class _NextURL(Exception):
    """This URL will not serve the file (404, 403, ...), or kept failing."""


def part_path(dest: Path) -> Path:
    """Where the unfinished bytes of ``dest`` are kept between runs."""
    return dest.with_name(dest.name + ".part")


def fetch(urls: Sequence[str], dest: Path, *, unpack_factor: float = 0.0, policy: RetryPolicy | None = None,
          progress: bool = True, sleep: Callable[[float], None] = time.sleep) -> Fetched:
    """Download ``dest`` from the first of ``urls`` that serves it.

    ``unpack_factor`` reserves that many times the file's size on top of the
    download when checking free space (an archive that is unpacked next to it).
    Raises a one-line :class:`DataError` listing what every URL answered.
    """
    policy = policy or RETRY_POLICY
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    with httpx.Client(follow_redirects=True, trust_env=True, timeout=policy.timeout_seconds) as client, \
            _ProgressBar(dest.name, progress) as bar:
        for url in urls:
            try:
                return _fetch_with_retries(client, url, dest, unpack_factor, policy, sleep, bar)
            except _NextURL as exc:
                failures.append(f"{url}: {exc}")
    kept = part_path(dest)
    kept_note = f"; {kept.stat().st_size} bytes kept in {kept} for the next try" if kept.exists() else ""
    raise DataError(f"could not download {dest.name}: " + "; ".join(failures) + kept_note,
                    "run the command again to continue, pass --mirror URL, or set HTTPS_PROXY")


def _fetch_with_retries(client: httpx.Client, url: str, dest: Path, unpack_factor: float, policy: RetryPolicy,
                        sleep: Callable[[float], None], bar: "_Bar") -> Fetched:
    last_error = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            return _fetch_once(client, url, dest, unpack_factor, bar)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _NextURL(f"not a usable URL ({exc})") from None
        except _TryAgain as exc:
            last_error = str(exc)
        except httpx.TransportError as exc:  # connection refused/reset, timeout, truncated body
            last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempt < policy.attempts:
            sleep(policy.backoff_seconds(attempt))
    raise _NextURL(f"{last_error} ({policy.attempts} attempts)")


def _fetch_once(client: httpx.Client, url: str, dest: Path, unpack_factor: float, bar: "_Bar") -> Fetched:
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    # identity: byte ranges count the stored bytes, which a compressed transfer would not
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status == 416 and offset:  # the part may already be whole
            total = _content_range_total(response.headers.get("Content-Range", ""))
            if total == offset:
                return _finish(part, dest, url, offset, offset)
            part.unlink()
            raise _TryAgain(f"HTTP 416 for bytes {offset}- (the part file is longer than the file); starting over")
        if status in TRANSIENT_STATUSES:
            raise _TryAgain(f"HTTP {status}")
        if status not in (200, 206):
            raise _NextURL(f"HTTP {status}")
        if status == 206 and _content_range_start(response.headers.get("Content-Range", "")) != offset:
            part.unlink()
            raise _TryAgain(f"asked for bytes {offset}-, got {response.headers.get('Content-Range')}; starting over")
        start = offset if status == 206 else 0  # 200: the server ignored the range and sends the whole file
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        if total is not None:
            disk_space.require_free_space(dest.parent, (total - start) + int(unpack_factor * total),
                                          f"{dest.name} ({disk_space.format_bytes(total)}"
                                          f"{', download and unpack' if unpack_factor else ''})")
        bar.start(total, start)
        try:
            with open(part, "ab" if start else "wb") as out:
                for chunk in response.iter_raw():  # as they arrive, so a broken transfer keeps what came
                    out.write(chunk)
                    bar.advance(len(chunk))
        except OSError as exc:  # the disk filled up after all, or the folder is not writable
            raise DataError(f"cannot write {part}: {exc.strerror or exc}",
                            "free some space (the bytes so far are kept) and run the command again") from None
        size = part.stat().st_size
        if total is not None and size != total:
            raise _TryAgain(f"got {size} of {total} bytes")
        return _finish(part, dest, url, size, offset if start else 0)


def _finish(part: Path, dest: Path, url: str, size: int, resumed_from: int) -> Fetched:
    os.replace(part, dest)
    return Fetched(path=dest, url=url, size_bytes=size, resumed_from_bytes=resumed_from)


def _content_range_start(value: str) -> int | None:
    """The first byte of ``bytes START-END/TOTAL``."""
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _content_range_total(value: str) -> int | None:
    """The TOTAL of ``bytes START-END/TOTAL`` or ``bytes */TOTAL``."""
    try:
        return int(value.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None


class _Bar:
    """One rich progress bar (size, speed, ETA) for one file, or nothing when progress is off."""

    def __init__(self, name: str, progress):
        self.name = name
        self.progress = progress
        self.task = None

    def start(self, total: int | None, completed: int) -> None:
        if self.progress is None:
            return
        if self.task is None:
            self.task = self.progress.add_task(self.name, total=total, completed=completed)
        else:
            self.progress.reset(self.task, total=total, completed=completed)

    def advance(self, count: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, count)


class _ProgressBar:
    """Context manager yielding a :class:`_Bar` on stderr."""

    def __init__(self, name: str, enabled: bool):
        self.name = name
        self.enabled = enabled
        self.progress = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
            self.progress.start()
        return _Bar(self.name, self.progress)

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()
