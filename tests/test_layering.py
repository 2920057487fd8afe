"""Layering of the package: no import cycle between avanon's subpackages and top-level modules.

Every ``import avanon.X...`` in ``src/avanon`` counts, including imports inside functions (a lazy
import is still a dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "avanon"

# Edges of cycles that other work in progress removes (issue 18); each entry must still exist, so
# the list shrinks as they go. Nothing may be added here.
PENDING: dict[tuple[str, str], str] = {}


def _unit(module: str) -> str | None:
    """``avanon.audio.pii`` -> ``audio``: the subpackage or top-level module a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "avanon" else None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def import_graph() -> dict[str, dict[str, list[str]]]:
    """``{unit: {imported unit: ["module:line", ...]}}`` over ``src/avanon``."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        source = _unit(module)
        if source is None:
            continue
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                targets = [f"{name}.{a.name}" for a in node.names] if name == "avanon" else [name]
            else:
                continue
            for target in targets:
                dest = _unit(target)
                if dest is not None and dest != source:
                    edges.setdefault(source, {}).setdefault(dest, []).append(f"{module}:{node.lineno}")
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(edges) | {d for out in edges.values() for d in out}):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_subpackages():
    edges = import_graph()
    for a, b in PENDING:
        edges.get(a, {}).pop(b, None)
    described = [" / ".join(f"{a} -> {b} ({', '.join(edges[a][b][:2])})" for a in c for b in c if b in edges.get(a, {})) for c in cycles(edges)]
    assert described == []


def test_pending_cycle_edges_still_exist():
    edges = import_graph()
    stale = [edge for edge in PENDING if edge[1] not in edges.get(edge[0], {})]
    assert stale == [], f"remove these from PENDING: {stale}"


def test_text_pii_and_annotations_do_not_import_audio():
    edges = import_graph()
    assert "audio" not in edges.get("annotations", {})
    assert set(edges.get("pii", {})) <= {"detect", "errors"}


def test_evaluation_imports_neither_the_report_nor_the_run():
    """Metrics measure files; the pilot (avanon.pilot) runs studies and evaluates them, the report renders results."""
    assert not {"report", "pipeline", "process", "execute", "pilot"} & set(import_graph().get("evaluate", {}))


def test_media_imports_neither_video_nor_recipe_nor_audio():
    """media/ reads, probes and writes streams; masking, voices and recipes sit above it."""
    assert not {"video", "recipe", "audio", "detect", "process", "execute"} & set(import_graph().get("media", {}))
