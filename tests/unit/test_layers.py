"""The package's shape (ARCHITECTURE.md): layers whose imports run one way, no import cycle (not
even one hidden in a function-level import), tornado only in the web layer and above, and
modules and classes small enough to read.

Read from the source with ``ast``, so an import inside a function counts as much as one at the
top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jupyter_server_proxy"

#: Lower layers first; a module may import from its own layer and the ones before it.
LAYERS = ["core", "transport", "relay", "apps", "web", "standalone"]
#: Modules at the top: the package's hooks, the CLI, and the 4.x import paths (re-exports).
TOP = 6
#: Layers that may not import a web framework: the pure core and the asyncio transport and relay
#: (and the apps layer, which the CLI runs without a server).
NO_WEB_FRAMEWORK = {"core", "transport", "relay", "apps"}
WEB_FRAMEWORKS = ("tornado", "jupyter_server", "aiohttp")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["jupyter_server_proxy", *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module of this package that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            # ``from . import launch``: the names may be modules themselves
            found.update(f"{origin}.{a.name}" for a in node.names)
    return {m for m in found if m in MODULES and m != name}


def _externals(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def _layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return TOP


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_package_is_in_layers() -> None:
    loose = [n for n in MODULES if _layer(n) == TOP and n.count(".") > 1]
    assert not loose, f"modules in no layer: {loose}"


def test_imports_run_downward() -> None:
    upward = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(name)
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in sorted(GRAPH[name]):
            # A package's own __init__ is run by importing any of its modules: not a cycle.
            if name.startswith(target + "."):
                continue
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(GRAPH):
        visit(name, [])


@pytest.mark.parametrize("layer", sorted(NO_WEB_FRAMEWORK))
def test_lower_layers_use_no_web_framework(layer: str) -> None:
    offenders = {
        name: sorted(_externals(path) & set(WEB_FRAMEWORKS))
        for name, path in MODULES.items()
        if name.split(".")[1:2] == [layer]
    }
    assert not {n: f for n, f in offenders.items() if f}


def test_modules_and_classes_are_small() -> None:
    big = []
    for name, path in MODULES.items():
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            big.append(f"module {name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    big.append(f"class {name}.{node.name}: {length} lines")
    assert not big, "\n".join(big)
