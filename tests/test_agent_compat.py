"""The agent side stays installable on a device host: no torch/typer/rich/yaml, Python 3.8 syntax."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from test_agent_support import REPO, blocked_env

AGENT_ENTRY_MODULES = ("dcnas_deploy.agent.cli", "dcnas_deploy.agent.server", "dcnas_deploy.agent.worker",
                       "dcnas_deploy.agent.facts", "dcnas_deploy.agent.__main__")

_PY39_PLUS_ATTRS = {"removeprefix", "removesuffix", "is_relative_to", "with_stem", "readlink", "randbytes",
                    "BooleanOptionalAction", "cache", "lcm", "bit_count", "pairwise", "to_thread"}
"""Stdlib names that first appeared after Python 3.8 (attribute or function use is flagged)."""
_BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def _agent_side_modules(tmp_path) -> dict:
    """Every dcnas_deploy module the agent and its worker import, found by importing them torch-blocked."""
    code = ("import importlib, json, sys\n"
            f"for m in {AGENT_ENTRY_MODULES!r}:\n"
            "    importlib.import_module(m)\n"
            "import dcnas_deploy.runtimes.sessions, dcnas_deploy.agent.bundle\n"
            "print(json.dumps({m: getattr(sys.modules[m], '__file__', None) for m in sys.modules "
            "if m.startswith('dcnas_deploy')}))\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'typer', 'rich', 'yaml'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=blocked_env(tmp_path),
                          cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    return {m: f for m, f in json.loads(lines[-2]).items() if f}


def test_agent_imports_without_torch_typer_rich_yaml(tmp_path):
    modules = _agent_side_modules(tmp_path)
    assert "dcnas_deploy.agent.worker" in modules and "dcnas_deploy.runtimes.sessions" in modules
    proc = subprocess.run([sys.executable, "-m", "dcnas_deploy.agent", "--help"], capture_output=True, text=True,
                          env=blocked_env(tmp_path), cwd=str(tmp_path), timeout=60)
    assert proc.returncode == 0 and "--token-file" in proc.stdout, proc.stderr


def test_agent_without_the_package_installed_runs_from_a_copy(tmp_path):
    """`python -m dcnas_deploy.agent` from a bare source copy (no pip install) parses its options."""
    import shutil

    shutil.copytree(REPO / "dcnas_deploy", tmp_path / "src" / "dcnas_deploy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = blocked_env(tmp_path)
    env["PYTHONPATH"] = env["PYTHONPATH"].replace(str(REPO), str(tmp_path / "src"))
    where = subprocess.run([sys.executable, "-c", "import dcnas_deploy.agent.cli as c; print(c.__file__)"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert where.stdout.strip().startswith(str(tmp_path / "src")), where.stdout + where.stderr
    proc = subprocess.run([sys.executable, "-m", "dcnas_deploy.agent", "--runtime", "tensorflow"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'tensorflow'" in proc.stderr


def test_agent_refuses_to_start_without_its_runtime(tmp_path):
    env = blocked_env(tmp_path, also=("openvino",))
    env["DCNAS_AGENT_TOKEN"] = "a-long-enough-token-0123"
    proc = subprocess.run([sys.executable, "-m", "dcnas_deploy.agent", "--port", "0", "--runtime", "openvino"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 2
    assert "['openvino'] cannot load" in proc.stderr and "pip install" in proc.stderr


def _py39_plus_uses(tree: ast.AST, has_future_annotations: bool) -> list:
    problems = []
    annotation_nodes = set()
    for node in ast.walk(tree):
        for ann in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if ann is not None:
                annotation_nodes.update(id(n) for n in ast.walk(ann))
    for node in ast.walk(tree):
        in_annotation = id(node) in annotation_nodes
        if isinstance(node, ast.Attribute) and node.attr in _PY39_PLUS_ATTRS:
            problems.append(f"line {node.lineno}: .{node.attr} (Python >= 3.9)")
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in _BUILTIN_GENERICS:
            if not (in_annotation and has_future_annotations):
                problems.append(f"line {node.lineno}: {node.value.id}[...] at run time (Python >= 3.9)")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and in_annotation and not has_future_annotations:
            problems.append(f"line {node.lineno}: X | Y annotation without `from __future__ import annotations`")
        if isinstance(node, ast.Call) and any(k.arg == "strict" for k in node.keywords) \
                and isinstance(node.func, ast.Name) and node.func.id == "zip":
            problems.append(f"line {node.lineno}: zip(strict=...) (Python >= 3.10)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2 and isinstance(node.args[1], ast.BinOp):
            problems.append(f"line {node.lineno}: isinstance(x, A | B) (Python >= 3.10)")
    return problems


def test_agent_side_code_is_python38_compatible(tmp_path):
    problems = {}
    for module, path in sorted(_agent_side_modules(tmp_path).items()):
        source = Path(path).read_text()
        tree = ast.parse(source, filename=path, feature_version=(3, 8))  # match, except*, ... fail here
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                     and any(a.name == "annotations" for a in n.names) for n in tree.body)
        found = _py39_plus_uses(tree, future)
        if found:
            problems[module] = found
    assert problems == {}


def test_compat_checker_catches_what_it_claims():
    """The checker above can fail: feed it code that only runs on newer Pythons."""
    newer = "def f(x: int | None) -> list[int]:\n    return [1]\n\ny = 'ab'.removeprefix('a')\nz = dict[str, int]\n"
    found = _py39_plus_uses(ast.parse(newer), has_future_annotations=False)
    assert any("X | Y" in p for p in found) and any("removeprefix" in p for p in found)
    assert any("dict[...]" in p for p in found) and any("list[...]" in p for p in found)
