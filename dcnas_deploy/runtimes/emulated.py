"""Run model files as another x86 CPU would: a child process under qemu-user (`qemu-x86_64 -cpu MODEL`).

User-mode emulation makes CPUID report the emulated CPU, so ONNX Runtime and OpenVINO pick that CPU's kernels
(checked: OpenVINO's int8 convolutions become `jit_avx2_I8` instead of `brgconv_avx512_I8` under
Haswell-v4). This is how int8 files are checked for CPUs without VNNI on a host that has it. The child imports
numpy and the runtimes only (no torch), so it starts in seconds even emulated. Needs `qemu-x86_64`
(Debian/Ubuntu: the qemu-user package).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from dcnas_deploy.errors import DcnasError

DEFAULT_CPU = "Haswell-v4"
"""AVX2 + FMA, no AVX-512, no VNNI: the x86 class whose int8 dot products saturate 16-bit intermediates."""

QEMU = "qemu-x86_64"


@dataclass
class FilesRun:
    """What the child saw: per file the first output for each feed, and the CPU and kernels it ran on."""

    outputs: Dict[str, List["object"]]
    """file path -> first output (numpy array) per feed, in feed order."""
    cpu_name: str
    """The CPU name OpenVINO reports (CPUID brand string; '' when no OpenVINO file ran)."""
    kernels: Dict[str, List[str]]
    """OpenVINO file path -> its convolution primitive types (e.g. 'jit_avx2_I8')."""


def qemu_binary() -> Optional[str]:
    """Path of qemu-x86_64, or None when it is not installed."""
    return shutil.which(QEMU)


def run_files(files: Sequence[Tuple[Path, str]], feeds: Sequence[Mapping[str, "object"]],
              cpu: Optional[str] = DEFAULT_CPU, threads: int = 1, timeout_s: float = 600.0,
              env: Optional[Mapping[str, str]] = None) -> FilesRun:
    """Run each (file, runtime) on every feed in a child process, under `qemu-x86_64 -cpu cpu` (None: natively).

    `env`: extra environment for the child, e.g. {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"} (OpenVINO's oneDNN
    then uses AVX-512 kernels without VNNI natively; qemu cannot emulate AVX-512).
    """
    import numpy as np

    prefix: List[str] = []
    if cpu is not None:
        qemu = qemu_binary()
        if qemu is None:
            raise DcnasError(f"{QEMU} not found: install qemu-user to run files as a {cpu} CPU")
        prefix = [qemu, "-cpu", cpu]
    with tempfile.TemporaryDirectory(prefix="dcnas-emulated-") as tmp:
        folder = Path(tmp)
        arrays: Dict[str, Any] = {f"{k}:{name}": np.asarray(a) for k, f in enumerate(feeds) for name, a in f.items()}
        np.savez(folder / "feeds.npz", **arrays)
        manifest: Dict[str, Any] = {"files": [[str(p), rt] for p, rt in files], "n_feeds": len(feeds), "threads": int(threads)}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        child_env = {**os.environ, **(env or {})}
        root = str(Path(__file__).resolve().parents[2])
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH", "")) if p)
        cmd = prefix + [sys.executable, "-m", "dcnas_deploy.runtimes.emulated", str(folder)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env, timeout=timeout_s)
        if proc.returncode != 0:
            raise DcnasError(f"running files as {cpu or 'this CPU'} failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-2000:]}")
        info = json.loads((folder / "info.json").read_text())
        with np.load(folder / "outputs.npz") as out:
            outputs = {p: [out[f"{i}:{k}"] for k in range(len(feeds))] for i, (p, _) in enumerate(manifest["files"])}
    return FilesRun(outputs, info["cpu_name"], info["kernels"])


def _child(folder: Path) -> None:
    """Inside the (emulated) process: load each file, run it on every feed, write outputs and kernels."""
    import numpy as np

    from dcnas_deploy.runtimes.sessions import OpenVinoSession, load_session, openvino_core

    manifest = json.loads((folder / "manifest.json").read_text())
    feeds: List[Dict[str, np.ndarray]] = [{} for _ in range(manifest["n_feeds"])]
    with np.load(folder / "feeds.npz") as d:
        for key in d.files:
            k, name = key.split(":", 1)
            feeds[int(k)][name] = d[key]
    outputs, kernels, cpu_name = {}, {}, ""
    for i, (path, runtime) in enumerate(manifest["files"]):
        session = load_session(path, runtime, {"threads": manifest["threads"]})
        try:
            for k, f in enumerate(feeds):
                outputs[f"{i}:{k}"] = session.run(f)[0]
            if isinstance(session, OpenVinoSession):
                kernels[path] = session.kernels()
                cpu_name = str(openvino_core()[1].get_property("CPU", "FULL_DEVICE_NAME"))
        finally:
            session.close()
    np.savez(folder / "outputs.npz", **outputs)
    (folder / "info.json").write_text(json.dumps({"cpu_name": cpu_name, "kernels": kernels}))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
