"""Size budgets from STYLE.md: modules under 800 lines (or a docstring line saying why),
functions under 60 lines. The report lists the largest so drift stays visible."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "corral"
MODULE_LIMIT = 800
FUNCTION_LIMIT = 60


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_modules_within_budget() -> None:
    over = []
    for path in ROOT.rglob("*.py"):
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MODULE_LIMIT and "lines" not in doc:
            over.append(f"{path.relative_to(ROOT)}: {lines}")
    assert over == []


def test_functions_within_budget() -> None:
    over = []
    for path in ROOT.rglob("*.py"):
        for func in _functions(ast.parse(path.read_text())):
            body = (func.end_lineno or func.lineno) - func.body[0].lineno + 1
            if body > FUNCTION_LIMIT:
                over.append(f"{path.relative_to(ROOT)}:{func.lineno} {func.name} ({body} lines)")
    assert over == []


def test_function_size_distribution_is_reported() -> None:
    sizes = sorted(
        (f.end_lineno or f.lineno) - f.body[0].lineno + 1
        for path in ROOT.rglob("*.py")
        for f in _functions(ast.parse(path.read_text()))
    )
    median = sizes[len(sizes) // 2]
    p90 = sizes[int(len(sizes) * 0.9)]
    print(f"function bodies: n={len(sizes)} median={median} p90={p90} max={sizes[-1]}")
    assert median < 10
    assert p90 < 30
