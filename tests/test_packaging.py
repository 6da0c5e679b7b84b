"""Packaging: every distribution as a pip user gets it (sdist, wheel, metadata, a fresh environment).

The sdists and wheels are built once per session (``python -m build --no-isolation``,
each wheel from its sdist) from a copy of the checkout's files, so nothing is
written into the source tree. The wheels are then installed with plain pip into
a new virtual environment outside the source tree, and zslbench is used there.

That environment reuses the test environment's third-party packages instead of
downloading them, without seeing zslbench's own (editable) installs: it gets a
directory of symlinks to exactly the distributions that the wheels' declared
requirements pull in, transitively (markers and extras evaluated as pip does),
and nothing else. A dependency a distribution forgets to declare is therefore
missing there, as it would be for a user.
"""

from __future__ import annotations

import ast
import email.parser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
packaging_requirements = pytest.importorskip("packaging.requirements")
canonicalize_name = pytest.importorskip("packaging.utils").canonicalize_name
Requirement = packaging_requirements.Requirement
Version = pytest.importorskip("packaging.version").Version


@dataclass(frozen=True)
class Project:
    """One distribution built from this repository."""

    name: str  # distribution name
    path: str  # project directory, relative to the repository root
    package: str  # its import package
    version_file: str = "__init__.py"  # the module of the package holding __version__

    @property
    def source_version(self) -> str:
        """The literal ``__version__`` of ``version_file``, the one source of the version."""
        tree = ast.parse((REPO / self.path / self.package / self.version_file).read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                return ast.literal_eval(node.value)
        raise AssertionError(f"{self.package}/{self.version_file} has no literal __version__")


CORE = Project("zslbench", ".", "zslbench", version_file="version.py")
PLUGINS = (
    Project("zslbench-svip", "plugins/svip", "zslbench_svip"),
    Project("zslbench-baselines", "plugins/baselines", "zslbench_baselines"),
    Project("zslbench-epsilon", "plugins/epsilon", "zslbench_epsilon"),
)
EXAMPLE = Project("zslbench-example", "examples/third_party_plugin", "zslbench_example")
PROJECTS = (CORE, *PLUGINS, EXAMPLE)
LOCAL_NAMES = {canonicalize_name(p.name) for p in PROJECTS}


def _clean_env(**extra: str) -> dict[str, str]:
    """The current environment without anything that would put the source tree or user packages on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("PIP_")}
    env.update(PYTHONNOUSERSITE="1", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def checkout_files() -> list[str]:
    """Files of the checkout as a clean clone (plus work not yet committed) has them: git's view, ignores applied."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("building the distributions needs the git checkout")
    return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory) -> Path:
    """The sdists and wheels of every project, built once, in parallel, from a copy of the checkout."""
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("checkout")
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    builds = [(project, subprocess.Popen([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                                          str(source / project.path)],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_clean_env()))
              for project in PROJECTS]
    for project, process in builds:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"building {project.name} failed:\n{output[-4000:]}"
    return out


def _artifact(dist_dir: Path, project: Project, suffix: str) -> Path:
    stem = project.name.replace("-", "_")
    found = sorted(dist_dir.glob(f"{stem}-*{suffix}"))
    assert len(found) == 1, f"expected one {suffix} of {project.name} in {dist_dir}, found {found}"
    return found[0]


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def wheel_requirements(wheel: Path) -> list[Requirement]:
    return [Requirement(r) for r in wheel_metadata(wheel).get_all("Requires-Dist") or []]


# ----------------------------------------------------------------------------- the artefacts


def test_the_project_list_covers_every_plugin_directory():
    plugin_dirs = {str(p.parent.relative_to(REPO)) for p in (REPO / "plugins").glob("*/pyproject.toml")}
    assert plugin_dirs == {p.path for p in PLUGINS}


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_sdist_and_wheel_carry_complete_metadata(dist_dir, project):
    wheel, sdist = _artifact(dist_dir, project, ".whl"), _artifact(dist_dir, project, ".tar.gz")
    meta = wheel_metadata(wheel)
    assert meta["Name"] == project.name and meta["Version"] == project.source_version
    assert meta["Summary"] and meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert (REPO / project.path / "LICENSE").read_text() == (REPO / "LICENSE").read_text(), "copy the root LICENSE"
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = (REPO / project.path / "README.md").read_text()
    assert meta.get_payload().strip() == readme.strip()
    assert any(c.startswith("Programming Language :: Python :: 3") for c in meta.get_all("Classifier") or [])
    if project is not EXAMPLE:
        assert meta.get_all("Project-URL"), f"{project.name} declares no project URL"
    with tarfile.open(sdist) as archive:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in archive.getnames() if len(Path(n).parts) > 1}
    assert {"README.md", "LICENSE", "pyproject.toml", "PKG-INFO", f"{project.package}/__init__.py"} <= names
    assert not any(n.startswith("tests/") for n in names), "tests need the whole repository; keep them out of sdists"
    if project is CORE:
        assert "CHANGELOG.md" in names


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_wheel_holds_exactly_the_package_files_python_and_data(dist_dir, project):
    """Every file under the package directory (a data file it reads included) is in the wheel, and nothing else."""
    prefix = Path(project.path, project.package)
    in_checkout = {Path(f).relative_to(project.path).as_posix() for f in checkout_files()
                   if Path(f).is_relative_to(prefix) and "__pycache__" not in Path(f).parts}
    with zipfile.ZipFile(_artifact(dist_dir, project, ".whl")) as archive:
        in_wheel = {n for n in archive.namelist() if ".dist-info/" not in n}
    assert in_wheel == in_checkout


def _third_party_imports(package_dir: Path) -> set[str]:
    """Top-level names of the non-standard-library modules that the package's code imports anywhere (not itself)."""
    names: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != package_dir.name}


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_every_imported_distribution_is_declared(dist_dir, project):
    providers = metadata.packages_distributions()
    declared = {canonicalize_name(r.name) for r in wheel_requirements(_artifact(dist_dir, project, ".whl"))}
    imported: dict[str, str] = {}
    for module in _third_party_imports(REPO / project.path / project.package):
        assert module in providers, f"{project.name} imports {module!r}, which no installed distribution provides"
        imported.update((canonicalize_name(d), module) for d in providers[module])
    undeclared = {d: m for d, m in imported.items() if d not in declared | {canonicalize_name(project.name)}}
    assert not undeclared, f"{project.name} imports these without declaring their distributions: {undeclared}"


# ----------------------------------------------------------------------------- a fresh environment


def _wanted(requirement: Requirement, extras: set[str]) -> bool:
    return requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras)


def dependency_closure(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions that ``requirements`` pull in, transitively (this repository's own excluded)."""
    found: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    queue = list(requirements)
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if name in LOCAL_NAMES or key in visited:
            continue
        visited.add(key)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement} is required but not installed in the test environment")
        assert requirement.specifier.contains(dist.version, prereleases=True), \
            f"installed {dist.metadata['Name']} {dist.version} does not satisfy {requirement}"
        found[name] = dist
        extras = {""} | set(requirement.extras)
        queue.extend(r for r in map(Requirement, dist.requires or []) if _wanted(r, extras))
    return list(found.values())


def link_distributions(dists: list[metadata.Distribution], overlay: Path) -> None:
    """Symlink each distribution's top-level files (packages, modules, .dist-info) into ``overlay``.

    A namespace directory shared by several distributions (e.g. ``nvidia/``) is linked whole.
    """
    overlay.mkdir()
    for dist in dists:
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD; cannot tell its files"
        for top in sorted({f.parts[0] for f in dist.files if f.parts and f.parts[0] not in ("..", "__pycache__")}):
            source, target = Path(dist.locate_file(top)), overlay / top
            if source.exists() and not target.exists():
                target.symlink_to(source)


@dataclass(frozen=True)
class FreshEnvironment:
    """A virtual environment holding the wheels; commands run in an empty directory with no source on the path."""

    root: Path
    python: Path
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def zslbench(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(str(self.root / "bin" / "zslbench"), *args)
        assert result.returncode == 0, f"zslbench {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        return result

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        # The test environment's pip, acting on the new environment (pip >= 22.3): no pip is installed there.
        return self.run(sys.executable, "-m", "pip", "--python", str(self.python), *args)


@pytest.fixture(scope="session")
def fresh_env(dist_dir, tmp_path_factory) -> FreshEnvironment:
    """``pip install 'zslbench[all]' zslbench-example`` from the built wheels alone, into a new venv."""
    if Version(metadata.version("pip")) < Version("22.3"):
        pytest.skip("installing into another environment needs pip >= 22.3 (pip --python)")
    base = tmp_path_factory.mktemp("fresh")
    root, workdir = base / "venv", base / "work"
    workdir.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, env=_clean_env())
    python = root / "bin" / "python"
    env = _clean_env(ZSLBENCH_CACHE=str(base / "cache"), ZSLBENCH_RUNS=str(base / "runs"),
                     ZSLBENCH_STRICT_PLUGINS="1", OMP_NUM_THREADS="1")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, env=env).stdout.strip()
    core_extras = {"", "all"}
    requirements = [r for r in wheel_requirements(_artifact(dist_dir, CORE, ".whl")) if _wanted(r, core_extras)]
    for project in (*PLUGINS, EXAMPLE):
        requirements += [r for r in wheel_requirements(_artifact(dist_dir, project, ".whl")) if _wanted(r, {""})]
    overlay = base / "third-party"
    link_distributions(dependency_closure(requirements), overlay)
    # addsitedir, not a bare path: the linked distributions' own .pth files are processed as in site-packages.
    (Path(purelib) / "zslbench-test-third-party.pth").write_text(f"import site; site.addsitedir({str(overlay)!r})\n")
    fresh = FreshEnvironment(root, python, workdir, env)
    installed = fresh.pip("install", "--no-index", "--only-binary", ":all:", "--find-links", str(dist_dir),
                          "--no-cache-dir", "zslbench[all]", EXAMPLE.name)
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"
    return fresh


def test_fresh_environment_imports_the_wheels_not_the_source_tree(fresh_env):
    packages = [p.package for p in PROJECTS]
    code = ("import importlib, json, sys; "
            f"print(json.dumps({{'files': [importlib.import_module(m).__file__ for m in {packages!r}], 'path': sys.path}}))")
    result = fresh_env.run(str(fresh_env.python), "-c", code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    for file in seen["files"]:
        assert Path(file).resolve().is_relative_to(fresh_env.root.resolve()), f"{file} is not inside the new venv"
    assert not any(Path(entry).resolve().is_relative_to(REPO) for entry in seen["path"] if entry)
    check = fresh_env.pip("check")
    assert check.returncode == 0, f"pip check:\n{check.stdout}{check.stderr}"


def test_version_and_list_plugins_show_each_distribution_version(fresh_env):
    versions = fresh_env.zslbench("--version").stdout.splitlines()
    assert versions[0] == f"zslbench {CORE.source_version}"
    for project, plugin in zip((*PLUGINS, EXAMPLE), ("svip", "baselines", "epsilon", "example")):
        assert f"  plugin {plugin}: {project.name} {project.source_version}" in versions
    rows = fresh_env.zslbench("list", "plugins").stdout.splitlines()
    for project in PROJECTS:
        row = next((r for r in rows if f" {project.name} " in r), None)
        assert row is not None and project.source_version in row and " ok " in row, (project.name, rows)


def _only_run_dir(runs: Path, dataset: str, method: str) -> Path:
    found = list((runs / dataset / method).iterdir())
    assert len(found) == 1, found
    return found[0]


def _assert_complete(run: Path) -> None:
    assert json.loads((run / "status.json").read_text())["state"] == "complete"
    assert 0.0 <= json.loads((run / "metrics.json").read_text())["test"]["t1"] <= 1.0


def test_svip_runs_with_its_default_text_encoder(fresh_env):
    fresh_env.zslbench("run", "svip", "-d", "synthetic-tiny", "--epochs", "1")
    run = _only_run_dir(Path(fresh_env.env["ZSLBENCH_RUNS"]), "synthetic-tiny", "svip")
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["text_encoder"] == "glove-6b-50d"
    _assert_complete(run)


def test_example_third_party_plugin_runs_from_its_own_wheel(fresh_env):
    fresh_env.zslbench("run", "pixel-attr", "--dataset", "example-bars", "--epochs", "2")
    run = _only_run_dir(Path(fresh_env.env["ZSLBENCH_RUNS"]), "example-bars", "pixel-attr")
    _assert_complete(run)
