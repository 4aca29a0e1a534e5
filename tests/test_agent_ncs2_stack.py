"""The agent on the NCS2 host stack (issue 18): Python 3.8 with numpy and OpenVINO 2022.3 only (the last release
with MYRIAD), the agent run from this checkout, a small LUT profiled through it on the CPU plugin, an exported .xml
benchmarked. Skipped, saying why, where no Python 3.8 is found or OpenVINO 2022.3 cannot be installed for it.

The environment is made once and cached ($XDG_CACHE_HOME or ~/.cache: dcnas-deploy/py38-openvino-2022.3).
Marked slow (run with `pytest -m slow tests/test_agent_ncs2_stack.py`): the first run installs OpenVINO 2022.3
from the package index, which `make test`'s 15-minute budget has no room for.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from test_agent_support import RunningAgent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
CHECK = "import sys, numpy, openvino.runtime as ov; print(sys.version_info[:2], ov.get_version())"


def _python38() -> Optional[str]:
    """A working Python 3.8 interpreter: under ~/.pyenv/versions, else python3.8 on PATH (a pyenv shim may not run)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")), reverse=True)
    candidates += [p for p in [shutil.which("python3.8")] if p]
    for exe in candidates:
        try:
            out = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                 text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 8)":
            return exe
    return None


@pytest.fixture(scope="module")
def py38_openvino() -> str:
    """The cached Python 3.8 environment's interpreter (numpy + openvino 2022.3, nothing else)."""
    base = _python38()
    if base is None:
        pytest.skip("no Python 3.8 found (python3.8 on PATH or ~/.pyenv/versions/3.8*): the NCS2 stack needs it")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dcnas-deploy" / "py38-openvino-2022.3"
    python = cache / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", CHECK], capture_output=True).returncode != 0:
        shutil.rmtree(cache, ignore_errors=True)
        made = subprocess.run([base, "-m", "venv", str(cache)], capture_output=True, text=True)
        install = made if made.returncode else subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "numpy<1.25", "openvino==2022.3.*"],
            capture_output=True, text=True, timeout=900)
        if install.returncode != 0:
            shutil.rmtree(cache, ignore_errors=True)
            pytest.skip(f"could not install numpy + openvino 2022.3 for Python 3.8: {install.stderr.strip()[-300:]}")
    version = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, check=True).stdout
    assert "(3, 8)" in version and "2022.3" in version, version
    return str(python)


def _profile(path: Path, agent: RunningAgent) -> Path:
    path.write_text(f"name: {path.stem}\nruntime: openvino\nruntime_device: CPU\nprecision: fp32\nthreads: 1\n"
                    f"connection: {{kind: agent, url: '{agent.url}', token_file: '{agent.token_file}'}}\n")
    return path


def test_agent_on_python38_openvino_2022_3_profiles_a_lut_and_benchmarks_an_ir(py38_openvino, tmp_path):
    import torch

    from dcnas_deploy.lut.profiler import profile_device
    from dcnas_deploy.pipeline.benchmark import benchmark
    from dcnas_deploy.runtimes.backends import get_backend
    from dcnas_deploy.runtimes.connections import connect
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK
    from dcnas_deploy.space import SearchSpace

    # torch, typer, rich, yaml, ... are blocked in the agent's process (and not installed in its environment)
    agent = RunningAgent(tmp_path / "agent", runtime="openvino", python=py38_openvino)
    try:
        profile = load_device(str(_profile(tmp_path / "ncs2-cpu.yaml", agent)))
        conn = connect(profile)
        assert conn.reachable()[0]
        info = conn.info()
        assert info["python"].startswith("3.8") and info["runtimes"]["openvino"].startswith("2022.3")

        space = SearchSpace(width=4, scale=8, hr_size=(32, 32))
        lut = profile_device(profile, space, tmp_path / "lut.yaml", calibrate=1, protocol=QUICK)
        assert set(lut.ops) == {op.key for op in space.unique_ops()}  # every op went as IR and ran on 2022.3
        assert lut.provenance["runtime_version"].startswith("2022.3")

        conv = torch.nn.Conv2d(4, 4, 3, padding=1).eval()
        xml = get_backend("openvino").convert(conv, (torch.rand(1, 4, 32, 32),), tmp_path / "conv.xml")
        result = benchmark(xml, profile, QUICK)
        assert result.timing.median_ms > 0 and result.host["runtimes"]["openvino"].startswith("2022.3")
    finally:
        agent.stop()
