#!/usr/bin/env python3
"""Structure check for the modules under ``src/`` (run by ``.ci/run``).

Reports, one line per problem as ``path:line: message``, and exits 1 when any:

- a module is longer than ``--max-lines`` (800) lines;
- an import runs from a lower layer to a higher one, per the layer table in
  ``docs/architecture.md`` (the fenced block tagged ``layers``). Every import counts:
  module-level, inside a function, under ``if TYPE_CHECKING:``, and
  ``importlib.import_module("...")`` with a literal name;
- modules import each other in a cycle (one line per strongly connected group);
- a module is in no layer, or the layer table cannot be read.

Imports are read with :mod:`ast`; nothing is imported or executed. Only imports of
modules under ``src/`` are looked at. ``from pkg import name`` is an import of
``pkg.name`` when that is a module, else of ``pkg``. Parent packages that Python
initialises on the way (``pkg/__init__.py`` for ``pkg.mod``) are not counted as arrows.

Usage: ``python tools/check_structure.py [--root DIR] [--src DIR] [--layers FILE]``
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_LINES = 800
LAYER_BLOCK = re.compile(r"^```layers[ \t]*\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True, slots=True)
class Layer:
    rank: int  # 0 is the lowest
    name: str
    patterns: tuple[str, ...]
    line: int  # where the layer is written in the table


@dataclass(frozen=True, slots=True)
class Module:
    name: str  # dotted, e.g. "llmswitch.wire.http"
    path: Path
    is_package: bool


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    line: int
    kind: str  # "module-level" | "function-level" | "TYPE_CHECKING" | "dynamic"


# --------------------------------------------------------------------------- layers


def parse_layers(text: str) -> list[Layer]:
    """The layer table: one ``name: pattern pattern ...`` line per layer, lowest first.

    A pattern is a dotted module name; ``pkg.*`` means ``pkg`` and every module below
    it; other ``*``/``?`` are shell-style wildcards within the name. ``#`` starts a
    comment. Raises ValueError when there is no block or a line is not of that form.
    """
    match = LAYER_BLOCK.search(text)
    if match is None:
        raise ValueError("no ```layers block")
    first_line = text.count("\n", 0, match.start(1)) + 1
    layers: list[Layer] = []
    seen: set[str] = set()
    for offset, raw in enumerate(match.group(1).splitlines()):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, colon, rest = line.partition(":")
        name = name.strip()
        patterns = tuple(rest.split())
        if not colon or not name or not patterns:
            raise ValueError(f"line {first_line + offset}: expected 'name: pattern ...'")
        if name in seen:
            raise ValueError(f"line {first_line + offset}: layer {name!r} appears twice")
        seen.add(name)
        layers.append(Layer(len(layers), name, patterns, first_line + offset))
    if not layers:
        raise ValueError("the ```layers block lists no layer")
    return layers


def _specificity(pattern: str, module: str) -> int | None:
    """How specifically ``pattern`` names ``module`` (higher wins), or None: an exact
    name beats any wildcard; among wildcards the longer literal part wins."""
    if pattern == module:
        return 1_000_000
    if pattern.endswith(".*"):
        base = pattern[:-2]
        if module == base or module.startswith(base + "."):
            return len(base)
        return None
    if fnmatch.fnmatchcase(module, pattern):
        return len(pattern.replace("*", "").replace("?", ""))
    return None


def layer_of(module: str, layers: Sequence[Layer]) -> Layer | None:
    best: tuple[int, Layer] | None = None
    for layer in layers:
        for pattern in layer.patterns:
            score = _specificity(pattern, module)
            if score is not None and (best is None or score > best[0]):
                best = (score, layer)
    return best[1] if best else None


# --------------------------------------------------------------------------- modules


def find_modules(src: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if not all(part.isidentifier() for part in parts):
            continue  # not importable (e.g. a stray "my-script.py")
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
            if not parts:
                continue
        modules[".".join(parts)] = Module(".".join(parts), path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.AST, str]]:
    """Every node below ``node`` with the kind of import it would be."""
    for child in ast.iter_child_nodes(node):
        child_kind = kind
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            child_kind = "function-level" if kind != "TYPE_CHECKING" else kind
        yield child, child_kind
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, "TYPE_CHECKING"
                yield from _walk(stmt, "TYPE_CHECKING")
            for stmt in child.orelse:
                yield stmt, child_kind
                yield from _walk(stmt, child_kind)
            continue
        yield from _walk(child, child_kind)


def _resolve_from(module: Module, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    package = module.name.split(".")
    if not module.is_package:
        package = package[:-1]
    if node.level - 1 > len(package) - 1:
        return None  # goes above the top-level package: Python refuses it too
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dynamic_target(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def _known(name: str, modules: dict[str, Module]) -> str | None:
    """The longest prefix of ``name`` that is a module under src, if any."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: Module, tree: ast.Module, modules: dict[str, Module]) -> list[Edge]:
    edges: list[Edge] = []
    seen: set[Edge] = set()

    def add(target: str | None, line: int, kind: str) -> None:
        if target is None:
            return
        known = _known(target, modules)
        if known is not None and known != module.name:
            edge = Edge(module.name, known, line, kind)
            if edge not in seen:  # "from x import a, b" is one arrow
                seen.add(edge)
                edges.append(edge)

    for node, kind in _walk(tree, "module-level"):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, kind)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            if base is None:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in modules else base, node.lineno, kind)
        elif isinstance(node, ast.Call):
            add(_dynamic_target(node), node.lineno, "dynamic")
    return edges


# --------------------------------------------------------------------------- checks


def _cycles(edges: Sequence[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(groups)


def _shortest_cycle(start: str, group: set[str], edges: Sequence[Edge]) -> list[Edge]:
    """A shortest cycle through ``start`` inside ``group``, as its edges."""
    out: dict[str, list[Edge]] = {}
    for e in sorted(edges, key=lambda e: (e.source, e.target, e.line)):
        if e.source in group and e.target in group:
            out.setdefault(e.source, []).append(e)
    came: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for e in out.get(node, []):
                if e.target == start:
                    path = [e]
                    while path[0].source != start:
                        path.insert(0, came[path[0].source])
                    return path
                if e.target not in came:
                    came[e.target] = e
                    following.append(e.target)
        frontier = following
    return []  # unreachable for a strongly connected group


def check(root: Path, src: Path, layers_file: Path, max_lines: int = MAX_LINES) -> list[str]:
    """All problems, as ``path:line: message`` lines (paths relative to ``root``)."""

    def where(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()

    problems: list[str] = []
    try:
        layers: list[Layer] | None = parse_layers(layers_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{where(layers_file)}:1: cannot read the layer table: {exc}")
        layers = None

    modules = find_modules(src)
    edges: list[Edge] = []
    for module in modules.values():
        text = module.path.read_text(encoding="utf-8")
        count = len(text.splitlines())
        if count > max_lines:
            problems.append(
                f"{where(module.path)}:{max_lines + 1}: {count} lines, over the "
                f"{max_lines}-line limit"
            )
        try:
            tree = ast.parse(text, filename=str(module.path))
        except SyntaxError as exc:
            problems.append(f"{where(module.path)}:{exc.lineno or 1}: cannot parse: {exc.msg}")
            continue
        edges.extend(imports_of(module, tree, modules))
        if layers is not None and layer_of(module.name, layers) is None:
            problems.append(f"{where(module.path)}:1: {module.name} is in no layer of the table")

    if layers is not None:
        for e in sorted(edges, key=lambda e: (modules[e.source].path, e.line, e.target)):
            here, there = layer_of(e.source, layers), layer_of(e.target, layers)
            if here is not None and there is not None and there.rank > here.rank:
                problems.append(
                    f"{where(modules[e.source].path)}:{e.line}: upward import ({e.kind}): "
                    f"{e.source} (layer {here.rank + 1} {here.name}) imports "
                    f"{e.target} (layer {there.rank + 1} {there.name})"
                )

    for group in _cycles(edges):
        path = _shortest_cycle(group[0], set(group), edges)
        chain = " -> ".join([*(e.source for e in path), path[0].source])
        kinds = sorted({e.kind for e in path})
        extra = f"; {len(group)} modules in the cycle group: {', '.join(group)}"
        problems.append(
            f"{where(modules[path[0].source].path)}:{path[0].line}: import cycle: {chain} "
            f"({', '.join(kinds)}){extra if len(group) > len(path) else ''}"
        )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--src", type=Path, help="default: ROOT/src")
    parser.add_argument("--layers", type=Path, help="default: ROOT/docs/architecture.md")
    parser.add_argument("--max-lines", type=int, default=MAX_LINES)
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    src = (args.src or root / "src").resolve()
    layers_file = (args.layers or root / "docs" / "architecture.md").resolve()
    problems = check(root, src, layers_file, args.max_lines)
    for problem in problems:
        print(problem)
    if problems:
        print(f"structure check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
