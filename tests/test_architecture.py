"""The architecture a newcomer sees from the tree, checked from the source with ``ast``.

- No import cycles among the modules of ``sweep`` and ``kernels``, function-level
  imports included (imports under ``if TYPE_CHECKING:`` do not run and do not count).
- ``kernels`` never imports Dask, Zarr or xarray.
- Validating a config does not import dask-jobqueue; ``import sweep`` imports
  neither dask-jobqueue, matplotlib, Dask nor xarray (checked in a fresh process).
- No module of ``sweep`` is over MAX_LINES lines without saying why in its
  docstring (a line with "lines" and "because"). kernels/ is not held to it
  here: its long solvers (bp, rs, tap) are being reworked on other branches.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_helpers import env

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sweep", "kernels")
#: A module longer than this holds more than one job unless its docstring says why.
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(f): f for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Absolute names of every module an ``import`` in ``tree`` may load (any depth)."""
    base = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = base.split(".")
                up = up[: len(up) - (node.level - 1)]
                module = ".".join(up + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # the module itself, or its submodule when one of that name exists
            found.update(f"{module}.{alias.name}" for alias in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return found


def internal_graph() -> dict[str, set[str]]:
    """Module -> the modules of sweep/kernels it imports (a name resolves to its module)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for target in imported(ast.parse(path.read_text(), str(path)), name,
                               path.name == "__init__.py"):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_relative_imports_are_edges():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
                     "def f():\n    from ..c import d\n    import e.f\n")
    found = imported(tree, "pkg.sub.a", is_package=False)
    assert {"pkg.c.d", "e.f"} <= found and not any(f.startswith("pkg.sub.b") for f in found)


def test_no_import_cycles_in_sweep_or_kernels():
    graph = internal_graph()
    assert len(graph) > 30 and graph["sweep.api"], "the graph must cover the packages"
    assert cycles(graph) == []


def test_kernels_import_no_dask_zarr_or_xarray():
    for name, path in modules().items():
        if not name.startswith("kernels"):
            continue
        roots = {m.split(".")[0] for m in imported(ast.parse(path.read_text()), name,
                                                    path.name == "__init__.py")}
        assert not roots & {"dask", "distributed", "zarr", "xarray", "sweep"}, name


def test_long_modules_say_why():
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if len(lines) > MAX_LINES:
            assert any("lines" in line and "because" in line for line in doc.splitlines()), (
                f"{name}: {len(lines)} lines; split it, or say in its docstring why it is "
                "one module")


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import sweep", ("dask_jobqueue", "matplotlib", "dask", "xarray", "zarr")),
        ("import sweep; sweep.run; sweep.status; sweep.dry_run; sweep.open_results",
         ("dask_jobqueue", "matplotlib")),
        ("from sweep.config import parse_spec; from test_spec import VALID; import tomllib; "
         "parse_spec(tomllib.loads(VALID))", ("dask_jobqueue", "matplotlib", "distributed")),
    ],
)
def test_light_imports(code, absent):
    """Measured in a fresh interpreter: what importing and validating load."""
    probe = f"{code}; import sys; print(sorted(set({list(absent)!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env(), cwd=Path(__file__).parent, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_package_is_shipped():
    """pyproject lists the packages explicitly: a sub-package missing there is missing
    from every install but an editable one."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    packages = {module_name(init) for pkg in PACKAGES for init in (ROOT / pkg).rglob(
        "__init__.py")}
    assert "sweep.cluster" in packages
    assert packages <= listed, sorted(packages - listed)
