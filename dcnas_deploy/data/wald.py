"""Wald's reduced-resolution protocol for pan-sharpening: MTF-matched blur, then decimation.

To score a pan-sharpening method with a reference, the MS and PAN images are both degraded by the
MS/PAN resolution ratio `scale`; the method fuses the degraded pair and its output is compared with the
original MS (Wald, Ranchin & Mangolini 1997, "Fusion of satellite images of different spatial
resolutions: assessing the quality of resulting images"). Each band is low-passed by a Gaussian whose
frequency response at the Nyquist frequency of the low-resolution grid, 1/(2·scale) cycles per pixel,
equals the sensor's MTF gain there, then every `scale`-th pixel is kept (offset scale // 2, MATLAB's
``imresize(·, 1/scale, 'nearest')`` sampling).

MTF gains at Nyquist (`SENSORS`) are those of G. Vivone's pan-sharpening toolbox (``genMTF.m`` /
``MTF_PAN.m``; Vivone et al., "A Critical Comparison Among Pansharpening Algorithms", IEEE TGRS 53(5),
2015; the same table is in DLPan-Toolbox ``Tools/genMTF.m`` and PanCollection ``genMTF.py``):

* WorldView-2, 8 bands (coastal, blue, green, yellow, red, red-edge, NIR1, NIR2): 0.35 for the first seven,
  0.27 for NIR2; PAN 0.11. The 4-band product (blue, green, red, NIR1) takes the same bands' gains: 0.35 each.
* QuickBird (B, G, R, NIR): 0.34, 0.32, 0.30, 0.22; PAN 0.15.
* Gaofen-2: the toolbox has no Gaofen-2 entry and DLPan-Toolbox (which scores its GF2 data) falls through to
  its default, 0.3 for every MS band; PAN takes the toolbox's 'none' default, 0.15.

The kernel is a separable sampled Gaussian whose σ is solved so that the *discrete* kernel's response at
Nyquist is the gain exactly (the toolbox instead windows a 41-tap Gaussian with a Kaiser window; the
responses agree to a few thousandths).
"""
from __future__ import annotations

import math
from typing import Dict, NamedTuple, Sequence, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError, DcnasError

F32 = np.float32
DEFAULT_SIZE = 41
"""Kernel taps per axis (the toolbox's N = 41)."""


class SensorMTF(NamedTuple):
    """A sensor's MTF gains at Nyquist and its bit depth."""

    ms_gains: Dict[int, Tuple[float, ...]]
    """Per band count, the MS gains in band order."""
    pan_gain: float
    max_dn: int
    """Largest digital number (2**bits − 1)."""


SENSORS: Dict[str, SensorMTF] = {
    "worldview": SensorMTF({4: (0.35, 0.35, 0.35, 0.35), 8: (0.35,) * 7 + (0.27,)}, 0.11, 2047),
    "quickbird": SensorMTF({4: (0.34, 0.32, 0.30, 0.22)}, 0.15, 2047),
    "gaofen2": SensorMTF({4: (0.3, 0.3, 0.3, 0.3)}, 0.15, 1023),
}
"""Sensor name → MTF gains (Vivone's toolbox, see the module docstring) and its DN range."""


def sensor_mtf(sensor: str) -> SensorMTF:
    """The SENSORS entry for `sensor` (ConfigError listing the known ones otherwise)."""
    try:
        return SENSORS[str(sensor).lower()]
    except KeyError:
        raise ConfigError(f"unknown sensor {sensor!r}; known: {', '.join(sorted(SENSORS))}") from None


def ms_gains(sensor: str, bands: int) -> Tuple[float, ...]:
    """The MS MTF gains of `sensor` for a `bands`-band image (ConfigError when it has no such product)."""
    mtf = sensor_mtf(sensor)
    if int(bands) not in mtf.ms_gains:
        have = " and ".join(f"{b}-band" for b in sorted(mtf.ms_gains))
        raise ConfigError(f"sensor {sensor!r} has MTF gains for {have} images, not {bands} bands")
    return mtf.ms_gains[int(bands)]


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be an integer ≥ 1, got {scale!r}")
    return int(scale)


def _check_gain(gain: float) -> float:
    g = float(gain)
    if not 0.0 < g < 1.0:
        raise ConfigError(f"MTF gain at Nyquist must be in (0, 1), got {gain!r}")
    return g


def _taps(sigma: float, size: int) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _response(taps: np.ndarray, freq: float) -> float:
    """Frequency response (real: the taps are symmetric) of 1-D taps at `freq` cycles per pixel."""
    x = np.arange(taps.size, dtype=np.float64) - (taps.size - 1) / 2
    return float(np.sum(taps * np.cos(2 * math.pi * freq * x)))


def mtf_taps(nyquist_gain: float, scale: int, size: int = DEFAULT_SIZE) -> np.ndarray:
    """1-D Gaussian taps (sum 1) whose response at 1/(2·scale) cycles/pixel equals `nyquist_gain`."""
    from scipy.optimize import brentq

    g, s = _check_gain(nyquist_gain), _check_scale(scale)
    if s == 1:
        raise ConfigError("an MTF kernel needs scale ≥ 2 (at scale 1 the LR Nyquist is the HR one: nothing to blur)")
    if isinstance(size, bool) or int(size) != size or size < 3 or size % 2 == 0:
        raise ConfigError(f"kernel size must be an odd integer ≥ 3, got {size!r}")
    size = int(size)
    f = 1.0 / (2 * s)
    sigma0 = s * math.sqrt(-2.0 * math.log(g)) / math.pi  # continuous Gaussian: exp(-2π²σ²f²) = g
    lo, hi = 0.05, max(4 * sigma0, 1.0)
    if _response(_taps(hi, size), f) > g:
        raise ConfigError(f"a {size}-tap kernel cannot reach gain {g} at the Nyquist of scale {s}; use more taps "
                          f"(about {2 * math.ceil(4 * sigma0) + 1})")
    sigma = brentq(lambda sg: _response(_taps(sg, size), f) - g, lo, hi, xtol=1e-10)
    return _taps(sigma, size)


def mtf_gaussian_kernel(nyquist_gain: float, scale: int, size: int = DEFAULT_SIZE) -> np.ndarray:
    """size×size Gaussian kernel (sum 1) whose response at the LR Nyquist 1/(2·scale) equals `nyquist_gain`."""
    t = mtf_taps(nyquist_gain, scale, size)
    return np.outer(t, t)


def _blur(band: np.ndarray, taps: np.ndarray) -> np.ndarray:
    from scipy.ndimage import correlate1d

    out = correlate1d(band.astype(np.float64), taps, axis=0, mode="nearest")
    return correlate1d(out, taps, axis=1, mode="nearest")


def _check_divisible(shape: Tuple[int, ...], scale: int, what: str) -> None:
    h, w = shape[:2]
    if h % scale or w % scale:
        raise DcnasError(f"{what} is {h}×{w}, not divisible by scale {scale}: crop it to "
                         f"{h - h % scale}×{w - w % scale} first")


def degrade_ms(ms: np.ndarray, scale: int, gains: Sequence[float], size: int = DEFAULT_SIZE) -> np.ndarray:
    """Per-band MTF blur of H×W×C (or H×W) `ms` then decimation by `scale`: (H/scale)×(W/scale)[×C] float32."""
    s = _check_scale(scale)
    a = np.asarray(ms)
    if a.ndim not in (2, 3):
        raise DcnasError(f"MS image must be H×W×C or H×W, got shape {a.shape}")
    cube = a[..., None] if a.ndim == 2 else a
    gains = [float(g) for g in np.atleast_1d(np.asarray(gains, dtype=np.float64))]
    if len(gains) != cube.shape[2]:
        raise ConfigError(f"{len(gains)} MTF gain(s) for a {cube.shape[2]}-band image; give one per band")
    _check_divisible(cube.shape, s, "MS image")
    if s == 1:
        return np.asarray(a, dtype=F32).copy()
    off = s // 2
    out = np.stack([_blur(cube[..., c], mtf_taps(g, s, size))[off::s, off::s] for c, g in enumerate(gains)], -1)
    return (out[..., 0] if a.ndim == 2 else out).astype(F32)


def degrade_pan(pan: np.ndarray, scale: int, gain: float, size: int = DEFAULT_SIZE) -> np.ndarray:
    """MTF blur of an H×W (or H×W×1) PAN image then decimation by `scale`, same layout, float32."""
    a = np.asarray(pan)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1)):
        raise DcnasError(f"PAN image must be H×W or H×W×1, got shape {a.shape}")
    return degrade_ms(a, scale, [gain], size)


def reduced_resolution(ms_hr: np.ndarray, pan_hr: np.ndarray, scale: int,
                       sensor: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wald's protocol: (MS degraded by scale, PAN degraded by scale, reference = the original MS).

    `ms_hr` is the MS image at its own resolution (h×w×C) and `pan_hr` the PAN at `scale`× that ((s·h)×(s·w),
    or ×1). The degraded PAN (same layout as `pan_hr`) has the reference's size, the degraded MS 1/scale of it;
    both sizes of the MS must be divisible by `scale`. For a sample whose target is already the MS at the PAN's
    resolution (pansharpening-synthetic), the LR input is ``degrade_ms(target, scale, ms_gains(sensor, C))``
    and the PAN stays as it is.
    """
    s = _check_scale(scale)
    ms = np.asarray(ms_hr)
    pan = np.asarray(pan_hr)
    keep_axis = pan.ndim == 3
    if ms.ndim != 3:
        raise DcnasError(f"MS image must be h×w×C, got shape {ms.shape}")
    if keep_axis and pan.shape[2] == 1:
        pan = pan[..., 0]
    if pan.ndim != 2:
        raise DcnasError(f"PAN image must be H×W or H×W×1, got shape {np.shape(pan_hr)}")
    if pan.shape != (ms.shape[0] * s, ms.shape[1] * s):
        raise DcnasError(f"PAN is {pan.shape[0]}×{pan.shape[1]} but the MS is {ms.shape[0]}×{ms.shape[1]}: for "
                         f"scale {s} the PAN must be {ms.shape[0] * s}×{ms.shape[1] * s}")
    mtf = sensor_mtf(sensor)
    ms_lr = degrade_ms(ms, s, ms_gains(sensor, ms.shape[2]))
    pan_lr = degrade_pan(pan, s, mtf.pan_gain)
    return ms_lr, (pan_lr[..., None] if keep_axis else pan_lr), np.asarray(ms, dtype=F32)
