"""Arrows point down (issue 18): every `dcnas_deploy` import, also the lazy ones inside functions, goes to a lower
layer, so there is no import cycle between packages and no library code reaches up into the CLI."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dcnas_deploy"

LAYERS: List[set] = [
    {"__init__", "errors"},
    {"fileio", "terminal"},
    {"datadirs", "space", "data"},
    {"model", "upsamplers", "predictor"},
    {"runtimes", "agent"},
    {"lut"},
    {"costs"},
    {"presets"},
    {"train"},
    {"search", "export"},
    {"pipeline"},
    {"cli"},
    {"__main__"},
]
SAME_LAYER = {("runtimes", "agent"), ("agent", "runtimes")}
"""The one pair that shares a layer: the agent serves runtimes.files sessions; runtimes.agent_client speaks
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
