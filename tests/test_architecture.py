"""The house plan holds: no import cycles between modules, no module over ~500 lines without a stated reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Top-level packages whose modules are walked, and the folder each lives in.
PACKAGE_DIRS = {"zslbench": ROOT / "zslbench", "zslbench_svip": ROOT / "plugins" / "svip" / "zslbench_svip",
                "zslbench_baselines": ROOT / "plugins" / "baselines" / "zslbench_baselines",
                "zslbench_epsilon": ROOT / "plugins" / "epsilon" / "zslbench_epsilon",
                "zslbench_example": ROOT / "examples" / "third_party_plugin" / "zslbench_example"}
MAX_LINES = 500
#: Words in a module's top docstring that state why it is longer than MAX_LINES.
LONG_REASON = "longer than 500 lines because"


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the walked packages."""
    modules: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imported_modules(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The walked modules ``module`` imports, at any depth (function-level imports included).

    ``from a import b`` is an import of ``a.b`` when that is a module, else of ``a``.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """Module -> the walked modules it imports."""
    modules = module_files()
    known = set(modules)
    return {name: _imported_modules(ast.parse(path.read_text(), filename=str(path)), name,
                                    path.name == "__init__.py", known)
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_level_and_submodule_imports():
    graph = import_graph()
    assert "zslbench.training.engine" in graph["zslbench.runner"]  # imported inside a function
    assert "zslbench.store" in graph["zslbench.runner"]  # ``from zslbench import store``


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(module_files()))
def test_no_module_over_500_lines_without_a_reason(name):
    path = module_files()[name]
    source = path.read_text()
    lines = source.count("\n")
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert LONG_REASON in docstring, (f"{path.relative_to(ROOT)} has {lines} lines: split it, or say in its "
                                      f"top docstring why it is {LONG_REASON} ...")


def _imported_packages(tree: ast.AST) -> set[str]:
    """Top-level package names of a module's absolute imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_package_walk_sees_click_in_the_result_commands():
    path = module_files()["zslbench.cli_results"]
    assert "click" in _imported_packages(ast.parse(path.read_text()))
    assert _imported_packages(ast.parse("def f():\n    from click.testing import CliRunner\n")) == {"click"}


def test_no_results_module_imports_click():
    """results/ returns data (the Python front door uses it); the click commands over it live in cli_results."""
    modules = {name: path for name, path in module_files().items()
               if name == "zslbench.results" or name.startswith("zslbench.results.")}
    assert len(modules) > 10
    importing = [name for name, path in sorted(modules.items())
                 if "click" in _imported_packages(ast.parse(path.read_text(), filename=str(path)))]
    assert importing == []


def _documented_public_modules() -> set[str]:
    """The modules docs/architecture.md's rules allow a plugin to import (the list after "public modules")."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = text.split("public\nmodules (", 1)[1].split("), never another plugin", 1)[0]
    return set(re.findall(r"`(zslbench[a-z_.]*)`", listed))


def _plugin_imports_of_the_core() -> dict[str, set[str]]:
    """Per plugin file (the repository's plugins and the example), the ``zslbench.*`` modules it imports."""
    files = [*ROOT.glob("plugins/*/zslbench_*/*.py"), *ROOT.glob("examples/third_party_plugin/zslbench_example/*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        core = {n for n in names if n == "zslbench" or n.startswith("zslbench.")}
        if core:
            found[str(path.relative_to(ROOT))] = core
    return found


def test_plugins_import_only_the_documented_public_modules():
    public = _documented_public_modules()
    assert {"zslbench.methods", "zslbench.errors", "zslbench.registry"} <= public  # the list was read
    imports = _plugin_imports_of_the_core()
    assert imports, "no plugin file was read"
    undocumented = {path: sorted(names - public) for path, names in imports.items() if names - public}
    assert not undocumented, f"plugins import core modules docs/architecture.md does not list: {undocumented}"
