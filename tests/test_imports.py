"""The library's import graph (every import, at module level or inside a
function): no cycles, nothing of the workflow, no import of the whole
package from inside it, and config validation without the engine."""
import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "fwi_core"
#: Folders and the folders they must never import (dependencies point one way).
NEVER = {
    "config": {"engine", "inversion", "survey", "report"},
    "stencils": {"config", "engine", "inversion", "survey", "report", "traces"},
    "axes": {"config", "engine", "inversion", "survey", "report", "traces", "stencils", "artifacts"},
    "traces": {"config", "engine", "inversion", "survey", "report"},
    "engine": {"config", "inversion", "survey", "report"},
    "inversion": {"report"},
}


def _name(f: Path) -> str:
    parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the fwi_core modules (dotted, packages by name) and outside
    fwi_core/workflow/snakemake names it imports, anywhere in its text."""
    files = {_name(f): f for f in PKG.rglob("*.py")}
    graph = {}
    for mod, f in files.items():
        pkg = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files]
                    deps.update(subs or [target])
                elif node.module and node.module.startswith(("fwi_core", "workflow", "snakemake")):
                    deps.add("!" + node.module)
            elif isinstance(node, ast.Import):
                deps.update("!" + a.name for a in node.names if a.name.startswith(("fwi_core", "workflow", "snakemake")))
        graph[mod] = deps
    return graph


def _folder(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else ""


def test_dependencies_between_folders_point_one_way():
    bad = [f"{m} -> {d}" for m, deps in _graph().items() for d in deps
           if not d.startswith("!") and _folder(d) in NEVER.get(_folder(m), ())]
    assert not bad, bad


def test_no_module_imports_the_package_or_the_workflow():
    bad = {m: sorted(d[1:] for d in deps if d.startswith("!")) for m, deps in _graph().items()}
    assert not {m: d for m, d in bad.items() if d}, bad


def test_import_graph_has_no_cycles():
    full = _graph()
    # package faces (__init__) hand names on and load lazily: the cycles that matter are between files
    faces = {m for m in full if (PKG.parent / m.replace(".", "/") / "__init__.py").exists()}
    graph = {m: {d for d in deps if d in full and d not in faces} for m, deps in full.items() if m not in faces}
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
    assert not {m for m in _closure("fwi_core.config") if _folder(m) == "engine"}, _closure("fwi_core.config")
    code = ("import sys, fwi_core.config as c; c.load_schema(); "
            "bad = [m for m in ('numba', 'scipy', 'fwi_core.engine.backends.cpu2d', 'fwi_core.engine.propagation') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
