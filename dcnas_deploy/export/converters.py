"""Converters glue: each (format, precision) step around the runtimes' one `Backend.convert`.

fp32 is the backend's convert as is. The other precisions are a step around it:
- ONNX fp16: fp32 file → `onnxruntime.transformers.float16` with fp32 I/O, the in-graph (de)normalisation
  kept fp32 (depth in mm would lose precision in fp16);
- ONNX int8: fp32 file → `onnxruntime.quantization.quantize_static` (QDQ, per-channel weights, MinMax
  calibration on real crops) in one of `ONNX_INT8_SCHEMES` (default `u8s8-reduced`: correct on every CPU);
- OpenVINO fp16: the backend's fp16 (weights compressed to fp16);
- OpenVINO int8: fp32 IR → `nncf.quantize` on real crops, weights in a 7-bit range (NNCF overflow fix on every
  layer, `OPENVINO_OVERFLOW_FIX`: correct on x86 without VNNI too), activation ranges = min/max over all crops;
- TFLite fp16: fp32 file → ai-edge-quantizer weight-only fp16 (FLOAT_CASTING), compute stays fp32;
- TFLite int8: PT2E (`litert_torch.quantize`, per-channel symmetric int8) on the SubNet, calibrated on
  normalised real crops, then wrapped and converted with litert-torch's static-QDQ mode.
For every int8 path only the network body (the SubNet) is quantized: the wrapper's min/max
normalisation and de-normalisation stay float. Quantizing them clips the LR input to the calibration
range: measured here, NNCF on the whole graph gave 13–43 dB PSNR vs PyTorch, the body only ~40+ dB.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from dcnas_deploy.errors import ConfigError, require
from dcnas_deploy.export.deployable import Deployable
from dcnas_deploy.fileio import atomic_write
from dcnas_deploy.runtimes.backends import LITERT_QUIET, get_backend, quiet

BODY_SCOPE = "/subnet/"
"""ONNX/OpenVINO node-name prefix of the network body (torch.onnx names nodes by module path)."""

WRAPPER_OV_TYPES = {"ReduceMin", "ReduceMax", "Subtract", "Divide", "Multiply", "Add", "Greater", "Select",
                    "Transpose"}

OPENVINO_OVERFLOW_FIX = "enable"
"""NNCF overflow fix for OpenVINO int8: 'enable' quantizes every conv's weights to 7 bits. Without VNNI,
OpenVINO's x86 int8 convolutions (jit_avx2_I8, AVX-512 without VNNI) sum u8×s8 pairs into saturating 16-bit
lanes. Worst PSNR vs PyTorch over 3 random networks (min/max activation ranges), this VNNI host / emulated
AVX2-only / AVX-512 without VNNI: 'enable' 43.3 / 43.3 / 43.3 dB, NNCF's default 'first_layer_only'
43.6 / 37.7 / 35.9 dB, 'disable' 44.9 / 36.7 / 25.9 dB (README, bench/int8_portability.py)."""

OPENVINO_ACTIVATION_RANGES = "minmax"
"""NNCF activation range estimator for OpenVINO int8: min/max over all calibration crops (as ONNX's MinMax).
NNCF's default (mean of per-crop min/max) clips the crops with wider ranges: worst PSNR vs PyTorch over 3
random networks 36.9 dB against 43.3 dB with min/max (overflow fix 'enable', 12 crops of 32x32)."""


@dataclass
class ConvertJob:
    """One artefact to write: the float wrapper, its example inputs and calibration feeds."""

    module: Deployable
    example_inputs: Tuple[torch.Tensor, ...]
    path: Path
    calibration: List[Tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """(lr, guide) graph inputs (the module's layout, LR in its units) for int8 calibration."""
    onnx_int8_scheme: str = "u8s8-reduced"
    """Key of ONNX_INT8_SCHEMES used by the ONNX int8 converter."""
    openvino_overflow_fix: str = OPENVINO_OVERFLOW_FIX
    """NNCF OverflowFix value used by the OpenVINO int8 converter (see OPENVINO_OVERFLOW_FIX)."""
    plain_forms: bool = False
    """TFLite: convert the ops as they are, without model.litert_forms (the fallback when that file fails its check)."""

    def litert_options(self) -> Dict[str, object]:
        """Convert options of the litert backend for this job."""
        return {"forms": not self.plain_forms}

    def require_calibration(self) -> None:
        """INT8 needs calibration data."""
        if not self.calibration:
            raise ConfigError("INT8 export needs calibration images (--calib-images > 0)")


Converter = Callable[[ConvertJob, str], None]


def _scratch(path: Path, tag: str, suffix: str = "") -> Path:
    """A hidden sibling path for intermediate files."""
    return path.with_name(f".{path.stem}.{tag}.{os.getpid()}{suffix or path.suffix}")


def _remove(*paths: Path) -> None:
    for p in paths:
        for q in (p, p.with_suffix(".bin")) if p.suffix == ".xml" else (p,):
            if q.exists():
                q.unlink()


def backend_convert(runtime: str) -> Converter:
    """The plain backend conversion at the requested precision."""

    def convert(job: ConvertJob, precision: str) -> None:
        options = job.litert_options() if runtime == "litert" else None
        get_backend(runtime).convert(job.module, job.example_inputs, job.path, precision, options)

    return convert


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------

def _onnx_wrapper_nodes(model) -> List[str]:
    """Names of the nodes outside the network body (normalisation, de-normalisation)."""
    return [n.name for n in model.graph.node if not n.name.startswith(BODY_SCOPE) and n.op_type != "Constant"]


def onnx_fp16(job: ConvertJob, precision: str) -> None:
    """fp32 ONNX → fp16 body with fp32 inputs/outputs and fp32 (de)normalisation."""
    onnx = require("onnx", "onnx")
    f16 = require("onnxruntime.transformers.float16", "onnx")
    tmp = _scratch(job.path, "fp32")
    try:
        get_backend("onnxruntime").convert(job.module, job.example_inputs, tmp, "fp32")
        model = onnx.load(str(tmp))
        with quiet():
            half = f16.convert_float_to_float16(model, keep_io_types=True,
                                                node_block_list=_onnx_wrapper_nodes(model))
        atomic_write(job.path, lambda t: onnx.save(half, t))
    finally:
        _remove(tmp)


class _Reader:
    """onnxruntime CalibrationDataReader over (lr, guide) feeds."""

    def __init__(self, names: Sequence[str], feeds: List[Tuple[np.ndarray, np.ndarray]]):
        self._it = iter([dict(zip(names, f)) for f in feeds])

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # pragma: no cover - not used by MinMax
        pass


@dataclass(frozen=True)
class OnnxInt8Scheme:
    """How ONNX Runtime int8 tensors are typed, and on which CPUs its kernels give the right answer."""

    activations: str
    weights: str
    reduce_range: bool
    correct_on: str
    needs_int8_dot_product: bool
    """True: wrong (16-bit saturation in VPMADDUBSW) on x86 CPUs without VNNI."""

    def describe(self) -> Dict[str, object]:
        """For the exported file's metadata."""
        return {"activations": f"{self.activations} per-tensor", "reduce_range": self.reduce_range,
                "weights": f"{self.weights} per-channel" + (" in a 7-bit range" if self.reduce_range else ""),
                "correct_on": self.correct_on}


ONNX_INT8_SCHEMES: Dict[str, OnnxInt8Scheme] = {
    # Measured (PSNR vs PyTorch, 3 random nets at 32x32 x8, Middlebury crops): on a VNNI CPU every scheme
    # 46-51 dB; under an AVX2-only CPU (qemu -cpu Haswell) s8s8 11-12 dB, u8s8 without reduce_range
    # 38-42 dB, u8s8-reduced and u8u8 the same as on the VNNI CPU. Speed on the VNNI CPU at 128x128,
    # 1 thread: u8s8-reduced 1.9-2.0x fp32, u8u8 2.9-3.0x, s8s8 3.8-4.5x.
    "u8s8-reduced": OnnxInt8Scheme("uint8", "int8", True, "every CPU (x86 with or without VNNI, ARM)", False),
    "u8u8": OnnxInt8Scheme("uint8", "uint8", False, "every CPU (slower than u8s8-reduced in ONNX Runtime)", False),
    "s8s8": OnnxInt8Scheme("int8", "int8", False, "x86 with VNNI (AVX512-VNNI/AVX-VNNI/AMX) and ARM; "
                                                  "wrong on AVX2-only x86", True),
}
"""ONNX int8 schemes (`export --onnx-int8`). The default runs correctly wherever the file is deployed."""


def onnx_int8_scheme(name: str) -> OnnxInt8Scheme:
    """A scheme by name (ConfigError listing the known ones)."""
    try:
        return ONNX_INT8_SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown ONNX int8 scheme {name!r}; known: {sorted(ONNX_INT8_SCHEMES)} "
                          "(u8s8-reduced is correct on every CPU)") from None


def quantization_metadata(fmt: str, precision: str, onnx_scheme: str) -> Dict[str, object]:
    """What an exported file's `quantization` metadata says (empty for float files)."""
    if precision != "int8":
        return {}
    if fmt == "onnx":
        return {"tool": "onnxruntime.quantization.quantize_static (QDQ, MinMax)", "scheme": onnx_scheme,
                **onnx_int8_scheme(onnx_scheme).describe()}
    if fmt == "openvino":
        return {"tool": "nncf.quantize (post-training, performance preset)", "overflow_fix": OPENVINO_OVERFLOW_FIX,
                "weights": "int8 per-channel in a 7-bit range",
                "activations": f"per-tensor, {OPENVINO_ACTIVATION_RANGES} range over the calibration crops",
                "correct_on": "every CPU (x86 with or without VNNI)",
                "scope": "network body; normalisation stays float"}
    tools = {"tflite": "litert-torch PT2E (per-channel symmetric int8)"}
    return {"tool": tools.get(fmt, fmt), "scope": "network body; normalisation stays float"}


def int8_host_note(fmt: str, precision: str, onnx_scheme: str) -> str:
    """A warning when the chosen ONNX int8 scheme is known to be wrong on this host's CPU, else ''."""
    if fmt != "onnx" or precision != "int8" or not onnx_int8_scheme(onnx_scheme).needs_int8_dot_product:
        return ""
    from dcnas_deploy.runtimes.fingerprint import has_int8_dot_product, local_cpu

    cpu = local_cpu()
    if has_int8_dot_product(cpu["isa"], cpu["machine"]):
        return ""
    return (f"{onnx_scheme} saturates on this CPU (x86 without VNNI): expect a failed check; "
            "use --onnx-int8 u8s8-reduced")


def onnx_int8(job: ConvertJob, precision: str) -> None:
    """fp32 ONNX → QDQ int8 (per-channel weights, per-tensor activations) calibrated on real crops."""
    job.require_calibration()
    scheme = onnx_int8_scheme(job.onnx_int8_scheme)
    onnx = require("onnx", "onnx")
    q = require("onnxruntime.quantization", "onnx")
    types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    tmp, tmp_q = _scratch(job.path, "fp32"), _scratch(job.path, "int8")
    try:
        get_backend("onnxruntime").convert(job.module, job.example_inputs, tmp, "fp32")
        model = onnx.load(str(tmp))
        names = [i.name for i in model.graph.input]
        reader = type("DcnasCalibrationReader", (_Reader, q.CalibrationDataReader), {})(names, job.calibration)
        with quiet():
            q.quantize_static(str(tmp), str(tmp_q), reader, quant_format=q.QuantFormat.QDQ, per_channel=True,
                              activation_type=types[scheme.activations], weight_type=types[scheme.weights],
                              reduce_range=scheme.reduce_range, calibrate_method=q.CalibrationMethod.MinMax,
                              nodes_to_exclude=_onnx_wrapper_nodes(model))
        os.replace(tmp_q, job.path)
    finally:
        _remove(tmp, tmp_q)


# --------------------------------------------------------------------------------------------
# OpenVINO
# --------------------------------------------------------------------------------------------

def _fold_constants(model) -> None:
    """Fold the ONNX frontend's shape subgraphs (static shapes): NNCF then sees plain conv weights."""
    try:
        from openvino._offline_transformations import apply_moc_transformations
    except ImportError:  # pragma: no cover - layout of other OpenVINO versions
        return
    apply_moc_transformations(model, cf=True)


def _compress_quantized_weights(model) -> None:
    """Store FakeQuantize'd weights as int8 constants (what makes the IR ~4× smaller)."""
    try:
        from openvino._offline_transformations import compress_quantize_weights_transformation
    except ImportError:  # pragma: no cover
        return
    compress_quantize_weights_transformation(model)


def openvino_int8(job: ConvertJob, precision: str) -> None:
    """fp32 IR → NNCF post-training int8 on real crops (body only; 7-bit weights, min/max activation ranges)."""
    job.require_calibration()
    nncf = require("nncf", "openvino")
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from dcnas_deploy.runtimes.sessions import openvino_core

    ov, core = openvino_core()
    tmp, tmp_q = _scratch(job.path, "fp32"), _scratch(job.path, "int8")
    try:
        get_backend("openvino").convert(job.module, job.example_inputs, tmp, "fp32")
        model = core.read_model(str(tmp))
        _fold_constants(model)
        names = [p.get_any_name() for p in model.inputs]
        order = {"lr": 0, "guide": 1}
        if set(names) != set(order):
            raise ConfigError(f"OpenVINO model inputs are {names}; expected 'lr' and 'guide'")
        feeds = [{n: f[order[n]] for n in names} for f in job.calibration]
        ignored = [op.get_friendly_name() for op in model.get_ordered_ops()
                   if op.get_type_name() in WRAPPER_OV_TYPES and not op.get_friendly_name().startswith(BODY_SCOPE)]
        with quiet():
            nncf.set_log_level(logging.ERROR)
            advanced = AdvancedQuantizationParameters(
                overflow_fix=OverflowFix(job.openvino_overflow_fix),
                activations_range_estimator_params=getattr(RangeEstimatorParametersSet,
                                                           OPENVINO_ACTIVATION_RANGES.upper()))
            qmodel = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds),
                                   ignored_scope=nncf.IgnoredScope(names=ignored, validate=False),
                                   advanced_parameters=advanced)
            _compress_quantized_weights(qmodel)
            ov.save_model(qmodel, str(tmp_q), compress_to_fp16=False)
        os.replace(tmp_q.with_suffix(".bin"), job.path.with_suffix(".bin"))
        os.replace(tmp_q, job.path)
    finally:
        _remove(tmp, tmp_q)


# --------------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------------

def tflite_fp16(job: ConvertJob, precision: str) -> None:
    """fp32 .tflite → fp16 weights (ai-edge-quantizer FLOAT_CASTING, weight-only; compute stays fp32)."""
    aeq = require("ai_edge_quantizer", "tflite")
    from ai_edge_quantizer import algorithm_manager, qtyping

    tmp = _scratch(job.path, "fp32")
    try:
        get_backend("litert").convert(job.module, job.example_inputs, tmp, "fp32", job.litert_options())
        with quiet(LITERT_QUIET):
            qt = aeq.Quantizer(str(tmp))
            qt.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                      num_bits=16, algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
            result = qt.quantize()
        data = bytes(result.quantized_model)
        atomic_write(job.path, lambda t: Path(t).write_bytes(data))
    finally:
        _remove(tmp)


def _normalised_body_inputs(job: ConvertJob) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Calibration inputs as the SubNet sees them: NCHW, LR normalised like the wrapper does."""
    from dcnas_deploy.data.normalize import norm_stats

    out = []
    for lr, guide in job.calibration:
        if job.module.nhwc:
            lr, guide = lr.transpose(0, 3, 1, 2), guide.transpose(0, 3, 1, 2)
        if job.module.norm == "lr":
            lr = norm_stats("lr", lr).apply(lr)
        out.append((torch.from_numpy(np.ascontiguousarray(lr, np.float32)),
                    torch.from_numpy(np.ascontiguousarray(guide, np.float32))))
    return out


def tflite_int8(job: ConvertJob, precision: str) -> None:
    """PT2E static int8 of the SubNet in its LiteRT forms (calibrated on real crops), wrapped, converted by litert-torch."""
    job.require_calibration()
    with quiet(LITERT_QUIET):  # importing TensorFlow/torchao prints C++ and loader logs
        require("litert_torch", "tflite")
        from litert_torch.quantize import pt2e_quantizer as pq
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    body_inputs = _normalised_body_inputs(job)
    quantizer = pq.PT2EQuantizer().set_global(pq.get_symmetric_quantization_config(is_per_channel=True))
    with quiet(LITERT_QUIET), torch.no_grad():
        subnet = job.module.subnet.eval()
        if not job.plain_forms:  # the fp32 file's LiteRT forms, quantized as they will run
            from dcnas_deploy.model.litert_forms import litert_form

            subnet = litert_form(subnet)
        body = torch.export.export(subnet, body_inputs[0]).module()
        body = prepare_pt2e(body, quantizer)
        for args in body_inputs:
            body(*args)
        body = convert_pt2e(body, fold_quantize=False)
        allow_exported_model_train_eval(body)
        wrapped = Deployable(body, job.module.norm, job.module.nhwc)
        # litert-torch needs the quant_config for real int8 kernels (without it the Q/DQ pairs stay float
        # ops: a file larger than fp32); "fp32" names the precision of the parts left unquantized
        get_backend("litert").convert(wrapped, job.example_inputs, job.path, "fp32",
                                      {"quant_config": QuantConfig(pt2e_quantizer=quantizer)})


CONVERTERS: Dict[Tuple[str, str], Converter] = {
    ("onnx", "fp32"): backend_convert("onnxruntime"),
    ("onnx", "fp16"): onnx_fp16,
    ("onnx", "int8"): onnx_int8,
    ("openvino", "fp32"): backend_convert("openvino"),
    ("openvino", "fp16"): backend_convert("openvino"),
    ("openvino", "int8"): openvino_int8,
    ("tflite", "fp32"): backend_convert("litert"),
    ("tflite", "fp16"): tflite_fp16,
    ("tflite", "int8"): tflite_int8,
}
"""(format, precision) -> converter; the format table (formats.py) picks from here."""
