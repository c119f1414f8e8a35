"""The package order of the README's "How the code is laid out": a package imports only from those above it."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gridsearch"
# The data flow, top to bottom: each may import from the ones before it (and itself), never after.
ORDER = ["errors", "diagnosis", "space", "data", "training", "results", "plans", "backends", "distributed",
         "reports", "serving", "search", "cli"]


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1].removesuffix(".py") if parts[0] == "gridsearch" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported gridsearch package, at module level) of every import outside `if TYPE_CHECKING:`."""
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [f"{child.module}.{a.name}" for a in child.names] if child.module == "gridsearch" else [child.module]
                found.extend((child.lineno, _package(n), top) for n in names if _package(n))
            elif isinstance(child, ast.Import):
                found.extend((child.lineno, _package(a.name), top) for a in child.names if _package(a.name))
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))

    visit(ast.parse(path.read_text()), True)
    return found


def test_every_package_is_in_the_order():
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith("_") and p.name != "__pycache__"}
    assert packages == set(ORDER)


def test_module_level_imports_point_one_way():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        if own not in ORDER:
            continue  # __init__.py and __main__.py of the package itself
        for line, package, top in _imports(path):
            if package in ORDER and ORDER.index(package) > ORDER.index(own) and top:
                wrong.append(f"{path.relative_to(SRC)}:{line} imports {package}")
    assert not wrong, "imports against the data flow:\n" + "\n".join(wrong)
