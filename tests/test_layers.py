"""The runtime's imports, drawn from the source: no circles, and nothing below the CLI reaches up.

Every ``import`` of a ``stream`` module counts, at the top of a file or inside a function, since
a lazy import is still an arrow. The layers read from the folder names: source → faces → codes
→ labels → publish, the assembly above them (``stream.assemble``), the commands on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

STREAM = Path(__file__).resolve().parents[1] / "stream"
CLI_LAYER = ("stream.cli", "stream.commands", "stream.__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(STREAM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in STREAM.rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The ``stream`` modules ``path`` imports; ``from a import b`` is ``a.b`` where that is one."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("stream")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stream"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return found & set(known)


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def is_package_init(name: str, target: str) -> bool:
    """A package's ``__init__`` importing its own members is not an arrow between layers."""
    return (STREAM.parent / Path(*name.split(".")) / "__init__.py").exists() and target.startswith(
        name + "."
    )


def test_no_import_circles() -> None:
    edges = graph()
    without_inits = {
        name: {t for t in targets if not is_package_init(name, t)}
        for name, targets in edges.items()
    }
    assert cycles(without_inits) == []


def test_nothing_below_the_cli_imports_it() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if not name.startswith(CLI_LAYER)
        for target in targets
        if target.startswith(CLI_LAYER)
    )
    assert upward == []


def test_the_checks_see_real_arrows() -> None:
    edges = graph()
    assert "stream.assemble" in edges["stream.commands.run"]
    assert "stream.assemble" in edges["stream.site.camera"]  # a lazy import counts too
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_benchmarks_list_every_benchmark_with_what_it_writes() -> None:
    from benchmarks.__main__ import WRITES, catalogue

    listed = {name: writes for rows in catalogue().values() for name, _, writes in rows}
    assert set(WRITES) <= set(listed)  # nothing described that is not there
    runnable = {name for name in listed if not name.startswith("common.")}
    assert runnable == set(WRITES)  # every benchmark says what it writes
    assert all(measures for rows in catalogue().values() for _, measures, _ in rows)
