"""Classical guided upsampling baselines on hole-free arrays (vectorised numpy/scipy).

- guided filter (He, Sun, Tang, TPAMI 2013), colour guide (H×W×3) or grey guide (H×W or H×W×1),
  applied to the bicubic-upsampled LR;
- joint bilateral upsampling (Kopf et al., SIGGRAPH 2007): LR samples weighted by a spatial Gaussian
  (in LR pixels) and a range Gaussian on the guide colour (or grey value) difference.

A three-band guide made of one grey band repeated is not the same as that grey band: the colour
guided filter then equals the grey one with eps/3, and the colour JBU the grey one with sigma_range/√3
(the squared colour distance is three times the grey one).
"""
from __future__ import annotations

import numpy as np

from dcnas_deploy.data.resize import bicubic_up, pil_bicubic


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (reflected at the edges), over the first two axes."""
    from scipy.ndimage import uniform_filter

    size = (2 * r + 1, 2 * r + 1) + (1,) * (x.ndim - 2)
    return uniform_filter(x, size=size, mode="reflect")


def _grey(guide: np.ndarray) -> bool:
    """True for a one-band guide (H×W or H×W×1)."""
    return guide.ndim == 2 or (guide.ndim == 3 and guide.shape[2] == 1)


def grey_guided_filter(p: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey guided filter of `p` (H×W) by `guide` (H×W or H×W×1): a = cov(I,p)/(var(I)+eps), q = ā·I + b̄."""
    I = guide.reshape(guide.shape[:2]).astype(np.float64)
    p64 = p.astype(np.float64)
    mean_i, mean_p = _box(I, radius), _box(p64, radius)
    var_i = _box(I * I, radius) - mean_i * mean_i
    cov_ip = _box(I * p64, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return (_box(a, radius) * I + _box(b, radius)).astype(np.float32)


def guided_filter(p: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter of `p` (H×W) by `guide`: colour (H×W×3, per-window 3×3 covariances) or grey (H×W[×1])."""
    if _grey(guide):
        return grey_guided_filter(p, guide, radius, eps)
    I = guide.astype(np.float64)
    p64 = p.astype(np.float64)
    mean_i = _box(I, radius)
    mean_p = _box(p64, radius)
    cov_ip = _box(I * p64[..., None], radius) - mean_i * mean_p[..., None]
    # Σ + εU, symmetric: entries (rr, rg, rb, gg, gb, bb)
    pairs = {(i, j): _box(I[..., i] * I[..., j], radius) - mean_i[..., i] * mean_i[..., j]
             for i in range(3) for j in range(i, 3)}
    a11, a12, a13 = pairs[0, 0] + eps, pairs[0, 1], pairs[0, 2]
    a22, a23, a33 = pairs[1, 1] + eps, pairs[1, 2], pairs[2, 2] + eps
    # inverse by the adjugate
    c11, c12, c13 = a22 * a33 - a23 * a23, a13 * a23 - a12 * a33, a12 * a23 - a13 * a22
    c22, c23, c33 = a11 * a33 - a13 * a13, a12 * a13 - a11 * a23, a11 * a22 - a12 * a12
    det = a11 * c11 + a12 * c12 + a13 * c13
    x, y, z = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack([c11 * x + c12 * y + c13 * z, c12 * x + c22 * y + c23 * z, c13 * x + c23 * y + c33 * z], -1)
    a /= det[..., None]
    b = mean_p - np.sum(a * mean_i, -1)
    q = np.sum(_box(a, radius) * I, -1) + _box(b, radius)
    return q.astype(np.float32)


def guided_filter_upsample(lr: np.ndarray, guide: np.ndarray, scale: int, radius: int, eps: float) -> np.ndarray:
    """Bicubic LR-up, then the colour (or grey) guided filter (the usual GF baseline for depth SR)."""
    return guided_filter(bicubic_up(lr, scale), guide, radius, eps)


def joint_bilateral_upsample(lr: np.ndarray, guide: np.ndarray, scale: int, sigma_spatial: float,
                             sigma_range: float, radius: int) -> np.ndarray:
    """JBU: each HR pixel averages LR pixels within `radius` LR pixels, weighted in space and guide colour.

    `guide` is H×W×3 (colour distance) or H×W / H×W×1 (grey-value distance).
    """
    if guide.ndim == 2:
        guide = guide[..., None]
    h, w = lr.shape
    H, W = guide.shape[:2]
    guide_lr = pil_bicubic(guide, (h, w))  # the guide colour at each LR sample
    py = (np.arange(H, dtype=np.float32) + 0.5) / scale - 0.5  # HR pixel centres in LR coordinates
    px = (np.arange(W, dtype=np.float32) + 0.5) / scale - 0.5
    iy, ix = np.rint(py).astype(int), np.rint(px).astype(int)
    num = np.zeros((H, W), dtype=np.float32)
    den = np.zeros((H, W), dtype=np.float32)
    inv_s, inv_r = 1.0 / (2 * sigma_spatial ** 2), 1.0 / (2 * sigma_range ** 2)
    g = guide.astype(np.float32)
    for oy in range(-radius, radius + 1):
        qy = np.clip(iy + oy, 0, h - 1)
        wy = np.exp(-((py - qy) ** 2) * inv_s).astype(np.float32)
        for ox in range(-radius, radius + 1):
            qx = np.clip(ix + ox, 0, w - 1)
            wx = np.exp(-((px - qx) ** 2) * inv_s).astype(np.float32)
            diff = g - guide_lr[qy][:, qx]
            # the 1e-6 floor falls back to a spatial average where no neighbour matches the colour
            wgt = (wy[:, None] * wx[None, :]) * (np.exp(-np.einsum("ijc,ijc->ij", diff, diff) * inv_r) + 1e-6)
            num += wgt * lr[qy][:, qx]
            den += wgt
    return num / den
