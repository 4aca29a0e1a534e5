"""Classical pan-sharpening baselines (numpy/scipy only): (ms_lr h×w×C, pan H×W, scale) -> fused H×W×C float64.

All follow the general schemes of Vivone et al., "A critical comparison among pansharpening algorithms",
IEEE TGRS 53(5), 2015, and its MATLAB toolbox:

- component substitution (CS): F_k = M̃_k + g_k·(P − I), I an intensity built from the interpolated MS M̃;
- multi-resolution analysis (MRA): F_k = M̃_k + g_k·(P − P_L), P_L a low-pass version of the PAN.

M̃ is EXP, the MS interpolated by the pipeline's PIL bicubic (`dcnas_deploy.data.resize.pil_bicubic`, per band,
float32). As in the toolbox, the PAN is first histogram-matched (mean and standard deviation) to the intensity
(CS) or to each band (MRA) unless `equalize=False`; a constant intensity makes the matched PAN constant too (no
detail). With no detail to inject (CS: P equals the intensity; MRA: P equals its low-pass, e.g. a constant
PAN) every method returns EXP.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Sequence, Tuple, Union

import numpy as np

from dcnas_deploy.data.resize import pil_bicubic
from dcnas_deploy.errors import DcnasError

Baseline = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _inputs(ms_lr: np.ndarray, pan: np.ndarray, scale: int, min_bands: int, method: str
            ) -> Tuple[np.ndarray, np.ndarray, int]:
    """Checked (ms_lr h×w×C float64, pan H×W float64, scale) with H×W = scale × h×w."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise DcnasError(f"{method}: scale must be a positive integer, got {scale!r}")
    s = int(scale)
    m = np.asarray(ms_lr, dtype=np.float64)
    if m.ndim != 3 or m.size == 0:
        raise DcnasError(f"{method}: ms_lr must be a non-empty h×w×C array, got shape {m.shape}")
    if m.shape[2] < min_bands:
        raise DcnasError(f"{method} needs at least {min_bands} MS bands, got {m.shape[2]}")
    p = np.asarray(pan, dtype=np.float64)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[..., 0]
    if p.ndim != 2:
        raise DcnasError(f"{method}: pan must be H×W or H×W×1, got shape {np.shape(pan)}")
    want = (s * m.shape[0], s * m.shape[1])
    if p.shape != want:
        raise DcnasError(f"{method}: pan is {p.shape[0]}×{p.shape[1]} but scale {s} × ms_lr "
                         f"{m.shape[0]}×{m.shape[1]} = {want[0]}×{want[1]}; they must match")
    for name, a in (("ms_lr", m), ("pan", p)):
        if not np.isfinite(a).all():
            raise DcnasError(f"{method}: {name} has {int((~np.isfinite(a)).sum())} NaN/inf values")
    return m, p, s


def _up(ms: np.ndarray, scale: int) -> np.ndarray:
    """EXP interpolation: PIL bicubic ×scale per band, as float64."""
    return pil_bicubic(ms, (ms.shape[0] * scale, ms.shape[1] * scale)).astype(np.float64)


def _equalize(pan: np.ndarray, target: np.ndarray) -> np.ndarray:
    """PAN matched to target's mean and standard deviation (only the mean when the PAN or target is flat)."""
    sp, st = pan.std(), target.std()
    centred = pan - pan.mean()
    if sp > 0 and st > 0:
        centred = centred * (st / sp)
    elif st == 0:
        centred = np.zeros_like(pan)
    return centred + target.mean()


def _gains(ms_up: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """GS injection gains g_k = cov(M̃_k, I) / var(I) (1 when I is flat)."""
    i0 = intensity - intensity.mean()
    var = float(np.mean(i0 * i0))
    if var == 0:
        return np.ones(ms_up.shape[2])
    m0 = ms_up - ms_up.mean(axis=(0, 1))
    return np.einsum("hwc,hw->c", m0, i0) / (i0.size * var)


def exp(ms_lr: np.ndarray, pan: np.ndarray, scale: int) -> np.ndarray:
    """EXP (Vivone et al. 2015): the MS interpolated to the PAN grid (PIL bicubic per band); the PAN is unused."""
    m, _, s = _inputs(ms_lr, pan, scale, 1, "exp")
    return _up(m, s)


def brovey(ms_lr: np.ndarray, pan: np.ndarray, scale: int, equalize: bool = True) -> np.ndarray:
    """Brovey transform (Gillespie et al. 1987): F_k = M̃_k · P / I, I = band mean of M̃ (PAN matched to I)."""
    m, p, s = _inputs(ms_lr, pan, scale, 2, "brovey")
    up = _up(m, s)
    intensity = up.mean(axis=2)
    pe = _equalize(p, intensity) if equalize else p
    ratio = np.divide(pe, intensity, out=np.ones_like(pe), where=intensity != 0)
    return up * ratio[..., None]


def gihs(ms_lr: np.ndarray, pan: np.ndarray, scale: int, equalize: bool = True) -> np.ndarray:
    """Generalised (fast additive) IHS (Tu et al. 2001): F_k = M̃_k + (P − I), I = band mean of M̃."""
    m, p, s = _inputs(ms_lr, pan, scale, 2, "gihs")
    up = _up(m, s)
    intensity = up.mean(axis=2)
    pe = _equalize(p, intensity) if equalize else p
    return up + (pe - intensity)[..., None]


def gs(ms_lr: np.ndarray, pan: np.ndarray, scale: int, equalize: bool = True) -> np.ndarray:
    """Gram–Schmidt mode 1 (Laben & Brower 2000): I = band mean of M̃, F_k = M̃_k + cov(M̃_k,I)/var(I)·(P − I)."""
    m, p, s = _inputs(ms_lr, pan, scale, 2, "gs")
    up = _up(m, s)
    intensity = up.mean(axis=2)
    pe = _equalize(p, intensity) if equalize else p
    return up + _gains(up, intensity) * (pe - intensity)[..., None]


def gsa(ms_lr: np.ndarray, pan: np.ndarray, scale: int, equalize: bool = True) -> np.ndarray:
    """Adaptive GS (Aiazzi et al. 2007): I = least-squares fit of P on [M̃_1..M̃_C, 1], then GS injection."""
    m, p, s = _inputs(ms_lr, pan, scale, 2, "gsa")
    up = _up(m, s)
    # Fitted at the PAN scale on the interpolated (already low-pass) MS: exact when P is affine in the M̃_k.
    design = np.concatenate([up.reshape(-1, up.shape[2]), np.ones((p.size, 1))], axis=1)
    weights, *_ = np.linalg.lstsq(design, p.ravel(), rcond=None)
    intensity = (design @ weights).reshape(p.shape)
    pe = _equalize(p, intensity) if equalize else p
    return up + _gains(up, intensity) * (pe - intensity)[..., None]


def mtf_sigma(scale: int, gain: float) -> float:
    """σ (PAN pixels) of the Gaussian whose response at the MS Nyquist 1/(2·scale) is `gain` (Aiazzi et al. 2006)."""
    if not 0 < gain < 1:
        raise DcnasError(f"MTF gain at Nyquist must be in (0, 1), got {gain}")
    # Fourier transform of a Gaussian: H(f) = exp(−2π²σ²f²); H(1/(2·scale)) = gain.
    return scale * math.sqrt(-2.0 * math.log(gain)) / math.pi


def _glp_lowpass(pan: np.ndarray, scale: int, sigma: float) -> np.ndarray:
    """P_L: MTF Gaussian low-pass, centre-aligned decimation by scale, PIL-bicubic interpolation back."""
    from scipy.ndimage import gaussian_filter

    lp = gaussian_filter(pan, sigma, mode="reflect", truncate=4.0) if sigma > 0 else pan
    h, w = pan.shape[0] // scale, pan.shape[1] // scale
    c = (scale - 1) // 2  # LR pixel i covers PAN pixels [s·i, s·i + s): its centre is s·i + (s − 1)/2
    if scale % 2:
        lr = lp[c::scale, c::scale]
    else:
        lr = 0.25 * (lp[c::scale, c::scale] + lp[c + 1::scale, c::scale] + lp[c::scale, c + 1::scale]
                     + lp[c + 1::scale, c + 1::scale])
    return pil_bicubic(lr[:h, :w], pan.shape).astype(np.float64)


def mtf_glp(ms_lr: np.ndarray, pan: np.ndarray, scale: int, mtf_gain: Union[float, Sequence[float]] = 0.3,
            injection: str = "hpm", equalize: bool = True) -> np.ndarray:
    """MTF-GLP (Aiazzi et al. 2006): F_k = M̃_k + g_k(P − P_L), P_L via the MS-MTF Gaussian; gains HPM/unit/CBD."""
    m, p, s = _inputs(ms_lr, pan, scale, 1, "mtf-glp")
    c = m.shape[2]
    gains = np.broadcast_to(np.asarray(mtf_gain, dtype=np.float64), (c,)) if np.ndim(mtf_gain) == 0 else \
        np.asarray(mtf_gain, dtype=np.float64)
    if gains.shape != (c,):
        raise DcnasError(f"mtf-glp: mtf_gain must be one value or one per band ({c}), got {len(gains)}")
    if injection not in ("unit", "cbd", "hpm"):
        raise DcnasError(f"mtf-glp: injection must be 'unit', 'cbd' or 'hpm', got {injection!r}")
    up = _up(m, s)
    out = np.empty_like(up)
    for k in range(c):
        pk = _equalize(p, up[..., k]) if equalize else p
        low = _glp_lowpass(pk, s, mtf_sigma(s, float(gains[k])) if s > 1 else 0.0)
        if injection == "hpm":  # high-pass modulation: F = M̃ · P / P_L
            if (low <= 0).any():
                # equalising to a band with a large std/mean ratio pushed P_L through zero (P/P_L explodes, seen
                # on dark red bands of vegetation); the ratio is invariant to the PAN's gain, so use the PAN as is
                pk = p
                low = _glp_lowpass(pk, s, mtf_sigma(s, float(gains[k])) if s > 1 else 0.0)
            out[..., k] = up[..., k] * np.divide(pk, low, out=np.ones_like(pk), where=low > 0)
            continue
        g = 1.0
        if injection == "cbd":  # regression-based gain (Aiazzi et al. 2007): cov(M̃_k, P_L) / var(P_L)
            l0 = low - low.mean()
            var = float(np.mean(l0 * l0))
            g = float(np.mean((up[..., k] - up[..., k].mean()) * l0)) / var if var > 0 else 1.0
        out[..., k] = up[..., k] + g * (pk - low)
    return out


# Injection: "hpm" (default, MTF-GLP-HPM: g_k = M̃_k / P_L, i.e. F = M̃·P/P_L), "unit" (g_k = 1, plain MTF-GLP) or
# "cbd" (global regression g_k = cov(M̃_k, P_L)/var(P_L), MTF-GLP-CBD). mtf_gain is the MS sensor's MTF at its
# Nyquist (0.3 = the toolbox's generic value; QuickBird ≈ 0.34/0.32/0.30/0.22), one value or one per band; the
# PAN's own MTF (≈ 0.1–0.15) is not the right filter here. CBD is the best when the LR MS really went through
# that Gaussian (ERGAS 0.35 vs 1.1 for unit/HPM on a synthetic scene) but over-injects when it was degraded by
# bicubic instead (1.52 vs 0.64), so the robust HPM is the default.

PANSHARPEN_BASELINES: Dict[str, Baseline] = {
    "exp": exp,
    "brovey": brovey,
    "gihs": gihs,
    "gs": gs,
    "gsa": gsa,
    "mtf-glp": mtf_glp,
}
"""Name -> fn(ms_lr h×w×C, pan H×W, scale) -> fused H×W×C (float64), each with its default parameters."""
