"""Arrows point down (issue 18): every `dcnas_deploy` import, also the lazy ones inside functions, goes to a lower
layer, so there is no import cycle between packages and no library code reaches up into the CLI. And the library
leaves its caller's process alone: no matplotlib backend switch, no pyplot, no change to os.environ."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dcnas_deploy"

LAYERS: List[set] = [
    {"__init__", "errors"},
    {"fileio", "terminal", "tasks"},
    {"figures"},
    {"datadirs", "space", "data", "pretrained"},
    {"model", "upsamplers", "predictor"},
    {"runtimes", "agent"},
    {"lut"},
    {"costs"},
    {"presets"},
    {"train"},
    {"search", "export"},
    {"pipeline"},
    {"api"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
SAME_LAYER = {("runtimes", "agent"), ("agent", "runtimes")}
"""The one pair that shares a layer: the agent serves runtimes.sessions sessions; runtimes.agent_client speaks
the agent's bundle format. Neither imports the other's torch side."""
LAYER: Dict[str, int] = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    """dcnas_deploy.lut.table -> 'lut'; dcnas_deploy -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, module) of every dcnas_deploy import in a file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dcnas_deploy":
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dcnas_deploy":
                    yield node.lineno, alias.name


def _source_unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_package_is_in_a_layer():
    units = {_source_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units - set(LAYER) == set(), "add new modules to LAYERS"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_down(path):
    src = _source_unit(path)
    upward = [f"{path.relative_to(REPO)}:{line} imports {mod}" for line, mod in _imports(path)
              if _unit(mod) != src and (_unit(mod), src) not in SAME_LAYER and LAYER[_unit(mod)] >= LAYER[src]]
    assert upward == []


def test_bench_scripts_use_the_library_not_the_cli():
    offenders = [f"{p.name}:{line} imports {mod}" for p in sorted((REPO / "bench").glob("*.py"))
                 for line, mod in _imports(p) if _unit(mod) in ("cli", "__main__")]
    assert offenders == []


ALLOWED = {("dcnas_deploy/train/distributed.py", "os.environ.update"),  # RANK/WORLD_SIZE in the workers it spawns
           ("dcnas_deploy/runtimes/backends.py", "os.environ.update"),  # quiet(): converter defaults, restored
           ("dcnas_deploy/runtimes/backends.py", "os.environ.pop")}


def _process_changes(path: Path) -> Iterator[Tuple[int, str]]:
    """matplotlib.use / pyplot imports, and writes to os.environ, in one file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr == "use" and isinstance(f.value, ast.Name) and f.value.id == "matplotlib":
                yield node.lineno, "matplotlib.use"
            if f.attr in ("update", "setdefault", "pop", "clear", "__setitem__") and ast.unparse(f.value) == "os.environ":
                yield node.lineno, f"os.environ.{f.attr}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.startswith("matplotlib.pyplot") for n in names):
                yield node.lineno, "imports matplotlib.pyplot"
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ" for t in targets):
                yield node.lineno, "writes os.environ[...]"


def test_the_library_leaves_the_callers_backend_and_environment_alone():
    found = [(str(p.relative_to(REPO)), line, what) for p in sorted(PACKAGE.rglob("*.py"))
             for line, what in _process_changes(p)]
    assert [f for f in found if (f[0], f[2]) not in ALLOWED] == []


def test_quiet_restores_the_environment(monkeypatch):
    import os

    from dcnas_deploy.runtimes.backends import quiet

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("LITERT_TORCH_SHOW_PROGRESS", "y")
    with quiet({"TF_CPP_MIN_LOG_LEVEL": "2", "LITERT_TORCH_SHOW_PROGRESS": "n"}):
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        assert os.environ["LITERT_TORCH_SHOW_PROGRESS"] == "y"  # the caller's setting wins
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and os.environ["LITERT_TORCH_SHOW_PROGRESS"] == "y"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _module_graph() -> Dict[str, set]:
    """module -> the dcnas_deploy modules it imports (lazy imports too, not `if TYPE_CHECKING:` ones; `from pkg
    import mod` counts mod)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: Dict[str, set] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                       for stmt in block.body for n in ast.walk(stmt)}  # imports for annotations only
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dcnas_deploy":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[name].add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
        graph[name].discard(name)
    return graph


def _cycles(graph: Dict[str, set]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: set = set()
    out: List[List[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.append(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif child not in graph:
                continue
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_no_import_cycle_between_modules():
    """No two modules import each other, directly or around a loop, not even lazily inside functions."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check can fail
    assert _cycles(_module_graph()) == []
