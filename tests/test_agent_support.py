"""Support for the agent tests (no tests here): small ONNX models built with onnx.helper, and a
real agent process on loopback.

The agent runs with torch, typer, rich and yaml blocked from import (a sitecustomize on
PYTHONPATH), so every test against it also shows that the device side needs none of them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"
BLOCKED = ("torch", "typer", "rich", "yaml", "matplotlib", "scipy", "PIL")

_BLOCKER = textwrap.dedent('''
    import sys
    BLOCKED = %s

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError("blocked for the agent test: " + name)
            return None

    sys.meta_path.insert(0, _Block())
''')


def blocked_env(tmp: Path, also: tuple = ()) -> Dict[str, str]:
    """Environment whose Python processes cannot import torch/typer/rich/yaml/... (and `also`)."""
    site = tmp / "blocker"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER % (repr(BLOCKED + tuple(also)),))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("DCNAS_AGENT_TOKEN", None)
    return env


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------

def conv_model(path: Path, channels: int, size: int, kernel: int = 3) -> Path:
    """A single Conv (channels -> channels, k x k, same padding) on a 1 x C x size x size input."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(channels * 1000 + size)
    w = numpy_helper.from_array(rng.standard_normal((channels, channels, kernel, kernel)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[kernel // 2] * 4)
    graph = helper.make_graph([node], "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, size, size])],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def dynamic_add_model(path: Path) -> Path:
    """y = x + x with a dynamic input shape (needs shapes from the caller)."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Add", ["x", "x"], ["y"])
    graph = helper.make_graph([node], "add",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def hanging_model(path: Path) -> Path:
    """A Loop of 2**62 iterations: a genuine runtime that never returns in a test's lifetime."""
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
        "hang",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [helper.make_tensor("trips", TensorProto.INT64, [], [2 ** 62]),
         helper.make_tensor("cond", TensorProto.BOOL, [], [True])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------------------------
# a running agent
# --------------------------------------------------------------------------------------------

class RunningAgent:
    """An agent subprocess on 127.0.0.1 with a free port; stopped by `stop()`."""

    def __init__(self, tmp: Path, *args: str, token: str = TOKEN, runtime: str = "onnxruntime",
                 python: str = sys.executable):
        tmp.mkdir(parents=True, exist_ok=True)
        self.token_file = tmp / "agent.token"
        self.token_file.write_text(token + "\n")
        os.chmod(self.token_file, 0o600)
        self.token = token
        self.log = tmp / "agent.log"
        cmd = [python, "-m", "dcnas_deploy.agent", "--port", "0", "--token-file", str(self.token_file),
               "--runtime", runtime, *args]
        self.tmpdir = tmp / "agent-tmp"  # the agent's private upload dirs are made in here
        self.tmpdir.mkdir(exist_ok=True)
        env = blocked_env(tmp)
        env["TMPDIR"] = str(self.tmpdir)
        self._log_fh = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log_fh, env=env,
                                     cwd=str(tmp), universal_newlines=True)
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout_s: float = 90.0) -> str:
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                return m.group(1)
        self.stop()
        raise RuntimeError("agent did not start; its log:\n" + self.log.read_text())

    def request(self, method: str, path: str, body: Optional[bytes] = None, token: Optional[str] = "default",
                headers: Optional[Dict[str, str]] = None, timeout: float = 120.0):
        """(status, parsed JSON body) of one request; token None sends no Authorization header."""
        h = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            h.setdefault("Content-Type", "application/zip")
        req = urllib.request.Request(self.url + path, data=body, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def health(self) -> Dict:
        """GET /health, asserting 200."""
        status, body = self.request("GET", "/health", token=None, timeout=10)
        assert status == 200, body
        return body

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log_fh.close()


def bundle_for(files: List[Path], protocol: Optional[Dict] = None, runtime: str = "onnxruntime",
               options: Optional[Dict] = None, timeout_s: Optional[float] = None,
               inputs: Optional[List] = None) -> bytes:
    """A /measure bundle for local files (QUICK protocol unless given)."""
    from dcnas_deploy.agent.bundle import Manifest, ModelEntry, build_bundle
    from dcnas_deploy.runtimes.protocol import QUICK

    entries = [ModelEntry(f.name, None, (inputs or [None] * len(files))[i]) for i, f in enumerate(files)]
    manifest = Manifest(runtime, entries, options or {"threads": 1}, protocol or QUICK.to_dict(), timeout_s)
    return build_bundle(manifest, {f.name: f.read_bytes() for f in files})


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> RunningAgent:
    """One onnxruntime agent (2 MB upload limit) shared by a test module."""
    running = RunningAgent(tmp_path_factory.mktemp("agent"), "--max-upload-mb", "2", "--timeout-s", "60")
    yield running
    running.stop()


def crc_broken_bundle() -> bytes:
    """A /measure bundle whose model entry fails its CRC-32 check (one byte flipped after zipping)."""
    import io
    import json
    import zipfile

    from dcnas_deploy.agent.bundle import MANIFEST

    payload = b"\x08\x01" + bytes(range(256)) * 4  # an ONNX-looking protobuf head
    manifest = {"runtime": "onnxruntime", "models": [{"file": "m.onnx"}]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        zf.writestr("m.onnx", payload)
    data = bytearray(buf.getvalue())
    at = bytes(data).find(payload) + 100
    data[at] ^= 0xFF  # one flipped byte in the stored model: its CRC-32 no longer matches
    return bytes(data)
