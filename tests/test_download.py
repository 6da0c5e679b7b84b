"""`zslbench data download`: fetching (resume, retries, mirrors, proxies), digests, safe unpacking, disk space.

Every URL points at a loopback HTTP server started by the test (Range
support; it can be told to answer 404, drop the connection after N bytes, or
serve other bytes); the archives are tiny copies of the real layouts built by
``fixtures_xlsa17``. Nothing touches the internet: the spec's archive list is
replaced by one whose URLs are on the loopback server.

Longer than 500 lines because every judged case of the command (and the
unpacker's refusals) shares the one server and the fake archives above them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from zslbench import registry
from zslbench.cli import main
from zslbench.data import archives, disk_space, download
from zslbench.data.archive_specs import Archive, download_command
from zslbench.data.dataset_download import DOWNLOADS_DIR, help_lines
from zslbench.data.download_manifest import MANIFEST_NAME, sha256_of
from zslbench.errors import DataError
from zslbench.plugins import ensure_loaded

from fixtures_xlsa17 import build_xlsa17_layout

FAST_RETRIES = download.RetryPolicy(attempts=3, first_backoff_seconds=0.0, max_backoff_seconds=0.0,
                                    timeout_seconds=10.0)


# --------------------------------------------------------------------------- the loopback server


@dataclasses.dataclass
class Served:
    """One request the server answered: path, Range header, status and body bytes actually sent."""

    path: str
    range: str | None
    status: int
    bytes_sent: int


class FileServer:
    """Serves ``files`` (path -> bytes) on 127.0.0.1 with Range support; ``plans[path]`` lists what the next
    requests get instead of the file: a status (``"404"``, ``"503"``), ``("drop", n)`` (headers for the whole body, n bytes, then
    the connection closes) or ``"wrong"`` (other bytes of the same length)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, list] = {}
        self.served: list[Served] = []
        self.ignore_range = False  # answer every request with the whole file (200), as simple servers do
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                path = urlsplit(self.path).path  # absolute-form when the client talks to us as a proxy
                plan = server.plans.get(path) or []
                action = plan.pop(0) if plan else None
                data = server.files.get(path)
                status = int(action) if isinstance(action, str) and action.isdigit() else 404 if data is None else 0
                # each request is recorded before it is answered: the client may be done before this thread runs on
                if status:
                    server.served.append(Served(path, self.headers.get("Range"), status, 0))
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action == "wrong":
                    data = bytes(b ^ 0xFF for b in data)
                header = None if server.ignore_range else self.headers.get("Range")
                start = int(header.split("=")[1].split("-")[0]) if header else 0
                if start >= len(data) and header:
                    server.served.append(Served(path, header, 416, 0))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                sent = body[:action[1]] if isinstance(action, tuple) and action[0] == "drop" else body
                server.served.append(Served(path, header, 206 if header else 200, len(sent)))
                self.send_response(206 if header else 200)
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(sent)
                self.wfile.flush()
                if isinstance(action, tuple):
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def requests_for(self, path: str) -> list[Served]:
        return [s for s in self.served if s.path == path]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # a proxy of the machine must not see loopback requests
    monkeypatch.setattr(download, "RETRY_POLICY", FAST_RETRIES)
    srv = FileServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


# --------------------------------------------------------------------------- archives with the real layouts


def zip_tree(base: Path, folder: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip of ``base/folder`` with member names relative to ``base`` (plus ``extra`` members)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((base / folder).rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(base).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tar_gz(base: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name in names:
            tf.add(base / name, arcname=name)
    return buffer.getvalue()


@dataclasses.dataclass
class CubSource:
    """The two archives of cub (xlsa17.zip with other datasets' folders too, CUB_200_2011.tgz) on the server."""

    archives: tuple[Archive, ...]
    xlsa17: bytes
    images: bytes


@pytest.fixture
def cub_source(tmp_path, server, monkeypatch) -> CubSource:
    staging = tmp_path / "staging"
    build_xlsa17_layout(staging, "cub")
    xlsa17 = zip_tree(staging, "xlsa17", {"xlsa17/data/AWA2/att_splits.mat": b"another dataset's file",
                                          "xlsa17/README.txt": b"readme"})
    images = tar_gz(staging, ["CUB_200_2011", "attributes.txt"])
    server.files.update({"/xian/xlsa17.zip": xlsa17, "/caltech/CUB_200_2011.tgz": images})
    ensure_loaded()
    entry = registry.datasets.entry("cub")
    # the fake archives cannot match the published md5 of the real CUB_200_2011.tgz: no published digests here
    local = tuple(dataclasses.replace(a, urls=(f"{server.url}/{'xian' if a.filename == 'xlsa17.zip' else 'caltech'}/"
                                               f"{a.filename}",), md5=None, sha256=None) for a in entry.spec.archives)
    assert [a.filename for a in local] == ["CUB_200_2011.tgz", "xlsa17.zip"]
    monkeypatch.setattr(entry, "spec", dataclasses.replace(entry.spec, archives=local))
    return CubSource(local, xlsa17, images)


def invoke(*args):
    return CliRunner().invoke(main, ["data", "download", *[str(a) for a in args]])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


# --------------------------------------------------------------------------- the judged cases


def test_full_download_unpacks_the_layout_and_data_check_passes(tmp_path, server, cub_source):
    root = tmp_path / "cub"
    result = invoke("cub", "--root", root, "--quiet")
    assert result.exit_code == 0, result.output
    assert "status: OK" in result.output and "usable for image methods (images): yes" in result.output
    assert (root / "xlsa17/data/CUB/att_splits.mat").is_file() and (root / "CUB_200_2011/images").is_dir()
    assert not (root / "xlsa17/data/AWA2").exists() and not (root / "xlsa17/README.txt").exists()
    assert not any(p.name.startswith(".zslbench-unpack-") for p in root.iterdir())
    assert not any((root / DOWNLOADS_DIR).iterdir())  # archives removed after unpacking
    recorded = json.loads((root / MANIFEST_NAME).read_text())["files"]
    assert recorded["xlsa17.zip"]["sha256"] == hashlib.sha256(cub_source.xlsa17).hexdigest()
    assert recorded["CUB_200_2011.tgz"]["size_bytes"] == len(cub_source.images)
    assert recorded["xlsa17.zip"]["url"] == f"{server.url}/xian/xlsa17.zip"
    # a second run fetches nothing: the manifest says both are unpacked and their folders are there
    served = len(server.served)
    again = invoke("cub", "--root", root, "--quiet")
    assert again.exit_code == 0 and "already unpacked" in again.output and len(server.served) == served


def test_only_the_asked_part_is_fetched(tmp_path, server, cub_source):
    root = tmp_path / "cub"
    result = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert result.exit_code == 0, result.output  # usable for feature methods: exit 0
    assert "OK for feature methods only" in result.output
    assert "fetch what is missing: zslbench data download cub --root" in result.output and "--what images" in result.output
    assert [s.path for s in server.served] == ["/xian/xlsa17.zip"]


def test_killed_download_resumes_fetching_only_the_missing_bytes(tmp_path, server, cub_source, monkeypatch):
    monkeypatch.setattr(download, "RETRY_POLICY", dataclasses.replace(FAST_RETRIES, attempts=1))
    root = tmp_path / "cub"
    server.plans["/xian/xlsa17.zip"] = [("drop", 1000)]
    killed = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert killed.exit_code == 1 and "Traceback" not in killed.output
    assert len(error_lines(killed)) == 1 and "could not download xlsa17.zip" in error_lines(killed)[0]
    part = root / DOWNLOADS_DIR / "xlsa17.zip.part"
    assert part.stat().st_size == 1000 and not (root / "xlsa17").exists()

    resumed = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    last = server.requests_for("/xian/xlsa17.zip")[-1]
    assert last.range == "bytes=1000-" and last.status == 206
    assert last.bytes_sent == len(cub_source.xlsa17) - 1000
    assert sum(s.bytes_sent for s in server.requests_for("/xian/xlsa17.zip")) == len(cub_source.xlsa17)
    assert (root / "xlsa17/data/CUB/res101.mat").is_file() and not part.exists()


def test_two_dropped_connections_are_retried(tmp_path, server, cub_source):
    root = tmp_path / "cub"
    server.plans["/xian/xlsa17.zip"] = [("drop", 0), ("drop", 700)]
    result = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert result.exit_code == 0, result.output
    tries = server.requests_for("/xian/xlsa17.zip")
    assert [t.range for t in tries] == [None, None, "bytes=700-"]  # the third continues the second's bytes
    assert sha256_of(root / "xlsa17/data/CUB/att_splits.mat") == sha256_of(
        tmp_path / "staging/xlsa17/data/CUB/att_splits.mat")


def test_busy_server_is_asked_again_and_a_server_ignoring_ranges_restarts_the_file(tmp_path, server):
    data = bytes(range(256)) * 40
    server.files["/f.bin"] = data
    server.plans["/f.bin"] = ["503"]
    dest = tmp_path / "f.bin"
    download.part_path(dest).write_bytes(b"stale bytes of an earlier try")
    server.ignore_range = True
    fetched = download.fetch([f"{server.url}/f.bin"], dest, progress=False)
    assert [s.status for s in server.served] == [503, 200]
    assert dest.read_bytes() == data and fetched.resumed_from_bytes == 0 and not download.part_path(dest).exists()


def test_a_part_that_is_already_whole_is_finished_without_new_bytes(tmp_path, server):
    server.files["/f.bin"] = b"complete"
    dest = tmp_path / "f.bin"
    download.part_path(dest).write_bytes(b"complete")  # killed after the last byte, before the rename
    fetched = download.fetch([f"{server.url}/f.bin"], dest, progress=False)
    assert [(s.range, s.status) for s in server.served] == [("bytes=8-", 416)]
    assert dest.read_bytes() == b"complete" and fetched.resumed_from_bytes == 8


def test_backoff_doubles_between_tries(tmp_path, server):
    server.files["/f.bin"] = b"x" * 5000
    server.plans["/f.bin"] = [("drop", 10), ("drop", 10)]
    waits = []
    policy = download.RetryPolicy(attempts=3, first_backoff_seconds=0.5, max_backoff_seconds=30)
    fetched = download.fetch([f"{server.url}/f.bin"], tmp_path / "f.bin", policy=policy, progress=False,
                             sleep=waits.append)
    assert waits == [0.5, 1.0] and fetched.path.read_bytes() == b"x" * 5000


@pytest.mark.parametrize("digest_from", ["spec", "manifest", "md5"])
def test_wrong_digest_is_refused_and_nothing_is_unpacked(tmp_path, server, cub_source, monkeypatch, digest_from):
    root = tmp_path / "cub"
    digest = getattr(hashlib, "md5" if digest_from == "md5" else "sha256")
    true_digest = digest(cub_source.xlsa17).hexdigest()
    if digest_from in ("spec", "md5"):  # a published digest on the archive record
        entry = registry.datasets.entry("cub")
        published = tuple(dataclasses.replace(a, **{"sha256" if digest_from == "spec" else "md5": true_digest})
                          for a in entry.spec.archives)
        monkeypatch.setattr(entry, "spec", dataclasses.replace(entry.spec, archives=published))
    else:  # recorded at the first download; the unpacked folder is then lost and the mirror changes its bytes
        assert invoke("cub", "--root", root, "--what", "splits", "--quiet").exit_code == 0
        import shutil

        shutil.rmtree(root / "xlsa17")
    server.plans["/xian/xlsa17.zip"] = ["wrong"]
    result = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
    line = error_lines(result)[0]
    wrong_digest = digest(bytes(b ^ 0xFF for b in cub_source.xlsa17)).hexdigest()
    assert "xlsa17.zip" in line and true_digest in line and wrong_digest in line
    assert f"{server.url}/xian/xlsa17.zip" in line
    assert not (root / "xlsa17").exists()  # never unpacked
    assert (root / DOWNLOADS_DIR / "xlsa17.zip.bad").is_file() and not (root / DOWNLOADS_DIR / "xlsa17.zip").exists()


def test_published_digests_are_well_formed_and_name_their_source():
    ensure_loaded()
    published = {}
    for entry in registry.datasets:
        for a in entry.spec.archives:
            for kind, length in (("sha256", 64), ("md5", 32)):
                value = getattr(a, kind)
                if value is not None:
                    assert len(value) == length and int(value, 16) >= 0 and getattr(a, f"{kind}_source"), a
                    published[a.filename] = value
    assert published["CUB_200_2011.tgz"] == "97eceeb196236b17998738112f37df78"  # the field's loaders check this one
    assert {"102flowers.tgz", "VOCtrainval_14-Jul-2008.tar"} <= set(published)


def test_first_mirror_answering_404_moves_on_to_the_next(tmp_path, server, cub_source):
    root = tmp_path / "cub"
    server.files["/good/xlsa17.zip"] = cub_source.xlsa17
    result = invoke("cub", "--root", root, "--what", "splits", "--quiet",
                    "--mirror", f"{server.url}/gone", "--mirror", f"{server.url}/good/")
    assert result.exit_code == 0, result.output
    assert [(s.path, s.status) for s in server.served] == [("/gone/xlsa17.zip", 404), ("/good/xlsa17.zip", 200)]
    recorded = json.loads((root / MANIFEST_NAME).read_text())["files"]["xlsa17.zip"]
    assert recorded["url"] == f"{server.url}/good/xlsa17.zip"


def test_every_url_failing_is_one_line_naming_each(tmp_path, server, cub_source):
    del server.files["/xian/xlsa17.zip"]
    result = invoke("cub", "--root", tmp_path / "cub", "--what", "splits", "--quiet", "--mirror", f"{server.url}/gone")
    assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
    line = error_lines(result)[0]
    assert f"{server.url}/gone/xlsa17.zip: HTTP 404" in line and f"{server.url}/xian/xlsa17.zip: HTTP 404" in line


def test_full_disk_is_one_line_before_anything_is_written(tmp_path, server, cub_source, monkeypatch):
    monkeypatch.setattr(disk_space, "free_bytes", lambda folder: 1000)
    root = tmp_path / "cub"
    result = invoke("cub", "--root", root, "--what", "splits", "--quiet")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(error_lines(result)) == 1 and "not enough disk space" in error_lines(result)[0]
    assert "xlsa17.zip" in error_lines(result)[0] and "1000 B free" in error_lines(result)[0]
    assert not (root / DOWNLOADS_DIR / "xlsa17.zip.part").exists() and not (root / "xlsa17").exists()


def test_proxy_from_the_environment_is_used(tmp_path, server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    server.files["/via-proxy.bin"] = b"proxied bytes"
    fetched = download.fetch(["http://zslbench-test.invalid/via-proxy.bin"], tmp_path / "via-proxy.bin",
                             progress=False)
    assert fetched.path.read_bytes() == b"proxied bytes"
    assert server.served[-1].path == "/via-proxy.bin"  # the request went to the proxy, never to the .invalid host


# --------------------------------------------------------------------------- safe unpacking


def malicious_zip(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/ok.txt", b"fine")
        zf.writestr(name, b"escaped")
    return path


def malicious_tar(path: Path, links: list[tuple[str, bytes, str]]) -> Path:
    """A tar.gz with a regular file, then (name, type, target) link members, then a file written through them."""
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("data/ok.txt")
        ok.size = 4
        tf.addfile(ok, io.BytesIO(b"fine"))
        for name, kind, target in links:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)
        through = tarfile.TarInfo("data/link/escaped.txt")
        through.size = 7
        tf.addfile(through, io.BytesIO(b"escaped"))
    return path


@pytest.mark.parametrize("build,why", [
    (lambda p: malicious_zip(p / "slip.zip", "../../outside.txt"), "'..'"),
    (lambda p: malicious_zip(p / "abs.zip", "/tmp/zslbench-outside.txt"), "absolute path"),
    (lambda p: malicious_tar(p / "sym.tar.gz", [("data/link", tarfile.SYMTYPE, "../../..")]), "symbolic link"),
    (lambda p: malicious_tar(p / "absym.tar.gz", [("data/link", tarfile.SYMTYPE, "/tmp")]), "symbolic link"),
    (lambda p: malicious_tar(p / "hard.tar.gz", [("data/pw", tarfile.LNKTYPE, "../../etc/passwd")]), "hard link"),
])
def test_escaping_members_are_refused_and_nothing_is_written(tmp_path, build, why):
    archive = build(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    (root / "kept.txt").write_text("the user's file")
    before = files_under(tmp_path)
    with pytest.raises(DataError) as err:
        archives.unpack(archive, root)
    assert why in err.value.message and "nothing was unpacked" in err.value.message
    assert "\n" not in str(err.value)
    assert files_under(tmp_path) == before  # neither inside the root nor beside it
    assert not Path("/tmp/zslbench-outside.txt").exists()


def test_symlink_escape_through_the_member_prefix_is_refused(tmp_path):
    """A link that stays inside the archive but climbs above the folder that is unpacked."""
    archive = malicious_tar(tmp_path / "prefix.tar.gz", [("data/link", tarfile.SYMTYPE, "..")])
    root = tmp_path / "root"
    with pytest.raises(DataError, match="symbolic link pointing outside"):
        archives.unpack(archive, root, member_prefix="data/", unpack_to="inner")
    assert files_under(root) == set()


@pytest.mark.parametrize("served,message", [
    ("zip-slip", "nothing was unpacked"),
    ("html", "is not a readable archive"),  # a dead link's error page served with 200
])
def test_refused_archive_through_the_command_is_one_line_and_set_aside(tmp_path, server, monkeypatch, served, message):
    server.files["/evil/evil.zip"] = (malicious_zip(tmp_path / "evil.zip", "../../evil.txt").read_bytes()
                                      if served == "zip-slip" else b"<html>this file has moved</html>")
    ensure_loaded()
    entry = registry.datasets.entry("cub")
    evil = (Archive(filename="evil.zip", what=("images",), provides="an evil archive", urls=(f"{server.url}/evil/evil.zip",)),)
    monkeypatch.setattr(entry, "spec", dataclasses.replace(entry.spec, archives=evil))
    result = invoke("cub", "--root", tmp_path / "cub", "--quiet")
    assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
    assert "evil.zip" in error_lines(result)[0] and message in error_lines(result)[0]
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cub" / "data").exists()
    # set aside, and its digest is not kept as the one a later download must match
    assert (tmp_path / "cub" / DOWNLOADS_DIR / "evil.zip.bad").is_file()
    assert "evil.zip" not in json.loads((tmp_path / "cub" / MANIFEST_NAME).read_text())["files"]


def test_interrupted_unpack_leaves_the_root_as_it_was(tmp_path, monkeypatch):
    source = tmp_path / "src"
    for i in range(3):
        (source / "folder").mkdir(parents=True, exist_ok=True)
        (source / "folder" / f"{i}.txt").write_text(str(i))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz(source, ["folder"]))
    root = tmp_path / "root"
    root.mkdir()
    calls = []
    real_copy = archives.shutil.copyfileobj

    def copy_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(archives.shutil, "copyfileobj", copy_then_stop)
    with pytest.raises(KeyboardInterrupt):
        archives.unpack(archive, root)
    assert files_under(root) == set()
    monkeypatch.setattr(archives.shutil, "copyfileobj", real_copy)
    written = archives.unpack(archive, root)
    assert written == [root / "folder"] and sorted(files_under(root)) == ["folder", "folder/0.txt", "folder/1.txt",
                                                                          "folder/2.txt"]


def test_links_inside_the_target_and_plain_files_are_unpacked(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = tarfile.TarInfo("top/data/a.txt")
        data.size = 1
        tf.addfile(data, io.BytesIO(b"a"))
        for name, kind, target in (("top/data/alias", tarfile.SYMTYPE, "a.txt"),
                                   ("top/data/copy", tarfile.LNKTYPE, "top/data/a.txt")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    root = tmp_path / "root"
    archives.unpack(archive, root, member_prefix="top/", unpack_to="x")
    assert (root / "x/data/alias").read_text() == "a" and os.readlink(root / "x/data/alias") == "a.txt"
    assert (root / "x/data/copy").read_text() == "a"
    plain = tmp_path / "labels.csv"
    plain.write_text("id,label\n")
    assert archives.unpack(plain, root, unpack_to="2018_04") == [root / "2018_04/labels.csv"]
    assert (root / "2018_04/labels.csv").read_text() == "id,label\n"


# --------------------------------------------------------------------------- help, check and manual archives


def test_help_lists_every_dataset_with_automatic_and_manual_parts():
    ensure_loaded()
    result = CliRunner().invoke(main, ["data", "download", "--help"])
    assert result.exit_code == 0
    for name in registry.datasets.names():
        assert f"{name}" in result.output
    assert "by hand (images): the AwA1 images" in result.output and "<root>/JPEGImages/" in result.output
    assert "automatic (splits/features): xlsa17.zip" in result.output


def test_readme_lists_what_every_dataset_fetches():
    ensure_loaded()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = help_lines([entry.spec for entry in registry.datasets])
    missing = [line for line in lines if line not in readme]
    assert not missing, f"README's download list is out of date: {missing[:2]}"
    assert all(f"{name}" in "\n".join(lines) for name in registry.datasets.names())


def test_manual_archives_are_named_with_their_place(tmp_path, server, cub_source, monkeypatch):
    ensure_loaded()
    entry = registry.datasets.entry("cub")
    by_hand = (Archive(filename="images", what=("images",), provides="the images", page="https://example.org/form",
                       manual=True, place="CUB_200_2011/images/"),)
    monkeypatch.setattr(entry, "spec", dataclasses.replace(entry.spec, archives=by_hand))
    root = tmp_path / "cub"
    result = invoke("cub", "--root", root, "--what", "images", "--quiet")
    assert result.exit_code == 1  # nothing usable yet: data check's verdict
    assert f"put it at {root}/CUB_200_2011/images/" in result.output and "https://example.org/form" in result.output
    assert server.served == []


def test_data_check_prints_the_download_command(tmp_path):
    root = tmp_path / "nothing here"
    result = CliRunner().invoke(main, ["data", "check", "awa2", "--root", str(root)])
    assert result.exit_code == 1
    assert f"fetch what is missing: {download_command('awa2', str(root))}" in result.output
    assert f"--root '{root}'" in result.output
    layout = build_xlsa17_layout(tmp_path / "awa2", "awa2", with_images=False)
    features_only = CliRunner().invoke(main, ["data", "check", "awa2", "--root", str(layout.root)])
    assert features_only.exit_code == 0 and "--what images" in features_only.output


def test_malformed_manifest_is_one_line(tmp_path, server, cub_source):
    root = tmp_path / "cub"
    root.mkdir()
    (root / MANIFEST_NAME).write_text("{not json")
    result = invoke("cub", "--root", root, "--quiet")
    assert result.exit_code == 1 and len(error_lines(result)) == 1
    assert "is not a zslbench download manifest" in error_lines(result)[0]
    assert server.served == []


@pytest.mark.parametrize("args,message", [
    (["cub", "--mirror", "ftp://old.host/zsl/"], "is not an http(s) URL"),
    (["synthetic-tiny"], "has nothing to download"),
])
def test_bad_command_lines_are_usage_errors(tmp_path, args, message):
    result = invoke(*args, "--root", tmp_path / "root", "--quiet")
    assert result.exit_code == 2 and len(error_lines(result)) == 1, result.output
    assert message in error_lines(result)[0] and not (tmp_path / "root").exists()
