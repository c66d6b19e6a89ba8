"""Every module our code may ever import, read from its source (imports inside functions too)."""

# Lazily imported modules are first imported by whichever request needs them; the warm-up lists
# (mediavault.warmup) must name them all, and tests/test_warmup.py holds them to what this finds.

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

OURS = ("mediavault", "processing")


def _source(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


class _Imports(ast.NodeVisitor):
    """The names of a module's import statements, wherever they are, bar `if TYPE_CHECKING:`."""

    def __init__(self, module: str, package: bool) -> None:
        self.module = module
        self.package = package
        self.found: list[str] = []

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [alias.name for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.module if self.package else self.module.rpartition(".")[0]
            for _ in range(node.level - 1):
                parent = parent.rpartition(".")[0]
            base = f"{parent}.{base}" if base else parent
        self.found.append(base)
        # `from package import name`: the name may be a submodule, imported by the statement.
        self.found += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]


def imports_of(module: str) -> list[str]:
    """What one of our modules imports (candidates `a.b` may be attributes, not modules)."""
    path = _source(module)
    if path is None:
        return []
    visitor = _Imports(module, _is_package(module))
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


def reachable(roots: tuple[str, ...]) -> set[str]:
    """Every import target reachable from the roots through our own modules."""
    seen: set[str] = set()
    targets: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target in imports_of(module):
            targets.add(target)
            if target.partition(".")[0] in OURS and target not in seen and _exists(target):
                todo.append(target)
    return targets | seen


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # `from package import attribute` of a package not a module
        return False


def missing(targets: set[str], loaded: set[str]) -> list[str]:
    """The targets that name a module not loaded (an attribute `a.b` needs `a` loaded)."""
    absent = []
    for target in sorted(targets):
        if target in loaded:
            continue
        parent = target.rpartition(".")[0]
        if parent in loaded and not _exists(target):
            continue  # an attribute of a loaded module, not a module of its own
        if not parent and target not in loaded and not _exists(target):
            continue  # not importable here at all (an optional dependency)
        absent.append(target)
    return absent
