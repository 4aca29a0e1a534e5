"""Per-image metrics under a scoring protocol: RMSE, MAE, PSNR, SSIM, and max F-measure for saliency.

Every metric crops `protocol.border` pixels from each side, converts to reported units with
`protocol.factor`, and ignores pixels whose ground truth is a hole (NaN/inf, and 0 when the protocol's
`zero_is_hole`, i.e. depth). Datasets report the
mean of the per-image values (not a pooled RMSE), as the published tables do.
PSNR/SSIM use `protocol.peak` as the data range, or the image's valid GT max−min when it is None.
SSIM is Wang et al. 2004 (Gaussian window σ=1.5, 11×11, K1=0.01, K2=0.03), averaged over valid pixels
at least 5 px from the (cropped) edge. Its map equals torchmetrics' (1.9, gaussian_kernel, σ=1.5) to
~1e-15 on those pixels; torchmetrics' scalar is higher or lower by up to ~0.02 only because it also
averages the 5-px border, computed on mirror padding (and cannot mask holes). PSNR matches to ~4e-8.
Max F-measure (saliency, Achanta et al. 2009 / the DUT-OMRON protocol): the ground truth is binarised at
half its peak, the prediction at each of 256 thresholds over [0, peak]; F_β = (1+β²)·P·R / (β²·P + R)
with β² = 0.3, and the maximum over thresholds is reported.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np

from dcnas_deploy.data.holes import fill_holes, invalid_mask
from dcnas_deploy.data.protocols import EvalProtocol
from dcnas_deploy.errors import DcnasError

METRICS = ("rmse", "mae", "psnr", "ssim")
"""The metrics every task reports; tasks add theirs (TASK_METRICS)."""
TASK_METRICS = ("fmax",)
BETA2 = 0.3


def _scored(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, valid) cropped and in reported units (float64)."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise DcnasError(f"prediction is {pred.shape} but ground truth is {gt.shape}; they must match")
    b = protocol.border
    if b:
        if min(gt.shape) <= 2 * b:
            raise DcnasError(f"image {gt.shape} is too small for the {protocol.name} {b}-px border crop")
        pred, gt = pred[b:-b, b:-b], gt[b:-b, b:-b]
    valid = ~invalid_mask(gt, protocol.zero_is_hole)
    if not valid.any():
        raise DcnasError(f"ground truth has no valid pixels (all {'0/' if protocol.zero_is_hole else ''}NaN) "
                         "inside the scored area")
    bad = valid & ~np.isfinite(pred)
    if bad.any():
        raise DcnasError(f"prediction has {int(bad.sum())} NaN/inf pixels where the ground truth is valid")
    f = float(protocol.factor)
    return pred.astype(np.float64) * f, gt.astype(np.float64) * f, valid


def rmse(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol) -> float:
    """Root-mean-square error over valid GT pixels, in the protocol's units."""
    p, g, v = _scored(pred, gt, protocol)
    return float(np.sqrt(np.mean((p[v] - g[v]) ** 2)))


def mae(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol) -> float:
    """Mean absolute error over valid GT pixels, in the protocol's units."""
    p, g, v = _scored(pred, gt, protocol)
    return float(np.mean(np.abs(p[v] - g[v])))


def _peak(g: np.ndarray, v: np.ndarray, protocol: EvalProtocol) -> float:
    if protocol.peak is not None:
        return float(protocol.peak)
    span = float(g[v].max() - g[v].min())
    return span if span > 0 else 1.0


def psnr(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol) -> float:
    """Peak signal-to-noise ratio in dB over valid GT pixels (inf for a perfect prediction)."""
    p, g, v = _scored(pred, gt, protocol)
    err = float(np.sqrt(np.mean((p[v] - g[v]) ** 2)))
    return math.inf if err == 0 else 20.0 * math.log10(_peak(g, v, protocol) / err)


def ssim(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol) -> float:
    """Structural similarity (Gaussian-window SSIM) averaged over valid GT pixels (and over bands if H×W×C)."""
    p, g, v = _scored(pred, gt, protocol)
    if p.ndim == 3:  # each band with its own data range when the protocol has no fixed peak
        return float(np.mean([_ssim_band(p[..., c], g[..., c], v[..., c], _peak(g[..., c], v[..., c], protocol))
                              for c in range(p.shape[2])]))
    return _ssim_band(p, g, v, _peak(g, v, protocol))


def _ssim_band(p: np.ndarray, g: np.ndarray, v: np.ndarray, peak: float) -> float:
    """SSIM of one band in reported units (valid mask `v`, data range `peak`)."""
    from scipy.ndimage import gaussian_filter

    if not v.all():  # holes would create fake structure: give them the nearest valid values first
        g = fill_holes(np.where(v, g, np.nan), "ground truth", False).astype(np.float64)
        p = np.where(v, p, g)

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=1.5, truncate=3.5, mode="reflect")

    mu_p, mu_g = blur(p), blur(g)
    var_p = blur(p * p) - mu_p ** 2
    var_g = blur(g * g) - mu_g ** 2
    cov = blur(p * g) - mu_p * mu_g
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    smap = ((2 * mu_p * mu_g + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_g ** 2 + c1) * (var_p + var_g + c2))
    pad = 5
    if min(smap.shape) > 2 * pad + 1:
        smap, v = smap[pad:-pad, pad:-pad], v[pad:-pad, pad:-pad]
    return float(smap[v].mean()) if v.any() else float(smap.mean())


def fmax(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol, beta2: float = BETA2) -> float:
    """Max F-measure over 256 prediction thresholds, ground truth binarised at half the peak (saliency)."""
    p, g, v = _scored(pred, gt, protocol)
    peak = _peak(g, v, protocol)
    truth = g[v] >= 0.5 * peak
    if not truth.any():
        raise DcnasError("saliency ground truth has no salient pixel (nothing ≥ half the peak): F-measure undefined")
    level = np.clip(np.floor(np.clip(p[v], 0.0, peak) / peak * 255.0), 0, 255).astype(np.int64)
    # pixels predicted salient at threshold t are those with level ≥ t: reverse cumulative histograms
    pos = np.cumsum(np.bincount(level[truth], minlength=256)[::-1])[::-1].astype(np.float64)
    allp = np.cumsum(np.bincount(level, minlength=256)[::-1])[::-1].astype(np.float64)
    precision = np.divide(pos, allp, out=np.zeros_like(pos), where=allp > 0)
    recall = pos / float(truth.sum())
    denom = beta2 * precision + recall
    f = np.divide((1 + beta2) * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(f.max())


_FUNCTIONS = {"rmse": rmse, "mae": mae, "psnr": psnr, "ssim": ssim, "fmax": fmax}


PANSHARPENING_METRICS = ("sam", "ergas", "scc", "q", "q2n")
"""Reduced-resolution pan-sharpening indices (data.pansharpen_metrics); they need the scale."""


def compute_metrics(pred: np.ndarray, gt: np.ndarray, protocol: EvalProtocol,
                    extra: Tuple[str, ...] = (), scale: int = 0) -> Dict[str, float]:
    """All of METRICS for one image, plus the task metrics named in `extra` (e.g. ('fmax',)).

    With any pan-sharpening index in `extra`, PSNR and SSIM follow data.pansharpen_metrics (the whole cube's
    range, as the pan-sharpening toolboxes) and `scale` is required (ERGAS).
    """
    unknown = [m for m in extra if m not in _FUNCTIONS and m not in PANSHARPENING_METRICS]
    if unknown:
        raise DcnasError(f"unknown metric(s) {unknown}; known: {sorted([*_FUNCTIONS, *PANSHARPENING_METRICS])}")
    names = list(METRICS) + [m for m in extra if m not in METRICS and m in _FUNCTIONS]
    out = {m: _FUNCTIONS[m](pred, gt, protocol) for m in names}
    if any(m in PANSHARPENING_METRICS for m in extra):
        from dcnas_deploy.data.pansharpen_metrics import reduced_resolution_metrics

        if scale < 1:
            raise DcnasError("pan-sharpening indices need the scale (ERGAS)")
        rr = reduced_resolution_metrics(pred, gt, scale)
        out.update({m: rr[m] for m in extra if m in rr})
    return out
