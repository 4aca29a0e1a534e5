"""Host provenance (CPU model, cores, OS, Python, runtime versions, GPU) for LUT headers and reports.

Torch-free and Python 3.8 compatible: the device agent reports its host with it too.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from typing import Any, Dict, Iterable, Optional

from dcnas_deploy.runtimes.sessions import runtime_version
from dcnas_deploy.runtimes.table import RUNTIMES
from dcnas_deploy.runtimes.fingerprint import local_cpu


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and value.strip():
                    fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    for key in ("model name", "hardware", "processor", "cpu model"):  # x86, Android/ARM, MIPS
        if key in fields and not fields[key].isdigit():
            return fields[key]
    return platform.processor() or platform.machine() or "unknown"


def gpu_name() -> Optional[str]:
    """Name of the first NVIDIA GPU (torch if already imported, else nvidia-smi), or None."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return str(torch.cuda.get_device_name(0))
        except Exception:
            pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=10)
            names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
            if out.returncode == 0 and names:
                return names[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def host_info(runtimes: Iterable[str] = tuple(RUNTIMES), threads: Optional[int] = None) -> Dict[str, Any]:
    """Provenance of this host: CPU (with the facts that decide its speed), cores, OS, versions, GPU, threads."""
    info: Dict[str, Any] = {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": runtime_version("numpy"),
        "runtimes": {r: runtime_version(r) for r in runtimes},
        "gpu": gpu_name(),
        "cpu_facts": local_cpu(),
    }
    if threads is not None:
        info["threads"] = int(threads)
    return info
