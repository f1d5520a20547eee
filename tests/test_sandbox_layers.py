"""The stand-in is layered: state and wire records, then routes, then the app and the server, with no
import cycle at run time and no imports hidden inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent / "standin"


def _runtime_imports(tree: ast.Module) -> tuple[set[str], list[int]]:
    """Sandbox modules imported at module level (outside `if TYPE_CHECKING:`), and the lines of
    imports made inside functions."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("standin"):
            if node.module == "standin":
                found.update(f"standin.{a.name}" for a in node.names)
            else:
                found.add(node.module)
    hidden = [
        inner.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(node)
        if isinstance(inner, (ast.Import, ast.ImportFrom))
    ]
    return found, hidden


def test_the_stand_in_has_no_import_cycle_and_no_hidden_imports():
    graph: dict[str, set[str]] = {}
    hidden: dict[str, list[int]] = {}
    for path in SANDBOX.glob("*.py"):
        name = f"standin.{path.stem}"
        graph[name], lines = _runtime_imports(ast.parse(path.read_text()))
        if lines:
            hidden[path.name] = lines
    assert hidden == {}

    visiting, done = set(), set()

    def visit(module: str, trail: list[str]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join([*trail, module])}"
        if module in done:
            return
        visiting.add(module)
        for dependency in graph.get(module, ()):
            visit(dependency, [*trail, module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])
    # The layers: state and records know no routes; routes know no app or server.
    assert graph["standin.state"] == set()
    assert graph["standin.records"] <= {"standin.state"}
    for route in ("rest", "rest_guild", "interactions", "control_http"):
        assert not graph[f"standin.{route}"] & {"standin.app", "standin.server"}
