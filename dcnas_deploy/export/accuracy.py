"""Accuracy check of an exported file against the PyTorch model, and the gates that pass or fail it.

Per check image: PSNR of the file's output vs PyTorch's (peak = the PyTorch output's range on that image,
all pixels, so the number is in the depth units' own scale), max abs difference (depth units), and the
task RMSE of both against the ground truth under the dataset's scoring protocol
(`dcnas_deploy.data.metrics.rmse`). Reported: the worst image's PSNR, the largest max abs error, mean RMSEs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from dcnas_deploy.errors import ConfigError

DEFAULT_MIN_PSNR = {"fp32": 80.0, "fp16": 45.0, "int8": 35.0}
"""Default gates: PSNR vs PyTorch (dB) per precision.

fp16 is 45 dB: where a CPU computes in fp16 (AVX512-FP16; OpenVINO and ONNX Runtime then run fp16
kernels), random-weight networks measured 48.7-49.7 dB with task RMSE within 0.05 % of PyTorch's; fp16
weights with f32 compute measure > 100 dB. A broken conversion measures far below 35 dB."""
DEFAULT_MAX_RMSE_INCREASE = 10.0
"""Default gate: task RMSE at most this many percent worse than PyTorch's."""


def psnr_vs_reference(out: np.ndarray, ref: np.ndarray) -> float:
    """PSNR (dB) of `out` against `ref`, peak = ref's max − min (1 when flat); inf when identical."""
    out64, ref64 = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    if out64.shape != ref64.shape:
        raise ConfigError(f"output shape {out64.shape} differs from the PyTorch output's {ref64.shape}")
    if not np.all(np.isfinite(out64)):
        return -math.inf
    mse = float(np.mean((out64 - ref64) ** 2))
    if mse == 0:
        return math.inf
    peak = float(ref64.max() - ref64.min()) or 1.0
    return 10.0 * math.log10(peak * peak / mse)


@dataclass
class CheckResult:
    """The file's outputs compared with PyTorch's and with the ground truth."""

    psnr_db: float
    """Worst (lowest) per-image PSNR vs PyTorch."""
    max_abs: float
    """Largest |file − PyTorch| over all images (depth units)."""
    rmse_torch: float
    """Mean task RMSE of PyTorch vs ground truth (protocol units)."""
    rmse_file: float
    """Mean task RMSE of the file vs ground truth (protocol units)."""
    n_images: int
    per_image: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def rmse_increase_pct(self) -> float:
        """How much worse the file's task RMSE is than PyTorch's, in percent (negative: better)."""
        if self.rmse_torch == 0:
            return 0.0 if self.rmse_file == 0 else math.inf
        return 100.0 * (self.rmse_file - self.rmse_torch) / self.rmse_torch

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict (non-finite numbers as strings 'inf'/'-inf'/'nan')."""
        d = asdict(self)
        d["rmse_increase_pct"] = self.rmse_increase_pct
        return _json_safe(d)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


def compare(file_outputs: Sequence[np.ndarray], torch_outputs: Sequence[np.ndarray],
            ground_truths: Sequence[np.ndarray], protocol, names: Optional[Sequence[str]] = None) -> CheckResult:
    """Compare per-image outputs (H×W, depth units) of a file and of PyTorch, and both with ground truth."""
    from dcnas_deploy.data.metrics import rmse

    if not (len(file_outputs) == len(torch_outputs) == len(ground_truths)) or not file_outputs:
        raise ConfigError("compare needs the same non-zero number of file outputs, PyTorch outputs and ground truths")
    per: List[Dict[str, Any]] = []
    for i, (out, ref, gt) in enumerate(zip(file_outputs, torch_outputs, ground_truths)):
        finite = bool(np.all(np.isfinite(out)))
        per.append({"image": names[i] if names else str(i), "psnr_db": psnr_vs_reference(out, ref),
                    "max_abs": float(np.max(np.abs(np.asarray(out, np.float64) - ref))) if finite else math.inf,
                    "rmse_torch": rmse(ref, gt, protocol), "rmse_file": rmse(out, gt, protocol) if finite else math.inf})
    return CheckResult(psnr_db=min(p["psnr_db"] for p in per), max_abs=max(p["max_abs"] for p in per),
                       rmse_torch=float(np.mean([p["rmse_torch"] for p in per])),
                       rmse_file=float(np.mean([p["rmse_file"] for p in per])), n_images=len(per), per_image=per)


@dataclass(frozen=True)
class GateVerdict:
    """Whether a check passed; each failure says the tightest threshold that would have passed."""

    passed: bool
    failures: List[str]
    thresholds: Dict[str, float]


@dataclass(frozen=True)
class Gates:
    """Pass/fail thresholds: minimum PSNR vs PyTorch per precision and the largest task-RMSE increase."""

    min_psnr: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_PSNR))
    max_rmse_increase_pct: float = DEFAULT_MAX_RMSE_INCREASE

    @classmethod
    def with_overrides(cls, fp32: Optional[float] = None, fp16: Optional[float] = None,
                       int8: Optional[float] = None, max_rmse_increase_pct: Optional[float] = None) -> "Gates":
        """Defaults with the given thresholds replaced."""
        psnr = dict(DEFAULT_MIN_PSNR)
        for k, v in (("fp32", fp32), ("fp16", fp16), ("int8", int8)):
            if v is not None:
                psnr[k] = float(v)
        rmse = DEFAULT_MAX_RMSE_INCREASE if max_rmse_increase_pct is None else float(max_rmse_increase_pct)
        return cls(psnr, rmse)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict."""
        return {"min_psnr_db": dict(self.min_psnr), "max_rmse_increase_pct": self.max_rmse_increase_pct}

    def judge(self, result: CheckResult, precision: str) -> GateVerdict:
        """Apply the gates of `precision` to `result`."""
        if precision not in self.min_psnr:
            raise ConfigError(f"no PSNR gate for precision {precision!r}; known: {sorted(self.min_psnr)}")
        min_psnr = float(self.min_psnr[precision])
        failures = []
        if not result.psnr_db >= min_psnr:
            tight = math.floor(result.psnr_db * 10) / 10 if math.isfinite(result.psnr_db) else None
            hint = (f"would pass with --min-psnr-{precision} {tight:.1f}" if tight is not None
                    else "no threshold passes: the output has NaN/inf")
            failures.append(f"PSNR vs PyTorch {result.psnr_db:.2f} dB < {min_psnr:g} dB ({hint})")
        inc = result.rmse_increase_pct
        if not inc <= self.max_rmse_increase_pct:
            tight = math.ceil(inc * 10) / 10 if math.isfinite(inc) else None
            hint = (f"would pass with --max-rmse-increase {tight:.1f}" if tight is not None
                    else "no threshold passes")
            failures.append(f"task RMSE {result.rmse_file:.4g} vs PyTorch {result.rmse_torch:.4g}: "
                            f"{inc:+.2f}% > +{self.max_rmse_increase_pct:g}% ({hint})")
        return GateVerdict(not failures, failures,
                           {"min_psnr_db": min_psnr, "max_rmse_increase_pct": self.max_rmse_increase_pct})
