"""The ONE table of runtimes: a row per runtime, from which everything else that knows runtimes derives.

Sessions (`sessions.SESSIONS`, `sessions.load_session`), converters (`backends.BACKENDS`), device-profile
validation (`devices`), reachability and versions (`connections`, `host`), what the device agent serves
and accepts (`agent.facts`, `agent.bundle`), export formats (`export.formats`) and `benchmark`'s accepted
files (`pipeline.benchmark`) all read it. Add a runtime with one row (plus its Session class and, when it
can be written from PyTorch, its converter).

Stdlib only, Python 3.8 syntax: the agent imports it on hosts with only numpy and one runtime.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from dcnas_deploy.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    """One runtime: how it is installed, what files it loads and writes, where it runs."""

    name: str
    module: str
    """Import name: whether it is installed (and the agent's probe)."""
    dist: str
    """Distribution whose version provenance records (importlib.metadata)."""
    extra: str
    """The pip extra that installs it: `pip install 'dcnas-deploy[EXTRA]'`."""
    loads: Tuple[str, ...]
    """Model-file suffixes its session loads."""
    writes: Tuple[str, ...]
    """Suffixes its converter writes (runtimes.backends), the first the default."""
    devices: Tuple[str, ...]
    """runtime_device values a device profile may name (litert gpu/nnapi: on a phone, via adb)."""
    session: str
    """Name of its Session class in runtimes.sessions."""
    agent: bool
    """Whether the device agent serves it (torch never: the host's own business)."""


RUNTIMES: Dict[str, Runtime] = {r.name: r for r in [
    Runtime("onnxruntime", "onnxruntime", "onnxruntime", "onnx", (".onnx",), (".onnx",), ("cpu", "cuda"),
            "OnnxRuntimeSession", agent=True),
    Runtime("openvino", "openvino", "openvino", "openvino", (".xml", ".onnx"), (".xml",),
            ("CPU", "GPU", "MYRIAD", "NPU", "AUTO"), "OpenVinoSession", agent=True),
    Runtime("litert", "ai_edge_litert", "ai-edge-litert", "tflite", (".tflite",), (".tflite",), ("cpu", "gpu", "nnapi"),
            "LiteRtSession", agent=True),
    Runtime("torch", "torch", "torch", "all", (".pt2", ".pt"), (".pt2", ".pt"), ("cpu", "cuda"), "TorchFileSession",
            agent=False),
]}
"""runtime name -> Runtime."""

FILE_FORMATS: Dict[str, str] = {".onnx": "ONNX", ".xml": "OpenVINO IR (with its .bin)", ".tflite": "TFLite flatbuffer",
                                ".pt2": "torch.export program", ".pt": "TorchScript"}
"""Model-file suffix -> what it holds."""

AGENT_RUNTIMES: Tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.agent)
"""Runtimes a device agent can serve."""

AGENT_FORMATS: Dict[str, str] = {s: FILE_FORMATS[s] for r in RUNTIMES.values() if r.agent for s in r.loads}
"""Model-file suffixes an agent accepts (what its runtimes load) -> what they hold."""


def get_runtime(name: str) -> Runtime:
    """The row of runtime `name`, or ConfigError listing the known ones."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ConfigError("unknown runtime %r; known: %s" % (name, ", ".join(sorted(RUNTIMES)))) from None


def runtimes_loading(suffix: str) -> List[str]:
    """Names of the runtimes whose sessions load files with this suffix."""
    return sorted(n for n, r in RUNTIMES.items() if suffix.lower() in r.loads)


def model_suffixes() -> List[str]:
    """Every model-file suffix some runtime loads."""
    return sorted({s for r in RUNTIMES.values() for s in r.loads})
