"""What a device host reports about itself: host facts, runtimes, their versions and devices.

Stdlib only at module top (Python 3.8); each runtime is imported only when asked about.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence


def _onnxruntime_devices() -> List[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def _openvino_devices() -> List[str]:
    from dcnas_deploy.runtimes.sessions import openvino_core

    _, core = openvino_core()
    out = []
    for device in core.available_devices:
        try:
            out.append("%s (%s)" % (device, core.get_property(device, "FULL_DEVICE_NAME")))
        except Exception:
            out.append(str(device))
    return out


def _litert_devices() -> List[str]:
    from dcnas_deploy.runtimes.sessions import _litert_interpreter_module

    _litert_interpreter_module()
    return ["CPU (XNNPACK or builtin kernels)"]


DEVICE_PROBES: Dict[str, Callable[[], List[str]]] = {
    "onnxruntime": _onnxruntime_devices,
    "openvino": _openvino_devices,
    "litert": _litert_devices,
}
"""runtime -> function listing the devices it can run on here."""


def runtime_facts(runtime: str) -> Dict[str, Any]:
    """Version and devices of one runtime; `available: False` with the reason when it cannot load."""
    from dcnas_deploy.runtimes.sessions import runtime_version

    try:
        devices = DEVICE_PROBES[runtime]()
    except Exception as exc:
        return {"available": False, "version": runtime_version(runtime), "why": "%s: %s" % (type(exc).__name__, exc)}
    return {"available": True, "version": runtime_version(runtime), "devices": devices}


def agent_facts(runtimes: Sequence[str]) -> Dict[str, Any]:
    """Host facts (runtimes.host.host_info) plus the version and devices of each served runtime."""
    from dcnas_deploy.runtimes.host import host_info

    host = host_info(runtimes)
    host.pop("runtimes", None)  # reported per runtime below, with devices
    return {"host": host, "runtimes": {r: runtime_facts(r) for r in runtimes}}
