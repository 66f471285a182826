"""The package's shape (docs/architecture.md): a core that imports no Kedro, and no import cycle.

Only the Kedro layer (``samlab.io``, ``samlab.pipelines``, ``samlab.hooks``, ``samlab.settings``,
``samlab.pipeline_registry``, ``samlab.__main__``) may import Kedro; every other module of ``src/samlab`` is
core. Cycles are found on the module graph read from the source (every ``import`` statement, lazy ones inside
functions included, ``if TYPE_CHECKING:`` blocks excluded; importing ``a.b.c`` runs ``a`` and ``a.b`` first, so
it counts as importing them too).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

SRC = REPO / "src"
KEDRO_LAYER = (
    "samlab.io",
    "samlab.pipelines",
    "samlab.hooks",
    "samlab.settings",
    "samlab.pipeline_registry",
    "samlab.__main__",
)
FRAMEWORKS = ("kedro", "kedro_datasets", "kedro_viz", "dvc")
# The one upward edge, lazy by design (docs/architecture.md, "Validation"): ``samlab.train.train`` checks its
# inputs with the project's validator (``samlab.config``), which in turn reads the loop's ``TrainConfig`` and the
# other layers' registries. It is allowed only as an import inside a function of the loop, never at import time.
LAZY_UPWARD = {("samlab.train.loop", "samlab.config")}


def modules(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """Module name → (file, is a package's ``__init__``) for every module under ``src/samlab``."""
    out = {}
    for path in sorted((src / "samlab").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def is_core(name: str) -> bool:
    return not any(name == layer or name.startswith(layer + ".") for layer in KEDRO_LAYER)


def _runtime_imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping ``if TYPE_CHECKING:`` bodies (they never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _in_functions(tree: ast.AST) -> set[int]:
    """ids of the import nodes that sit inside a function body (they run when the function is called)."""
    return {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }


def _allowed(name: str, target: str, lazy: bool) -> bool:
    return lazy and any(name == src and (target == dst or target.startswith(dst + ".")) for src, dst in LAZY_UPWARD)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    mods = modules(src)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for name, (path, is_package) in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        lazy = _in_functions(tree)
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package, one level up per extra dot
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in targets:
                target = known(target) if target.startswith("samlab") else None
                if target and _allowed(name, target, id(node) in lazy):
                    continue
                while target and target != name:
                    if not name.startswith(target + "."):  # one's own enclosing packages are already running
                        graph[name].add(target)
                    target = target.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
    return found


def test_no_import_cycle_in_samlab():
    found = cycles(import_graph())
    assert not found, "import cycles (move the shared code down a layer, docs/architecture.md):\n" + "\n".join(
        " ↔ ".join(c) for c in found
    )


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import(tmp_path):
    pkg = tmp_path / "samlab"
    (pkg / "optim").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "optim" / "__init__.py").write_text("from samlab.optim.factory import build\n")
    (pkg / "optim" / "factory.py").write_text("def build():\n    from samlab.analysis import effect\n")
    (pkg / "analysis.py").write_text(
        "from typing import TYPE_CHECKING\nfrom samlab.optim import build\n"
        "if TYPE_CHECKING:\n    from samlab import nothing\n"
    )
    assert cycles(import_graph(tmp_path)) == [["samlab.analysis", "samlab.optim", "samlab.optim.factory"]]
    (pkg / "optim" / "factory.py").write_text("def build():\n    pass\n")
    assert cycles(import_graph(tmp_path)) == []


_FIRST_IMPORTER = """
import importlib, json, sys
first = {}
for name in sys.argv[2:]:
    importlib.import_module(name)
    first.update({fw: name for fw in sys.argv[1].split(",") if fw in sys.modules and fw not in first})
print(json.dumps(first))
"""


def frameworks_loaded(*groups: list[str]) -> list[dict[str, str]]:
    """Import each group's modules in order, each group in its own fresh interpreter (run side by side):
    per group, framework → the first module that loaded it."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_IMPORTER, ",".join(FRAMEWORKS), *names],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(SRC)},
        )
        for names in groups
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-4000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_the_core_imports_no_kedro_in_a_fresh_interpreter():
    core = sorted(name for name in modules() if is_core(name))
    assert {
        "samlab.optim",
        "samlab.train",
        "samlab.data",
        "samlab.models",
        "samlab.evaluate",
        "samlab.analysis",
        "samlab.reporting",
    } <= set(core)
    in_core, control = frameworks_loaded(core, ["samlab.optim", "samlab.io"])
    assert in_core == {}, f"core modules that load a framework (first importer named): {in_core}"
    assert control == {"kedro": "samlab.io"}  # the same check does see Kedro where it is imported
