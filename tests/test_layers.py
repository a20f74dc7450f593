"""The package's layers: every import points down or sideways, and no modules import each
other in a loop. Read from the source with `ast`; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "schema_audit"

# Each top-level module or folder of the package, by layer; a module imports only from its
# own layer or those below it (docs/how-to/develop.md, "Layers").
LAYERS = [
    {
        "exceptions",
        "remedies",
        "conf",
        "keys",
        "records",
        "db",
        "csv_safe",
        "models",
        "migrations",
        "embedded",
    },
    {"files"},
    {"ledger"},
    {"integrity"},
    {"engine"},
    {"api"},
    {"cli", "admin", "signals", "test_databases", "operations"},
    {"management", "apps", "checks"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = ["schema_audit", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The schema_audit modules an import statement names (a name imported from a package
    counts as its module when it is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("schema_audit")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    if not source.startswith("schema_audit"):
        return []
    found = []
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        found.append(candidate if candidate in known else source)
    return found


def _top_level_imports(tree: ast.Module) -> list[ast.AST]:
    """Import statements run when the module loads: at its top, or in a top-level `if` or
    `try` (`if TYPE_CHECKING:` included), not inside functions."""
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            pending += node.body + node.orelse + getattr(node, "finalbody", [])
            pending += [n for handler in getattr(node, "handlers", []) for n in handler.body]
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in _top_level_imports(tree):
            targets.update(_imported(node, module, path.name == "__init__.py", set(modules)))
        graph[module] = targets - {module}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "conf"  # the package's __init__: the bottom


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return loops


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()


def test_every_top_level_module_has_a_layer(graph):
    """A new module or folder is placed in LAYERS before it can import anything."""
    unplaced = sorted({_layer(m) for m in graph} - RANK.keys())
    assert not unplaced, f"give these a layer in tests/test_layers.py: {unplaced}"


def test_no_import_points_up(graph):
    """A module imports only from its own layer or a lower one."""
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in sorted(targets)
        if RANK.get(_layer(target), 0) > RANK.get(_layer(module), 0)
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_loop(graph):
    """No modules import each other, directly or round a longer loop."""
    assert not _loops(graph), f"import loops: {_loops(graph)}"


def test_the_check_sees_a_loop_and_an_upward_import():
    """The checks above fail when they should: a planted loop and an upward import."""
    planted = {
        "schema_audit.engine.a": {"schema_audit.engine.b"},
        "schema_audit.engine.b": {"schema_audit.engine.a", "schema_audit.api"},
    }
    assert _loops(planted) == [["schema_audit.engine.a", "schema_audit.engine.b"]]
    assert RANK[_layer("schema_audit.api")] > RANK[_layer("schema_audit.engine.b")]
