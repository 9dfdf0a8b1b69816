"""The import rule of docs/architecture.md, held against the package's real imports.

Every module of the package must be in the page's layer table, and no module may import a
module of a higher layer, not even inside a function (imports under ``if TYPE_CHECKING:`` are
annotations and do not count). A change that breaks the layering fails here, with the file, the
line and both layers named, instead of slowly turning the package into one tangle. Nor may
modules import each other in a circle, inside one layer too: each circle is named.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flask_versioning"


def _layers() -> dict[str, int]:
    spec = importlib.util.spec_from_file_location("docs_layers", ROOT / "docs" / "_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: layer for layer, names, _ in module.read_layers() for name in names}


LAYERS = _layers()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer_of(module: str) -> int | None:
    """The layer of a module path inside the package, by its longest listed prefix."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            return LAYERS[".".join(parts[:end])]
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, module inside the package)`` for every runtime import in the file."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    text = path.read_text(encoding="utf-8") if source is None else source
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("flask_versioning."):
                    found.append((node.lineno, alias.name.removeprefix("flask_versioning.")))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not (node.module or "").startswith("flask_versioning"):
                    return
                base = (node.module or "").split(".")[1:]
            else:
                base = package[: len(package) - (node.level - 1)] + (
                    node.module.split(".") if node.module else []
                )
            for alias in node.names:
                # "from . import x" / "from ._ops import migrate" may name a submodule.
                target = ".".join([*base, alias.name])
                found.append((node.lineno, target if _is_module(target) else ".".join(base)))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(text))
    return [(line, target) for line, target in found if target]


def _is_module(dotted: str) -> bool:
    path = PACKAGE.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def test_the_table_lists_layers() -> None:
    assert sorted(set(LAYERS.values())) == list(range(1, max(LAYERS.values()) + 1))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    if module == "":  # the package's face re-exports everything
        return
    layer = _layer_of(module)
    assert layer is not None, (
        f"flask_versioning/{path.relative_to(PACKAGE)} is in no layer: add it to the table "
        "in docs/architecture.md"
    )
    wrong = []
    for line, target in _imports(path):
        target_layer = _layer_of(target)
        assert target_layer is not None, f"{path.name}:{line} imports {target}, in no layer"
        if target_layer > layer:
            wrong.append(f"line {line}: {target} (layer {target_layer})")
    assert not wrong, f"{module} (layer {layer}) imports upwards: " + "; ".join(wrong)


def test_the_rule_catches_an_upward_import() -> None:
    """The checker itself: an upward import inside a function is found; a typing one is not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ._state import VersioningState\n"
        "def f():\n"
        "    from ._extension import Versioning\n"
    )
    found = _imports(PACKAGE / "_errors.py", source)
    assert found == [(5, "_extension")]
    assert LAYERS["_extension"] > LAYERS["_errors"]


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> the modules it imports): each set of modules
    that reach one another, sorted (Tarjan's strongly connected components)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            found = []
            while True:
                member = stack.pop()
                found.append(member)
                if member == module:
                    break
            if len(found) > 1 or module in graph[module]:
                circles.append(sorted(found))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return sorted(circles)


def test_no_import_circles() -> None:
    graph = {_module_name(path): {target for _, target in _imports(path)} for path in SOURCES}
    circles = _circles(graph)
    assert not circles, "import circles (runtime imports, function-level ones included): " + (
        "; ".join(" <-> ".join(circle) for circle in circles)
    )


def test_the_rule_catches_a_circle() -> None:
    """The checker itself: a circle through a function-level import is found, in one layer."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _circles(graph) == [["a", "b", "c"], ["e"]]
    source = "from ._common import echo\ndef f():\n    from ._fleet import ProgressView\n"
    assert _imports(PACKAGE / "cli" / "_common.py", source) == [
        (1, "cli._common"),
        (3, "cli._fleet"),
    ]
