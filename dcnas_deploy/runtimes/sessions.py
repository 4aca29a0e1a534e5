"""Load a model FILE in one runtime, run it and time it (torch-free).

This module is what a device agent imports on a host that has only numpy and one runtime, so it
keeps Python 3.8 syntax, imports nothing heavy at module top, and imports each runtime lazily
(torch too, for the `torch` runtime only).

Runtimes and their options (every option has a deterministic default; unknown keys are errors):

- ``onnxruntime``: threads, inter_threads, providers, graph_optimization, profile (the node-time profiler on:
  `runtimes.op_profile` reads it; off by default, it slows every run)
- ``openvino``: threads, device (CPU/GPU/MYRIAD/NPU), precision (fp32/fp16/bf16/int8; the
  INFERENCE_PRECISION_HINT is always set from it because some CPUs silently run bf16 otherwise),
  profile (PERF_COUNT per-layer counters, read by `runtimes.op_profile`; off by default)
- ``litert``: threads, xnnpack (True: default delegates incl. XNNPACK; False: builtin kernels only)
- ``torch``: threads, device (cpu/cuda) -- a ``torch.export.save`` file (.pt2) or TorchScript (.pt)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from dcnas_deploy.errors import ConfigError, DcnasError, DeviceError, require
from dcnas_deploy.runtimes.protocol import PairedTiming, Protocol, Timing, measure, measure_paired
from dcnas_deploy.runtimes.table import RUNTIMES, get_runtime

DEFAULT_THREADS = 2
"""Thread count used when a caller gives none (device profiles always give one)."""

COMPUTE_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
"""What a session may be asked to compute in (a device profile's `precision`); export writes FILE_PRECISIONS."""
TORCH_META_NAME = "dcnas_inputs.json"
"""Extra file stored inside torch files: the input names, shapes and dtypes."""

Shape = Tuple[Optional[int], ...]
FeedsOrShapes = Union[Mapping[str, Any], Sequence[Any]]
"""name -> np.ndarray (used as is) or shape (random data of that shape); or a list of those in input order."""


@dataclass(frozen=True)
class InputSpec:
    """One model input: name, shape (None for a dynamic dim) and numpy dtype name."""

    name: str
    shape: Shape
    dtype: str

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-safe)."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "InputSpec":
        """Inverse of to_dict."""
        return cls(str(d["name"]), tuple(None if s is None else int(s) for s in d["shape"]), str(d["dtype"]))


class Session:
    """A model loaded in one runtime: `inputs`, `outputs`, `run(feeds)` and a prepared runner."""

    runtime = ""

    def __init__(self, path: Path, inputs: List[InputSpec], outputs: List[str]):
        self.path = path
        self.inputs = inputs
        self.outputs = outputs

    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run once on numpy feeds (name -> array); returns the outputs as numpy arrays."""
        raise NotImplementedError

    def prepare(self, feeds: Mapping[str, Any]) -> Callable[[], object]:
        """Bind `feeds` once and return a zero-argument callable that runs one inference.

        The callable does as little per-call work as the runtime allows (that is what gets timed).
        """
        return lambda: self.run(feeds)

    def sync(self) -> Optional[Callable[[], None]]:
        """Function that waits for queued device work (CUDA), or None."""
        return None

    def close(self) -> None:
        """Release the runtime objects."""


# --------------------------------------------------------------------------------------------
# option handling
# --------------------------------------------------------------------------------------------

def merge_options(what: str, options: Optional[Mapping[str, Any]], defaults: Mapping[str, Any]) -> Dict[str, Any]:
    """`options` over `defaults` (None keeps the default); ConfigError naming the unknown and the known keys."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {unknown}; known: {sorted(defaults)}")
    merged = dict(defaults)
    merged.update({k: v for k, v in opts.items() if v is not None})
    return merged


def _options(runtime: str, options: Optional[Mapping[str, Any]], defaults: Dict[str, Any]) -> Dict[str, Any]:
    """Merge options over defaults, rejecting unknown keys and bad threads/precision values."""
    merged = merge_options(runtime, options, defaults)
    threads = merged.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ConfigError(f"{runtime} option threads must be a positive integer, got {threads!r}")
    precision = merged.get("precision")
    if precision is not None and precision not in COMPUTE_PRECISIONS:
        raise ConfigError(f"{runtime} option precision must be one of {list(COMPUTE_PRECISIONS)}, got {precision!r}")
    return merged


def _np():
    import numpy as np

    return np


# --------------------------------------------------------------------------------------------
# ONNX Runtime
# --------------------------------------------------------------------------------------------

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
               "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


class OnnxRuntimeSession(Session):
    """ONNX Runtime InferenceSession with fixed intra/inter-op threads and explicit providers."""

    runtime = "onnxruntime"
    DEFAULTS = {"threads": DEFAULT_THREADS, "inter_threads": 1, "providers": ["CPUExecutionProvider"],
                "graph_optimization": "all", "precision": None, "device": None, "profile": False}

    def __init__(self, path: Path, options: Optional[Mapping[str, Any]] = None):
        ort = require("onnxruntime", "onnx")
        opts = _options(self.runtime, options, self.DEFAULTS)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(opts["threads"])
        so.inter_op_num_threads = int(opts["inter_threads"])
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        if opts["graph_optimization"] not in levels:
            raise ConfigError(f"onnxruntime graph_optimization must be one of {sorted(levels)}")
        so.graph_optimization_level = levels[opts["graph_optimization"]]
        so.log_severity_level = 3
        if opts["profile"]:
            import os
            import tempfile

            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "dcnas-ort-profile-%d" % os.getpid())
        providers = list(opts["providers"])
        if opts["device"] and str(opts["device"]).lower().startswith("cuda"):
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise DeviceError(f"onnxruntime provider(s) {missing} not available here; "
                              f"available: {ort.get_available_providers()}")
        self._ort = ort
        self._sess = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        inputs = [InputSpec(i.name, tuple(d if isinstance(d, int) and d >= 0 else None for d in i.shape),
                            _ORT_DTYPES.get(i.type, "float32")) for i in self._sess.get_inputs()]
        super().__init__(path, inputs, [o.name for o in self._sess.get_outputs()])

    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run once."""
        return list(self._sess.run(None, dict(feeds)))

    def prepare(self, feeds: Mapping[str, Any]) -> Callable[[], object]:
        """Feeds made contiguous once; each call is a bare `session.run` (IO binding measured slower here)."""
        np = _np()
        bound = {name: np.ascontiguousarray(arr) for name, arr in feeds.items()}
        sess, names = self._sess, list(self.outputs)
        return lambda: sess.run(names, bound)


# --------------------------------------------------------------------------------------------
# OpenVINO
# --------------------------------------------------------------------------------------------

_OV_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}
"""INFERENCE_PRECISION_HINT per profile precision (int8 models keep their float parts in f32)."""


_OV_CORE: list = []


def openvino_core():
    """(OpenVINO API module, shared Core) across versions (2022.3 LTS keeps both in openvino.runtime)."""
    if not _OV_CORE:
        ov = require("openvino", "openvino")
        if getattr(ov, "Core", None) is None or getattr(ov, "Tensor", None) is None:
            ov = require("openvino.runtime", "openvino")
        _OV_CORE.extend([ov, ov.Core()])
    return _OV_CORE[0], _OV_CORE[1]


def _ov_dtype(element_type) -> str:
    """numpy dtype name of an OpenVINO element type."""
    try:
        return _np().dtype(element_type.to_dtype()).name
    except Exception:  # older bindings
        names = {"f32": "float32", "f16": "float16", "i64": "int64", "i32": "int32", "u8": "uint8",
                 "i8": "int8", "boolean": "bool"}
        return names.get(element_type.get_type_name(), "float32")


class OpenVinoSession(Session):
    """OpenVINO compiled model + one infer request; precision hint and threads always explicit."""

    runtime = "openvino"
    DEFAULTS = {"threads": DEFAULT_THREADS, "device": "CPU", "precision": "fp32", "performance_hint": "LATENCY",
                "profile": False}

    def __init__(self, path: Path, options: Optional[Mapping[str, Any]] = None):
        opts = _options(self.runtime, options, self.DEFAULTS)
        ov, core = openvino_core()
        device = str(opts["device"]).upper()
        if device not in core.available_devices and device.split(".")[0] not in core.available_devices:
            raise DeviceError(f"OpenVINO device {device!r} not available here; available: "
                              f"{core.available_devices} (OpenVINO {_version('openvino')})")
        supported = _ov_supported_properties(core, device)
        config = {}
        hint = _OV_HINTS[opts["precision"]]
        if "INFERENCE_PRECISION_HINT" in supported:
            config["INFERENCE_PRECISION_HINT"] = hint
        elif hint != "f16":
            # e.g. MYRIAD: fp16 only, and it has no precision property to set
            raise ConfigError(f"OpenVINO device {device} has no INFERENCE_PRECISION_HINT; it runs fp16 only, "
                              f"so the profile precision must be fp16, got {opts['precision']}")
        if "INFERENCE_NUM_THREADS" in supported:
            config["INFERENCE_NUM_THREADS"] = str(int(opts["threads"]))  # strings: accepted by 2022.3 too
        if "NUM_STREAMS" in supported:
            config["NUM_STREAMS"] = "1"
        if "PERFORMANCE_HINT" in supported and opts["performance_hint"]:
            config["PERFORMANCE_HINT"] = str(opts["performance_hint"])
        if opts["profile"]:
            config["PERF_COUNT"] = "YES"
        model = core.read_model(str(path))
        self._compiled = core.compile_model(model, device, config)
        self._request = self._compiled.create_infer_request()
        self._ov = ov
        self.config = config
        inputs = []
        for port in self._compiled.inputs:
            pshape = port.get_partial_shape()
            dims = tuple(d.get_length() if d.is_static else None for d in pshape)
            inputs.append(InputSpec(port.get_any_name(), dims, _ov_dtype(port.get_element_type())))
        outputs = [_ov_port_name(p, i) for i, p in enumerate(self._compiled.outputs)]
        super().__init__(path, inputs, outputs)

    def effective_precision(self) -> str:
        """The inference precision the compiled model reports (e.g. 'f32')."""
        try:
            value = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        except Exception:
            return "unknown"
        return value.get_type_name() if hasattr(value, "get_type_name") else str(value)

    def kernels(self, layer_type: str = "Convolution") -> List[str]:
        """Sorted distinct primitive types the plugin chose for `layer_type` layers, e.g. 'jit_avx2_I8'."""
        found = set()
        for op in self._compiled.get_runtime_model().get_ordered_ops():
            rt = op.get_rt_info()
            if "layerType" in rt and rt["layerType"].astype(str) == layer_type and "primitiveType" in rt:
                found.add(rt["primitiveType"].astype(str))
        return sorted(found)

    def _set(self, feeds: Mapping[str, Any]) -> None:
        np = _np()
        for i, spec in enumerate(self.inputs):
            self._request.set_input_tensor(i, self._ov.Tensor(np.ascontiguousarray(feeds[spec.name])))

    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run once."""
        self._set(feeds)
        self._request.infer()
        return [self._request.get_output_tensor(i).data.copy() for i in range(len(self.outputs))]

    def prepare(self, feeds: Mapping[str, Any]) -> Callable[[], object]:
        """Tensors set once on the infer request; each call is a bare `infer()`."""
        self._set(feeds)
        return self._request.infer


def _ov_supported_properties(core, device: str) -> set:
    try:
        return set(core.get_property(device, "SUPPORTED_PROPERTIES"))
    except Exception:
        return set()


def _ov_port_name(port, index: int) -> str:
    try:
        return port.get_any_name()
    except Exception:  # unnamed output
        return "output_%d" % index


# --------------------------------------------------------------------------------------------
# LiteRT (TFLite interpreter)
# --------------------------------------------------------------------------------------------

def _litert_interpreter_module():
    """ai_edge_litert's interpreter, falling back to tflite_runtime on old hosts."""
    try:
        return require("ai_edge_litert.interpreter", "tflite")
    except DcnasError as exc:
        try:
            import tflite_runtime.interpreter as tfl
        except ImportError:
            raise exc from None
        return tfl


class LiteRtSession(Session):
    """TFLite interpreter with fixed threads and XNNPACK on (default delegates) or off."""

    runtime = "litert"
    DEFAULTS = {"threads": DEFAULT_THREADS, "xnnpack": True, "precision": None, "device": None}

    def __init__(self, path: Path, options: Optional[Mapping[str, Any]] = None):
        opts = _options(self.runtime, options, self.DEFAULTS)
        if opts["device"] not in (None, "cpu", "CPU"):
            raise ConfigError(f"the LiteRT interpreter here runs on cpu only, not {opts['device']!r} "
                              "(GPU/NNAPI delegates run on the phone through adb)")
        tfl = _litert_interpreter_module()
        resolver = tfl.OpResolverType.AUTO if opts["xnnpack"] else tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self._interp = tfl.Interpreter(model_path=str(path), num_threads=int(opts["threads"]),
                                       experimental_op_resolver_type=resolver)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        inputs = [InputSpec(d["name"], tuple(int(s) for s in d["shape"]), _np().dtype(d["dtype"]).name)
                  for d in self._in]
        super().__init__(path, inputs, [d["name"] for d in self._out])

    def _set(self, feeds: Mapping[str, Any]) -> None:
        np = _np()
        for d, spec in zip(self._in, self.inputs):
            self._interp.set_tensor(d["index"], np.ascontiguousarray(feeds[spec.name], dtype=d["dtype"]))

    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run once."""
        self._set(feeds)
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).copy() for d in self._out]

    def prepare(self, feeds: Mapping[str, Any]) -> Callable[[], object]:
        """Inputs set once; each call is a bare `invoke()`."""
        self._set(feeds)
        return self._interp.invoke


# --------------------------------------------------------------------------------------------
# PyTorch (saved torch.export program or TorchScript)
# --------------------------------------------------------------------------------------------

class TorchFileSession(Session):
    """A torch.export (.pt2) or TorchScript (.pt) file, run under inference_mode on cpu or cuda."""

    runtime = "torch"
    DEFAULTS = {"threads": DEFAULT_THREADS, "device": "cpu", "precision": None}

    def __init__(self, path: Path, options: Optional[Mapping[str, Any]] = None):
        opts = _options(self.runtime, options, self.DEFAULTS)
        torch = require("torch", "all")
        self._torch = torch
        device = str(opts["device"]).lower()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceError("torch runtime device 'cuda' requested but torch.cuda.is_available() is False "
                              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})")
        set_torch_threads(int(opts["threads"]))
        self.device = torch.device(device)
        extra = {TORCH_META_NAME: ""}
        if str(path).endswith(".pt2"):
            ep = torch.export.load(str(path), extra_files=extra)
            if self.device.type != "cpu":
                from torch.export.passes import move_to_device_pass

                ep = move_to_device_pass(ep, self.device)
            self._module = ep.module()
        else:
            self._module = torch.jit.load(str(path), map_location=self.device, _extra_files=extra)
            self._module.eval()
        if not extra[TORCH_META_NAME]:
            raise ConfigError(f"{path}: torch model file has no '{TORCH_META_NAME}' entry; "
                              "write it with dcnas_deploy.runtimes.backends (torch backend)")
        meta = json.loads(extra[TORCH_META_NAME])
        inputs = [InputSpec.from_dict(d) for d in meta["inputs"]]
        self._dtypes = [getattr(torch, name) for name in meta.get("torch_dtypes", [s.dtype for s in inputs])]
        super().__init__(path, inputs, list(meta.get("outputs", ["output"])))

    def _to_device(self, feeds: Mapping[str, Any]) -> list:
        """Feeds as tensors on the device, in the dtypes the file was exported with."""
        torch = self._torch
        return [torch.as_tensor(_np().ascontiguousarray(feeds[s.name])).to(device=self.device, dtype=dt)
                for s, dt in zip(self.inputs, self._dtypes)]

    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run once."""
        with self._torch.inference_mode():
            out = self._module(*self._to_device(feeds))
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.detach().float().cpu().numpy() if o.dtype == self._torch.bfloat16 else o.detach().cpu().numpy()
                for o in outs]

    def prepare(self, feeds: Mapping[str, Any]) -> Callable[[], object]:
        """Inputs moved to the device once; each call runs the module under inference_mode."""
        args = self._to_device(feeds)
        module, torch = self._module, self._torch

        def run_once():
            with torch.inference_mode():
                return module(*args)

        return run_once

    def sync(self) -> Optional[Callable[[], None]]:
        """cuda.synchronize on GPU."""
        if self.device.type == "cuda":
            return self._torch.cuda.synchronize
        return None


def set_torch_threads(threads: int) -> None:
    """Fix torch's intra-op threads (and inter-op threads where torch still allows it)."""
    import torch

    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work
        pass


# --------------------------------------------------------------------------------------------
# registry and the public functions
# --------------------------------------------------------------------------------------------

SESSIONS: Dict[str, Callable[..., Session]] = {name: globals()[r.session] for name, r in RUNTIMES.items()}
"""runtime name -> Session class (named by its row in runtimes.table)."""


def load_session(path: Union[str, Path], runtime: str, options: Optional[Mapping[str, Any]] = None) -> Session:
    """Load a model file in `runtime` with `options` (threads, device, precision, ...)."""
    path = Path(path)
    row = get_runtime(runtime)
    if not path.exists():
        raise DcnasError(f"model file not found: {path}")
    if path.suffix not in row.loads:
        raise ConfigError(f"{runtime} loads {list(row.loads)} files, not {path.name}")
    return SESSIONS[runtime](path, options)


def make_feeds(inputs: Sequence[InputSpec], feeds_or_shapes: Optional[FeedsOrShapes] = None,
               seed: int = 0) -> Dict[str, Any]:
    """Feeds for `inputs`: given arrays as is; random data for given shapes or the model's static shapes.

    `feeds_or_shapes` maps input names to arrays or shapes, or is a list of them in input order
    (positional lists work across runtimes whose input names differ).
    """
    np = _np()
    if isinstance(feeds_or_shapes, (list, tuple)):
        if len(feeds_or_shapes) != len(inputs):
            raise ConfigError(f"{len(feeds_or_shapes)} positional feed(s)/shape(s) for a model with "
                              f"{len(inputs)} input(s) {[s.name for s in inputs]}")
        given = {spec.name: v for spec, v in zip(inputs, feeds_or_shapes)}
    else:
        given = dict(feeds_or_shapes or {})
    unknown = sorted(set(given) - {s.name for s in inputs})
    if unknown:
        raise ConfigError(f"feeds for unknown input(s) {unknown}; model inputs: {[s.name for s in inputs]}")
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in inputs:
        value = given.get(spec.name)
        if value is not None and hasattr(value, "shape") and hasattr(value, "dtype"):
            feeds[spec.name] = np.asarray(value)
            continue
        shape = tuple(value) if value is not None else spec.shape
        if any(d is None for d in shape):
            raise ConfigError(f"input {spec.name!r} has dynamic shape {list(spec.shape)}: give its shape")
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feeds[spec.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        elif dtype.kind == "b":
            feeds[spec.name] = np.zeros(shape, dtype=dtype)
        else:
            feeds[spec.name] = rng.integers(0, 10, size=shape).astype(dtype)
    return feeds


def time_session(session: Session, protocol: Protocol = Protocol(),
                 feeds: Optional[FeedsOrShapes] = None) -> Timing:
    """Time one loaded session under `protocol` with prepared (pre-bound) inputs."""
    run_once = session.prepare(make_feeds(session.inputs, feeds))
    return measure(run_once, protocol, sync=session.sync())


def time_file(path: Union[str, Path], runtime: str, options: Optional[Mapping[str, Any]] = None,
              protocol: Protocol = Protocol(), feeds: Optional[FeedsOrShapes] = None) -> Timing:
    """Load `path` in `runtime` and time it (random feeds from the model's input shapes when none)."""
    session = load_session(path, runtime, options)
    try:
        return time_session(session, protocol, feeds)
    finally:
        session.close()


def time_sessions_paired(session: Session, reference: Session, protocol: Protocol = Protocol(),
                         feeds: Optional[FeedsOrShapes] = None,
                         reference_feeds: Optional[FeedsOrShapes] = None) -> PairedTiming:
    """Time `session` in alternating turns with `reference` (both loaded, inputs bound once)."""
    run_once = session.prepare(make_feeds(session.inputs, feeds))
    run_ref = reference.prepare(make_feeds(reference.inputs, reference_feeds))
    return measure_paired(run_once, run_ref, protocol, sync=session.sync())


def _version(dist: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - py<3.8
        return "unknown"
    try:
        return metadata.version(dist)
    except Exception:
        return "not installed"


def runtime_version(runtime: str) -> str:
    """Installed version of a runtime's package ('not installed' when absent); other names as distributions."""
    return _version(RUNTIMES[runtime].dist if runtime in RUNTIMES else runtime)

