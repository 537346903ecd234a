"""The package's import graph: no cycles, and the layers import downwards only.

The graph is read from the source with :mod:`ast`, so it sees every ``import deblur...`` and
``from deblur... import ...`` statement wherever it stands: at the top of a module, inside a
function (a cycle hidden by a function-level import is still a cycle: the two modules cannot be
understood or tested apart) or under ``if TYPE_CHECKING:`` (an annotation-only import still
states a dependency). An edge goes to the module named; ``from deblur.pkg import name`` goes to
``deblur.pkg.name`` when that is a module, else to the package ``deblur.pkg`` itself. Importing a
submodule also runs its parent packages' ``__init__``; those implicit edges are left out, as
import-graph tools do (pydeps, import-linter), because a package ``__init__`` that re-exports
its submodules would otherwise "cycle" with each of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deblur"

# Modules that hold one method (a way to deblur); evaluation and figures must not need them.
METHOD_MODULES = ("deblur.tvblind", "deblur.baselines", "deblur.singan", "deblur.selfdeblur")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` for every ``deblur`` import in ``root``'s tree."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        edges = graph.setdefault(name, {})
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in files else base)
            for target in targets:
                if target.split(".")[0] == root.name and target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph.get(start, {})))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def _describe(graph, cycle):
    return (
        " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False))
        + f" -> {cycle[-1]}"
    )


def test_deblur_has_no_import_cycle():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + _describe(graph, cycle)


@pytest.mark.parametrize("layer", ["deblur.evaluation", "deblur.figures"])
def test_evaluation_and_figures_import_no_method(layer):
    graph = import_graph()
    bad = [
        f"{module} imports {target} (line {line})"
        for module, edges in graph.items()
        if module == layer or module.startswith(layer + ".")
        for target, line in edges.items()
        if any(target == m or target.startswith(m + ".") for m in METHOD_MODULES)
    ]
    assert not bad, "; ".join(bad)


def test_evaluation_does_not_import_figures():
    graph = import_graph()
    bad = [
        f"{module} imports {target}"
        for module, edges in graph.items()
        if module.startswith("deblur.evaluation")
        for target in edges
        if target.startswith("deblur.figures") or target.startswith("deblur.commands")
    ]
    assert not bad, "; ".join(bad)


def test_settings_modules_stay_light():
    """The CLI builds ``--help`` from these defaults: no pandas, torch or matplotlib on import."""
    code = (
        "import sys, deblur.evaluation.settings, deblur.figures.settings; "
        "print(sorted({'pandas', 'torch', 'matplotlib'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


# the checker itself, on small made-up packages
def _write(tmp_path, files):
    root = tmp_path / "deblur"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in {p.parent for p in root.rglob("*.py")} | {root}:
        (directory / "__init__.py").touch()
    return root


def test_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    root = _write(
        tmp_path,
        {
            "ev/a.py": "from deblur.ev.b import f\n",
            "ev/b.py": "def f():\n    from deblur.ev import a\n    return a\n",
        },
    )
    cycle = find_cycle(import_graph(root))
    assert cycle is not None and set(cycle) == {"deblur.ev.a", "deblur.ev.b"}


def test_checker_resolves_relative_imports_and_accepts_a_dag(tmp_path):
    root = _write(
        tmp_path,
        {"x/a.py": "from .b import g\n", "x/b.py": "import deblur.c\n", "c.py": "X = 1\n"},
    )
    graph = import_graph(root)
    assert graph["deblur.x.a"] == {"deblur.x.b": 1}
    assert graph["deblur.x.b"] == {"deblur.c": 1}
    assert find_cycle(graph) is None
