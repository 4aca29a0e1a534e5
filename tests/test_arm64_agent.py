"""The agent on an aarch64 userland under qemu-user (issue 28): Debian arm64's Python with numpy and ai-edge-litert's
aarch64 wheels only (no torch; torch/typer/rich/yaml blocked from import), the agent run from this checkout; from this
host `devices`, `benchmark` of a .tflite and a small quick LUT profiled through it. What this verifies is the stack
(the wheels, XNNPACK's ARM kernels, the agent's protocol and bundle format), never ARM speed: the fingerprint must say
the host is emulated, the LUT must be marked so, and search must refuse a budget against it unless allowed.

Needs the root made by `tools/arm64_root.sh` ($DCNAS_ARM64_ROOT, else $XDG_CACHE_HOME or ~/.cache:
dcnas-deploy/arm64-root) and qemu-aarch64; skipped, saying so, without them. Marked slow (`pytest -m slow
tests/test_arm64_agent.py`): everything on the agent's side runs emulated.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_agent_support import RunningAgent, blocked_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CHECK = "import platform, numpy, ai_edge_litert.interpreter; print(platform.machine())"


def arm64_root() -> Path:
    """Where tools/arm64_root.sh puts the root by default."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dcnas-deploy" / "arm64-root"
    return Path(os.environ.get("DCNAS_ARM64_ROOT") or default)


class EmulatedAgent(RunningAgent):
    """A RunningAgent whose start may take minutes (Python, numpy and LiteRT load under emulation)."""

    def _wait_for_url(self, timeout_s: float = 600.0) -> str:
        return super()._wait_for_url(timeout_s)


@pytest.fixture(scope="module")
def arm64_python(tmp_path_factory) -> str:
    """The root's Python wrapper (qemu-aarch64 -L ROOT ...), checked to import numpy and LiteRT as aarch64."""
    root = arm64_root()
    wrapper = root / "usr" / "bin" / "dcnas-python3"
    if shutil.which("qemu-aarch64") is None:
        pytest.skip("qemu-aarch64 not found (Debian/Ubuntu: apt-get install qemu-user)")
    if not wrapper.is_file():
        pytest.skip(f"no arm64 root at {root}: build it with tools/arm64_root.sh (a few minutes, ~230 MB)")
    env = blocked_env(tmp_path_factory.mktemp("arm64-check"))
    out = subprocess.run([str(wrapper), "-c", CHECK], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "aarch64", (
        f"{wrapper} does not run numpy + LiteRT as aarch64 (rebuild with tools/arm64_root.sh): {out.stderr[-800:]}")
    return str(wrapper)


RUN = """
import sys, numpy as np
from ai_edge_litert import interpreter as tfl
it = tfl.Interpreter(model_path=sys.argv[1], num_threads=1, experimental_op_resolver_type=tfl.OpResolverType.AUTO)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.random.default_rng(0).random(tuple(d["shape"])).astype(np.float32))
it.invoke()
np.save(sys.argv[2], it.get_tensor(it.get_output_details()[0]["index"]))
"""
"""One .tflite run once with XNNPACK on a seeded input; its output saved as .npy."""


def _profile(path: Path, agent: RunningAgent) -> Path:
    path.write_text(f"name: {path.stem}\nruntime: litert\nruntime_device: cpu\nprecision: fp32\nthreads: 1\n"
                    f"options: {{xnnpack: true}}\n"
                    f"connection: {{kind: agent, url: '{agent.url}', token_file: '{agent.token_file}', "
                    f"timeout_s: 1800}}\n")
    return path


def test_agent_on_emulated_aarch64_litert_lists_benchmarks_profiles_and_is_marked_emulated(arm64_python, tmp_path,
                                                                                          monkeypatch):
    import numpy as np
    import torch
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.lut.profiler import profile_device
    from dcnas_deploy.pipeline.benchmark import benchmark
    from dcnas_deploy.runtimes.backends import get_backend
    from dcnas_deploy.runtimes.connections import connect
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK
    from dcnas_deploy.search.constraints import ALLOW_EMULATED_OPTION, build_constraints
    from dcnas_deploy.space import SearchSpace

    agent = EmulatedAgent(tmp_path / "agent", "--timeout-s", "1800", runtime="litert", python=arm64_python)
    try:
        devices = tmp_path / "devices"
        devices.mkdir()
        profile = load_device(str(_profile(devices / "arm64-qemu.yaml", agent)))
        conn = connect(profile)
        ok, why = conn.reachable()
        assert ok and "EMULATED" in why, why
        info = conn.info()
        facts = info["cpu_facts"]
        # qemu-user: uname says aarch64 and the root serves an ARM /proc/cpuinfo (a Cortex-A72's, which LiteRT needs),
        # yet the kernel's architecture stays the host's: the emulation is told all the same
        assert info["machine"] == "aarch64" and info["runtimes"]["litert"] and facts["cpu_vendor"] == "ARM"
        on_arm = platform.machine().lower().startswith(("arm", "aarch64"))  # there only the wrapper's declaration tells
        assert facts["emulation"] and (on_arm or f"userland aarch64, kernel {platform.machine()}" in facts["emulation"])

        monkeypatch.setenv("DCNAS_DEVICES", str(devices))
        listed = CliRunner().invoke(app, ["devices", "--json"])
        assert listed.exit_code == 0, listed.output
        [row] = [r for r in json.loads(listed.output)["devices"] if r["name"] == "arm64-qemu"]
        assert row["ok"] and row["connection"] == "agent" and "EMULATED" in row["why"], row

        conv = torch.nn.Conv2d(4, 4, 3, padding=1).eval()
        tflite = get_backend("litert").convert(conv, (torch.rand(1, 4, 32, 32),), tmp_path / "conv.tflite")
        # XNNPACK's ARM kernels compute what the x86 ones do (the agent returns timings only: checked directly)
        for python, out in ((arm64_python, "arm.npy"), (sys.executable, "x86.npy")):
            ran = subprocess.run([python, "-c", RUN, str(tflite), str(tmp_path / out)], capture_output=True,
                                 text=True, timeout=600)
            assert ran.returncode == 0, ran.stderr[-800:]
        assert np.abs(np.load(tmp_path / "arm.npy") - np.load(tmp_path / "x86.npy")).max() < 1e-5

        result = benchmark(tflite, profile, QUICK)
        assert result.timing.median_ms > 0 and result.host["machine"] == "aarch64"
        assert result.host["cpu_facts"]["emulation"]
        shown = CliRunner().invoke(app, ["benchmark", str(tflite), "--device", "arm64-qemu"])
        assert shown.exit_code == 0 and "measured under emulation" in " ".join(shown.output.split()), shown.output

        space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
        lut_path = tmp_path / "arm64-qemu-c4-32x32-x4.yaml"
        lut = profile_device(profile, space, lut_path, calibrate=1, protocol=QUICK)
        assert set(lut.ops) == {op.key for op in space.unique_ops()} and len(lut.ops) >= 10
        assert lut.provenance["fingerprint"]["machine"] == "aarch64"
        assert lut.provenance["emulated"] == facts["emulation"] == lut.emulation

        device = str(devices / "arm64-qemu.yaml")
        with pytest.raises(ConfigError, match=ALLOW_EMULATED_OPTION):
            build_constraints(space, ["1000ms"], [device], luts={device: lut_path})
        [held] = build_constraints(space, ["1000ms"], [device], luts={device: lut_path}, allow_emulated=True)
        assert held.lut is not None and held.lut.emulation
    finally:
        agent.stop()
