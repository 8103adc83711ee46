"""The import graph of ``medxai_desktop``: every import statement, at module level and inside
functions, resolved to the package's own modules. ``python -m tests.import_graph`` prints the
number of modules, internal imports, the cycles (strongly connected components of more than one
module, or a module importing itself) and the layer rule violations; tests/test_architecture.py
fails on any of them."""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "medxai_desktop"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# (importer prefix, forbidden target prefix, why)
LAYER_RULES = [
    ("medxai_desktop.core", "medxai_desktop.app", "core never imports the Qt front end"),
    ("medxai_desktop.core", "medxai_desktop.cli", "core never imports the command-line front end"),
    ("medxai_desktop.core", "medxai_desktop.self_test", "core never imports the self-test"),
    ("medxai_desktop.app", "medxai_desktop.cli", "the two front ends do not know each other"),
    ("medxai_desktop.cli", "medxai_desktop.app", "the two front ends do not know each other"),
    ("medxai_desktop.self_test", "medxai_desktop.app", "the self-test checks core only"),
    ("medxai_desktop.self_test", "medxai_desktop.cli", "the self-test checks core only"),
]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _import_targets(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names one import statement loads: ``import a.b`` -> a.b; ``from P import n`` ->
    P.n where that is a module, else P."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            yield f"{prefix}.{alias.name}"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported internal module: first line}, imports inside functions included."""
    modules = module_files(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            for name in _import_targets(node, module, path.name == "__init__.py"):
                target = _resolve(name, modules) if name.startswith(PACKAGE) else None
                if target and target != module:
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for module, edges in graph.items():
        for target, line in edges.items():
            for source, forbidden, why in LAYER_RULES:
                if _within(module, source) and _within(target, forbidden):
                    found.append(f"{module}:{line} imports {target} ({why})")
    return sorted(found)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def main() -> int:
    graph = import_graph()
    loops = cycles(graph)
    broken = layer_violations(graph)
    print(f"{len(graph)} modules, {sum(len(e) for e in graph.values())} internal imports, "
          f"{len(loops)} cycles, {len(broken)} layer violations")
    for loop in loops:
        print(f"cycle of {len(loop)}: " + ", ".join(loop))
    for line in broken:
        print(f"layer: {line}")
    return 1 if loops or broken else 0


if __name__ == "__main__":
    sys.exit(main())
