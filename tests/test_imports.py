"""The library's import graph (every import, at module level or inside a
function): no cycles, nothing of the workflow, no import of the whole
package from inside it, and config validation without the engine."""
import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "fwi_core"
ENGINE = {"kernels", "propagation", "gradient", "checkpointing", "boundaries", "acquisition", "grid"}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for f in PKG.glob("*.py"):
        mod = f.stem
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    deps.update([node.module] if node.module else [a.name for a in node.names])
                elif node.level == 0 and node.module and node.module.startswith("fwi_core"):
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith(("fwi_core", "workflow")))
        graph[mod] = {d.split(".")[0] for d in deps}
    return graph


def test_no_module_imports_the_package_or_the_workflow():
    bad = {m: sorted(d for d in deps if d.startswith(("fwi_core", "workflow", "snakemake")))
           for m, deps in _graph().items()}
    assert not {m: d for m, d in bad.items() if d}, bad


def test_import_graph_has_no_cycles():
    graph = {m: {d for d in deps if d in _graph()} for m, deps in _graph().items() if m != "__init__"}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _closure(mod: str) -> set[str]:
    graph, seen, todo = _graph(), set(), [mod]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_config_does_not_import_the_engine():
    assert not (_closure("config") & ENGINE), _closure("config")
    code = ("import sys, fwi_core.config as c; c.load_schema(); "
            "bad = [m for m in ('numba', 'scipy', 'fwi_core.kernels', 'fwi_core.propagation') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
