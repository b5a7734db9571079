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


def _import_graph(package="evaluator"):
    """Module -> the modules of ``package`` it imports, at the top or inside a function (a
    package counts as its ``__init__``; ``from package import module`` as the module)."""
    modules = {}
    for p in sorted((ROOT / package).rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package upwards
                    up = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(up[:len(up) - node.level + 1] + ([base] if base else []))
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycles(graph):
    """The import cycles of ``graph``: its strongly connected components of more than one module
    (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules_and_none_in_a_chain():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_sees_imports_inside_functions():
    graph = _import_graph()
    assert "evaluator.fiscal_tables" in graph["evaluator.reference"]     # imported inside a loader
    assert "evaluator.uncertainty" in graph["evaluator.pipeline"]       # imported inside run()
    assert "evaluator.allocation.model" in graph["evaluator.allocation.solve"]


def test_the_evaluator_has_no_import_cycle():
    assert _cycles(_import_graph()) == []
