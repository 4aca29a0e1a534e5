"""Torch-side backends: convert an nn.Module into a model file for one runtime (and time torch eagerly).

The torch-free half (load a file, run it, time it) is `dcnas_deploy.runtimes.sessions`. Each backend
here is named like the runtime that loads its files, so `get_backend(profile.runtime)` is all a caller
needs. Converters import their toolchain lazily and raise MissingDependencyError naming the extra.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import torch

from dcnas_deploy.errors import ConfigError, DcnasError, require
from dcnas_deploy.runtimes.sessions import TORCH_META_NAME, InputSpec, merge_options, set_torch_threads
from dcnas_deploy.runtimes.protocol import PairedTiming, Protocol, Timing, measure, measure_paired
from dcnas_deploy.runtimes.table import RUNTIMES

LITERT_QUIET = {"LITERT_TORCH_SHOW_PROGRESS": "n", "TF_CPP_MIN_LOG_LEVEL": "2"}
"""Environment defaults that keep litert-torch / TensorFlow from printing progress and C++ logs while converting."""

ExampleInputs = Tuple[torch.Tensor, ...]


def input_names(module: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> list:
    """Input names shared by every backend: the forward() argument names (input_<i> when unnamed)."""
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params][:len(example_inputs)]
    except (TypeError, ValueError):
        names = []
    if len(names) != len(example_inputs) or len(set(names)) != len(names):
        names = [f"input_{i}" for i in range(len(example_inputs))]
    return names


def output_names(module: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> list:
    """output_<i> for each output of one forward pass."""
    with torch.no_grad():
        out = module(*example_inputs)
    n = len(out) if isinstance(out, (tuple, list)) else 1
    return [f"output_{i}" for i in range(n)]


def input_specs(module: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> list:
    """InputSpec (name, shape, numpy dtype) of each example input (bfloat16, which numpy lacks: float32)."""
    def np_dtype(t: torch.Tensor) -> str:
        return "float32" if t.dtype == torch.bfloat16 else str(t.dtype).replace("torch.", "")

    return [InputSpec(n, tuple(int(d) for d in t.shape), np_dtype(t))
            for n, t in zip(input_names(module, example_inputs), example_inputs)]


def _atomic_target(path: Path) -> Path:
    """A temporary sibling path with the same suffix (rename into place when done)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


VERBOSE_ENV = "DCNAS_VERBOSE"
"""Set to 1 to let converters print their logs (by default they are captured and shown only when one fails)."""


@contextlib.contextmanager
def _captured_fds(python_log: io.StringIO) -> Iterator[None]:
    """Send what native code writes to fds 1 and 2 into a file; replay it (after `python_log`) if the block raises."""
    import ctypes
    import sys
    import tempfile

    with tempfile.TemporaryFile() as log:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with contextlib.suppress(Exception):
                ctypes.CDLL(None).fflush(None)  # C stdio buffers of the converter, before fds are restored
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                log.seek(0)
                text = (python_log.getvalue() + log.read().decode("utf-8", "replace")).strip()
                if text:
                    os.write(2, f"--- converter log ---\n{text}\n--- end of converter log ---\n".encode())


@contextlib.contextmanager
def quiet(env: Optional[Mapping[str, str]] = None) -> Iterator[None]:
    """Silence converters while they run: Python warnings, stdout/stderr chatter, root logging below ERROR.

    What native code (TensorFlow's MLIR converter, ...) writes to the process's stdout/stderr is captured too
    and printed on stderr only when the block raises; DCNAS_VERBOSE=1 turns all of this off.
    `env`: environment defaults the converter reads (e.g. TF_CPP_MIN_LOG_LEVEL), set only where unset and
    restored afterwards, so the caller's os.environ is left as it was.
    """
    if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
        yield
        return
    root = logging.getLogger()
    level = root.level
    added = [k for k in (env or {}) if k not in os.environ]
    os.environ.update({k: str((env or {})[k]) for k in added})
    root.setLevel(logging.ERROR)
    try:
        python_log = io.StringIO()
        with warnings.catch_warnings(), _captured_fds(python_log):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(python_log), contextlib.redirect_stderr(python_log):
                yield
    finally:
        root.setLevel(level)
        for k in added:
            os.environ.pop(k, None)


def _check_precision(backend: str, precision: str, allowed: Sequence[str]) -> None:
    if precision not in allowed:
        raise ConfigError(f"backend {backend} converts precision {list(allowed)}, not {precision!r}"
                          + (" (INT8 needs calibration data: use `dcnas-deploy export --precision int8`)"
                             if precision == "int8" else ""))


@dataclass(frozen=True)
class Backend:
    """Converts a torch module to a file its runtime loads (`sessions.load_session(path, name, ...)`).

    What it writes comes from the runtime's row in runtimes.table.
    """

    name: str
    precisions: Tuple[str, ...]
    convert_fn: Callable[..., None] = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    """Known convert options and their defaults."""

    @property
    def suffixes(self) -> Tuple[str, ...]:
        """All suffixes this backend writes, the default first (torch: .pt2 torch.export, .pt TorchScript)."""
        return RUNTIMES[self.name].writes

    @property
    def file_suffix(self) -> str:
        """The suffix it writes by default."""
        return self.suffixes[0]

    def convert(self, module: torch.nn.Module, example_inputs: ExampleInputs, path, precision: str = "fp32",
                options: Optional[Mapping[str, Any]] = None) -> Path:
        """Write `module` (eval mode, traced with `example_inputs`) to `path` atomically; returns the path."""
        _check_precision(self.name, precision, self.precisions)
        opts = merge_options(f"{self.name} convert", options, self.options)
        path = Path(path)
        if path.suffix not in self.suffixes:
            raise ConfigError(f"backend {self.name} writes {list(self.suffixes)} files, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        module = module.eval()
        example_inputs = tuple(example_inputs)
        tmp = _atomic_target(path)
        try:
            self.convert_fn(module, example_inputs, tmp, precision, opts)
            for src, dst in _companions(tmp, path):
                os.replace(src, dst)
            os.replace(tmp, path)
        finally:
            for src, _ in _companions(tmp, path):
                if src.exists():
                    src.unlink()
            if tmp.exists():
                tmp.unlink()
        return path


def _companions(tmp: Path, path: Path) -> list:
    """Side files a format writes next to the main one (OpenVINO's .bin)."""
    if path.suffix == ".xml":
        return [(tmp.with_suffix(".bin"), path.with_suffix(".bin"))]
    return []


# --------------------------------------------------------------------------------------------
# converters
# --------------------------------------------------------------------------------------------

def _convert_onnx(module, example_inputs, path: Path, precision: str, opts: Dict[str, Any]) -> None:
    require("onnx", "onnx")
    names = input_names(module, example_inputs)
    kwargs: Dict[str, Any] = dict(input_names=names, output_names=output_names(module, example_inputs))
    if opts["opset"] is not None:
        kwargs["opset_version"] = int(opts["opset"])
    with quiet():
        if opts["exporter"] == "legacy":
            torch.onnx.export(module, example_inputs, str(path), dynamo=False, do_constant_folding=True, **kwargs)
        elif opts["exporter"] == "dynamo":
            require("onnxscript", "onnx")
            torch.onnx.export(module, example_inputs, str(path), dynamo=True, external_data=False,
                              optimize=True, verbose=False, **kwargs)
        else:
            raise ConfigError(f"onnx exporter must be 'legacy' or 'dynamo', got {opts['exporter']!r}")
    _keep_unused_inputs(path, names, example_inputs)


def _keep_unused_inputs(path: Path, names: Sequence[str], example_inputs: ExampleInputs) -> None:
    """Put back graph inputs the exporter dropped because nothing reads them (a guide-blind network's guide),
    so every file of every architecture takes the same (lr, guide) inputs."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path))
    present = {i.name for i in model.graph.input}
    missing = [(k, n) for k, n in enumerate(names) if n not in present]
    if not missing:
        return
    for k, name in missing:
        t = example_inputs[k]
        elem = onnx.helper.np_dtype_to_tensor_dtype(t.detach().cpu().numpy().dtype)
        info = onnx.helper.make_tensor_value_info(name, elem, [int(d) for d in t.shape])
        model.graph.input.insert(min(k, len(model.graph.input)), info)
    onnx.save(model, str(path))


def _convert_openvino(module, example_inputs, path: Path, precision: str, opts: Dict[str, Any]) -> None:
    ov = require("openvino", "openvino")
    if opts["frontend"] == "onnx":
        # ONNX read by the runtime's own frontend: fast, and no ovc telemetry (which forks a process
        # per conversion, unsafe once JAX from litert-torch runs threads in this process)
        onnx_path = path.with_name(path.stem + ".src.onnx")
        try:
            _convert_onnx(module, example_inputs, onnx_path, "fp32", {"exporter": "legacy", "opset": None})
            from dcnas_deploy.runtimes.sessions import openvino_core

            model = openvino_core()[1].read_model(str(onnx_path))
        finally:
            if onnx_path.exists():
                onnx_path.unlink()
    elif opts["frontend"] == "pytorch":
        with quiet():
            model = ov.convert_model(module, example_input=example_inputs,
                                     input=[tuple(int(d) for d in t.shape) for t in example_inputs])
    else:
        raise ConfigError(f"openvino frontend must be 'onnx' or 'pytorch', got {opts['frontend']!r}")
    for port, name in zip(model.inputs, input_names(module, example_inputs)):
        port.get_tensor().set_names({name})
    # save_model compresses weights to fp16 by default: only do it when fp16 is what is asked for
    ov.save_model(model, str(path), compress_to_fp16=(precision == "fp16"))


def _convert_litert(module, example_inputs, path: Path, precision: str, opts: Dict[str, Any]) -> None:
    with quiet(LITERT_QUIET):
        litert_torch = require("litert_torch", "tflite")
        if opts["forms"]:  # exact forms XNNPACK runs fast and litert-torch keeps NHWC (model.litert_forms)
            from dcnas_deploy.model.litert_forms import litert_form

            module = litert_form(module)
        if opts["nhwc"]:
            module = litert_torch.to_channel_last_io(module, args=list(range(len(example_inputs))))
            example_inputs = tuple(t.permute(0, 2, 3, 1).contiguous() for t in example_inputs)
        # quant_config: litert_torch QuantConfig of a module already quantized with PT2E (export's int8
        # path); without it litert-torch keeps the Q/DQ pairs as float ops instead of int8 kernels
        litert_torch.convert(module, example_inputs, quant_config=opts["quant_config"]).export(str(path))


def _convert_torch(module, example_inputs, path: Path, precision: str, opts: Dict[str, Any]) -> None:
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    if dtype != torch.float32:
        import copy

        module = copy.deepcopy(module).to(dtype)
        example_inputs = tuple(t.to(dtype) if t.is_floating_point() else t for t in example_inputs)
    meta = json.dumps({"inputs": [s.to_dict() for s in input_specs(module, example_inputs)],
                       "torch_dtypes": [str(t.dtype).replace("torch.", "") for t in example_inputs],
                       "outputs": output_names(module, example_inputs), "precision": precision})
    with quiet(), torch.inference_mode(False), torch.no_grad():
        if path.suffix == ".pt2":
            ep = torch.export.export(module, example_inputs)
            torch.export.save(ep, str(path), extra_files={TORCH_META_NAME: meta})
        else:  # .pt: TorchScript (traced)
            scripted = torch.jit.trace(module, example_inputs)
            torch.jit.save(scripted, str(path), _extra_files={TORCH_META_NAME: meta})


BACKENDS: Dict[str, Backend] = {b.name: b for b in [
    Backend("onnxruntime", ("fp32",), _convert_onnx, {"exporter": "legacy", "opset": None}),
    Backend("openvino", ("fp32", "fp16", "bf16"), _convert_openvino, {"frontend": "onnx"}),
    Backend("litert", ("fp32",), _convert_litert, {"nhwc": False, "quant_config": None, "forms": True}),
    Backend("torch", ("fp32", "fp16", "bf16"), _convert_torch, {}),
]}
"""runtime name -> Backend that writes files for it (a row of runtimes.table each). Add a backend with one entry."""


def get_backend(name: str) -> Backend:
    """The backend for a runtime name, or ConfigError listing the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; known: {sorted(BACKENDS)}") from None


# --------------------------------------------------------------------------------------------
# torch fast path (no file)
# --------------------------------------------------------------------------------------------

_TORCH_TIME_OPTIONS = {"threads": 2, "device": "cpu", "precision": "fp32"}


def eager_runner(module: torch.nn.Module, example_inputs: ExampleInputs, options: Optional[Mapping[str, Any]]
                  ) -> Tuple[Callable[[], object], Optional[Callable[[], None]]]:
    """(run once under inference_mode, sync) for an eager module with fixed threads, dtype and device."""
    opts: Dict[str, Any] = dict(_TORCH_TIME_OPTIONS)
    unknown = sorted(set(options or {}) - set(opts))
    if unknown:
        raise ConfigError(f"unknown torch option(s) {unknown}; known: {sorted(opts)}")
    opts.update({k: v for k, v in (options or {}).items() if v is not None})
    device = torch.device(opts["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DcnasError("torch device 'cuda' requested but torch.cuda.is_available() is False")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(opts["precision"])
    if dtype is None:
        raise ConfigError(f"torch precision must be fp32, fp16 or bf16, got {opts['precision']!r}")
    set_torch_threads(int(opts["threads"]))
    import copy

    model = copy.deepcopy(module).eval().to(device=device, dtype=dtype)
    args = tuple(t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device) for t in example_inputs)

    def run_once():
        with torch.inference_mode():
            return model(*args)

    return run_once, (torch.cuda.synchronize if device.type == "cuda" else None)


def time_module(module: torch.nn.Module, example_inputs: ExampleInputs,
                options: Optional[Mapping[str, Any]] = None, protocol: Protocol = Protocol()) -> Timing:
    """Time an eager module under inference_mode with fixed threads (cuda: synchronized), no file."""
    run_once, sync = eager_runner(module, example_inputs, options)
    return measure(run_once, protocol, sync=sync)


def time_modules_paired(module: torch.nn.Module, example_inputs: ExampleInputs, reference: torch.nn.Module,
                        reference_inputs: ExampleInputs, options: Optional[Mapping[str, Any]] = None,
                        protocol: Protocol = Protocol()) -> PairedTiming:
    """Time an eager module in alternating turns with an eager reference module (same options)."""
    run_once, sync = eager_runner(module, example_inputs, options)
    run_ref, _ = eager_runner(reference, reference_inputs, options)
    return measure_paired(run_once, run_ref, protocol, sync=sync)
