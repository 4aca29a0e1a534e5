"""Pan-sharpening quality indices: reduced resolution (Wald protocol, with a reference) and full resolution (QNR).

Arrays are channel-last: fused and reference MS are H×W×C, the LR MS h×w×C with H = scale·h, the PAN H×W
(or H×W×1), all in the same units (digital numbers or reflectance). Everything is computed in float64.

From torchmetrics (1.9, `torchmetrics.functional.image`), wrapped for numpy H×W×C input:

- PSNR (`peak_signal_noise_ratio`) over all bands jointly, data range = the reference's max − min unless given
  (torchmetrics holds the data range and log(base) in float32: ~1e-7 relative error even on float64 input);
- SSIM (`structural_similarity_index_measure`), Gaussian 11×11, σ = 1.5, averaged over bands (Wang et al. 2004);
- SAM (`spectral_angle_mapper`): torchmetrics returns **radians** and gives NaN for a zero pixel vector; we
  report **degrees** averaged over the pixels where both vectors are non-zero (as the Vivone et al. toolbox);
- ERGAS (`error_relative_global_dimensionless_synthesis`): torchmetrics computes `100 / ratio · sqrt(mean_k
  (RMSE_k / μ_k)²)` with μ_k the reference band mean, so its `ratio` is the *scale* (HR/LR = 4), not Wald's
  pixel-size ratio h/l = 1/4 (passing 1/4 gives 16× Wald's value). We pass `ratio=scale`.

Our own, from the published definitions (torchmetrics lacks them or defines them differently):

- SCC: Zhou, Civco & Silander 1998 — Pearson correlation of the 3×3 Laplacian high-pass of each fused band
  and of the reference band (or the PAN), over the whole band (1-px border dropped), averaged over bands.
  torchmetrics' `spatial_correlation_coefficient` is a different, local variant (mean of 8×8-window
  correlations, zero-padded, 0 on flat windows, float32): it gives SCC(x, x) < 1 when x has flat areas.
- Q (UQI averaged over bands): Wang & Bovik 2002 with the toolbox's 32×32 sliding window and img_qi's flat-window
  conventions. torchmetrics' `universal_image_quality_index` uses a Gaussian window and returns 0 on flat
  windows, so UQI(x, x) < 1 when x has flat areas.
- Q2n (Q4 for 4 bands, Q8 for 8): Alparone et al. 2004 (Q4, quaternions) and Garzelli & Nencini 2009 (Q2n,
  2ⁿ-ons by Cayley–Dickson), as in the Vivone et al. toolbox `q2n.m`: 32×32 blocks (mirror-padded to a multiple),
  bands zero-padded to a power of two, each block band normalised by the reference's block mean/std.
- D_λ, D_s, QNR: Alparone et al. 2008 (PE&RS 74(2)) as in the Vivone et al. toolbox (`D_lambda.m`, `D_s.m`, the
  original-paper option): UQI over non-overlapping S×S blocks at full resolution and (S/scale)² blocks at the MS
  resolution, S = 32; D_λ compares inter-band UQIs of the fused image with those of the LR MS, D_s compares
  UQI(fused band, PAN) with UQI(LR MS band, LR PAN). torchmetrics' versions differ: Gaussian-window UQI of the
  same pixel size at both scales, a 7×7 box + non-antialiased resize as the default LR PAN, a PAN that must be
  repeated to C bands, and float32 accumulation even for float64 input.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy.errors import DcnasError

LAPLACIAN = np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
"""The high-pass filter of Zhou et al. 1998 for SCC."""


# ---------------------------------------------------------------------------------------------- input checks
def _hwc(x: np.ndarray, name: str) -> np.ndarray:
    """`x` as a finite float64 H×W×C array (an H×W array becomes H×W×1)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise DcnasError(f"{name} must be an H×W×C (or H×W) array, got shape {a.shape}")
    if a.size == 0:
        raise DcnasError(f"{name} is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        raise DcnasError(f"{name} has {int((~np.isfinite(a)).sum())} NaN/inf values")
    return a


def _pan(pan: np.ndarray, name: str = "pan") -> np.ndarray:
    """PAN as a finite float64 H×W array (H×W×1 accepted)."""
    p = _hwc(pan, name)
    if p.shape[2] != 1:
        raise DcnasError(f"{name} must be H×W or H×W×1, got shape {np.shape(pan)}")
    return p[..., 0]


def _pair(fused: np.ndarray, reference: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(fused, reference) as float64 H×W×C of the same shape."""
    f, r = _hwc(fused, "fused"), _hwc(reference, "reference")
    if f.shape != r.shape:
        raise DcnasError(f"fused is {f.shape} but reference is {r.shape}; they must have the same shape")
    return f, r


def _scale(scale: int) -> int:
    """A positive integer scale."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise DcnasError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


def _tensor(x: np.ndarray):
    """H×W×C float64 array -> 1×C×H×W float64 torch tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


# ---------------------------------------------------------------------------------------------- torchmetrics
def psnr(fused: np.ndarray, reference: np.ndarray, data_range: Optional[float] = None) -> float:
    """PSNR in dB over all bands, 10·log10(range² / MSE), range = reference max − min by default (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    f, r = _pair(fused, reference)
    rng = float(r.max() - r.min()) if data_range is None else float(data_range)
    if not rng > 0:
        raise DcnasError("PSNR needs a positive data range (the reference is constant: pass data_range)")
    if np.array_equal(f, r):
        return math.inf
    return float(peak_signal_noise_ratio(_tensor(f), _tensor(r), data_range=rng))


def ssim(fused: np.ndarray, reference: np.ndarray, data_range: Optional[float] = None) -> float:
    """SSIM (Wang et al. 2004; Gaussian 11×11, σ=1.5) averaged over bands and pixels (torchmetrics)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    f, r = _pair(fused, reference)
    if min(f.shape[:2]) < 11:
        raise DcnasError(f"SSIM needs images of at least 11×11 pixels, got {f.shape[0]}×{f.shape[1]}")
    rng = float(r.max() - r.min()) if data_range is None else float(data_range)
    if not rng > 0:
        raise DcnasError("SSIM needs a positive data range (the reference is constant: pass data_range)")
    value = structural_similarity_index_measure(_tensor(f), _tensor(r), data_range=rng)
    return float(value[0] if isinstance(value, tuple) else value)


def sam(fused: np.ndarray, reference: np.ndarray) -> float:
    """Spectral Angle Mapper (Yuhas et al. 1992) in degrees, mean over pixels with non-zero vectors (torchmetrics)."""
    from torchmetrics.functional.image import spectral_angle_mapper

    f, r = _pair(fused, reference)
    if f.shape[2] < 2:
        raise DcnasError(f"SAM needs at least 2 bands, got {f.shape[2]}")
    angles = spectral_angle_mapper(_tensor(f), _tensor(r), reduction="none").numpy()[0]  # radians, H×W
    valid = (np.linalg.norm(f, axis=2) > 0) & (np.linalg.norm(r, axis=2) > 0)
    if not valid.any():
        raise DcnasError("SAM is undefined: every pixel of fused or reference is the zero vector")
    return float(np.degrees(angles[valid].mean()))


def ergas(fused: np.ndarray, reference: np.ndarray, scale: int) -> float:
    """ERGAS (Wald 2002) = 100·(1/scale)·sqrt(mean_k (RMSE_k/μ_k)²), μ_k the reference band mean (torchmetrics)."""
    from torchmetrics.functional.image import error_relative_global_dimensionless_synthesis

    f, r = _pair(fused, reference)
    s = _scale(scale)
    means = r.reshape(-1, r.shape[2]).mean(axis=0)
    if np.any(means == 0):
        raise DcnasError(f"ERGAS is undefined: reference band(s) {np.flatnonzero(means == 0).tolist()} have mean 0")
    # torchmetrics' `ratio` divides 100: it is the scale (HR/LR), not Wald's pixel-size ratio h/l = 1/scale.
    return float(error_relative_global_dimensionless_synthesis(_tensor(f), _tensor(r), ratio=s))


# ---------------------------------------------------------------------------------------------- our own
def scc(fused: np.ndarray, reference: np.ndarray) -> float:
    """SCC (Zhou et al. 1998): correlation of 3×3-Laplacian high-passes of fused and reference (or PAN) bands, mean."""
    from scipy.ndimage import correlate

    f = _hwc(fused, "fused")
    r = _hwc(reference, "reference")
    if r.shape[2] == 1 and f.shape[2] > 1:
        r = np.repeat(r, f.shape[2], axis=2)  # a PAN: every fused band against it
    if f.shape != r.shape:
        raise DcnasError(f"fused is {f.shape} but reference is {r.shape}; they must have the same shape "
                         "(or the reference must be a one-band PAN of the same size)")
    if min(f.shape[:2]) < 3:
        raise DcnasError(f"SCC needs images of at least 3×3 pixels, got {f.shape[0]}×{f.shape[1]}")
    values = []
    for k in range(f.shape[2]):
        a = correlate(f[..., k], LAPLACIAN, mode="reflect")[1:-1, 1:-1].ravel()
        b = correlate(r[..., k], LAPLACIAN, mode="reflect")[1:-1, 1:-1].ravel()
        a, b = a - a.mean(), b - b.mean()
        den = math.sqrt(float(a @ a) * float(b @ b))
        if den == 0:  # a flat high-pass: correlated only if both are flat
            values.append(1.0 if not a.any() and not b.any() else 0.0)
        else:
            values.append(float(a @ b) / den)
    return float(np.mean(values))


def _qi(mx, my, vx, vy, cxy):
    """Wang–Bovik UQI from means, variances, covariance, with img_qi.m's conventions for flat/zero-mean windows."""
    mx, my, vx, vy, cxy = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (mx, my, vx, vy, cxy)))
    den1 = vx + vy
    den2 = mx * mx + my * my
    q = np.ones(den1.shape)
    a = (den1 == 0) & (den2 != 0)
    q[a] = 2 * mx[a] * my[a] / den2[a]
    b = (den1 != 0) & (den2 == 0)
    q[b] = 2 * cxy[b] / den1[b]
    c = (den1 != 0) & (den2 != 0)
    q[c] = 4 * cxy[c] * mx[c] * my[c] / (den1[c] * den2[c])
    return q


def _window_means(x: np.ndarray, w: int) -> np.ndarray:
    """Means over every w×w window fully inside x (a 'valid' box filter), via an integral image."""
    s = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (s[w:, w:] - s[:-w, w:] - s[w:, :-w] + s[:-w, :-w]) / (w * w)


def uqi(fused: np.ndarray, reference: np.ndarray, window: int = 32) -> float:
    """UQI (Wang & Bovik 2002) over every window×window sliding window, averaged over windows and bands (toolbox Q)."""
    from scipy.ndimage import maximum_filter, minimum_filter

    f, r = _pair(fused, reference)
    w = min(int(window), f.shape[0], f.shape[1])
    if w < 2:
        raise DcnasError(f"UQI needs windows of at least 2×2 pixels, got image {f.shape[0]}×{f.shape[1]}")
    values = []
    for k in range(f.shape[2]):
        x, y = f[..., k], r[..., k]
        c = 0.5 * (x.mean() + y.mean())  # centre both alike: smaller cancellation in E[x²] − E[x]²
        mx, my = _window_means(x - c, w), _window_means(y - c, w)
        vx = _window_means((x - c) ** 2, w) - mx * mx
        vy = _window_means((y - c) ** 2, w) - my * my
        cxy = _window_means((x - c) * (y - c), w) - mx * my
        lo = (slice(w // 2, w // 2 + mx.shape[0]), slice(w // 2, w // 2 + mx.shape[1]))
        flat_x = (maximum_filter(x, w) == minimum_filter(x, w))[lo]  # window [i, i+w) is centred at i + w//2
        flat_y = (maximum_filter(y, w) == minimum_filter(y, w))[lo]
        vx = np.where(flat_x, 0.0, np.maximum(vx, 0.0))
        vy = np.where(flat_y, 0.0, np.maximum(vy, 0.0))
        cxy = np.where(flat_x | flat_y, 0.0, cxy)
        values.append(_qi(mx + c, my + c, vx, vy, cxy).mean())
    return float(np.mean(values))


def _cd_conj(x: np.ndarray) -> np.ndarray:
    """Conjugate of hypercomplex numbers along the last axis (negate all but the real part)."""
    y = -x
    y[..., 0] = x[..., 0]
    return y


def cayley_dickson_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Product of 2ⁿ-ons along the last axis by Cayley–Dickson, (p,q)(r,s) = (pr − s̄q, sp + qr̄) (Hamilton for n=2)."""
    n = x.shape[-1]
    if n == 1:
        return x * y
    if n & (n - 1):
        raise DcnasError(f"hypercomplex numbers need a power-of-two dimension, got {n}")
    h = n // 2
    p, q, r, s = x[..., :h], x[..., h:], y[..., :h], y[..., h:]
    return np.concatenate([cayley_dickson_product(p, r) - cayley_dickson_product(_cd_conj(s), q),
                           cayley_dickson_product(s, p) + cayley_dickson_product(q, _cd_conj(r))], axis=-1)


def _q2n_blocks(ref: np.ndarray, fus: np.ndarray) -> np.ndarray:
    """Q2n of each block: ref, fus are nb×npix×N (N a power of two); returns nb values (toolbox onions_quality.m)."""
    npix = ref.shape[1]
    mean = ref.mean(axis=1, keepdims=True)
    std = ref.std(axis=1, ddof=1, keepdims=True) if npix > 1 else np.zeros_like(mean)
    flat = ref.max(axis=1, keepdims=True) == ref.min(axis=1, keepdims=True)
    # The toolbox divides a flat reference band by eps (amplifying any fused deviation 4.5e15×); we only shift it.
    t = np.where(flat | (std == 0), 1.0, std)
    z1 = np.where(flat, 1.0, (ref - mean) / t + 1.0)
    z2 = (fus - mean) / t + 1.0
    m1, m2 = z1.mean(axis=1), z2.mean(axis=1)  # nb×N
    m1sq, m2sq = (m1 ** 2).sum(-1), (m2 ** 2).sum(-1)
    mean_bias = 2 * np.sqrt(m1sq * m2sq) / (m1sq + m2sq)
    var_sum = ((z1 ** 2).sum(-1).mean(1) - m1sq) + ((z2 ** 2).sum(-1).mean(1) - m2sq)  # σ1² + σ2² (biased)
    cov = cayley_dickson_product(z1, _cd_conj(z2)).mean(axis=1) - cayley_dickson_product(m1, _cd_conj(m2))
    out = mean_bias.copy()
    ok = var_sum > 1e-14 * (m1sq + m2sq)  # termine3 == 0 in the toolbox: the mean-bias term alone
    out[ok] = np.linalg.norm(cov[ok], axis=-1) * mean_bias[ok] * 2 / var_sum[ok]
    return out


def _blocks(img: np.ndarray, block: int) -> np.ndarray:
    """H×W×C (H, W multiples of block) -> nb×block²×C."""
    h, w, c = img.shape
    return (img.reshape(h // block, block, w // block, block, c).transpose(0, 2, 1, 3, 4)
            .reshape(-1, block * block, c))


def q2n(fused: np.ndarray, reference: np.ndarray, block_size: int = 32) -> float:
    """Q2n (Q4 for 4 bands; Alparone et al. 2004, Garzelli & Nencini 2009): hypercomplex UQI on blocks, mean (q2n.m)."""
    f, r = _pair(fused, reference)
    b = int(block_size)
    if b < 2:
        raise DcnasError(f"Q2n block size must be at least 2, got {block_size}")
    h, w, c = r.shape
    ph, pw = (-h) % b, (-w) % b
    if ph > h or pw > w:
        raise DcnasError(f"Q2n: image {h}×{w} is too small for {b}×{b} blocks (needs at least {b // 2 + b % 2} px)")
    pad = ((0, ph), (0, pw), (0, 0))
    f, r = np.pad(f, pad, mode="symmetric"), np.pad(r, pad, mode="symmetric")
    n = 1 << (c - 1).bit_length()  # bands zero-padded to a power of two
    if n != c:
        extra = ((0, 0), (0, 0), (0, n - c))
        f, r = np.pad(f, extra), np.pad(r, extra)
    return float(_q2n_blocks(_blocks(r, b), _blocks(f, b)).mean())


def _block_stats(img: np.ndarray, block: int) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per non-overlapping block (trailing partial blocks included, as blockproc): (means C, cov C×C, flat C)."""
    out = []
    for i in range(0, img.shape[0], block):
        for j in range(0, img.shape[1], block):
            v = img[i:i + block, j:j + block].reshape(-1, img.shape[2])
            m = v.mean(axis=0)
            d = v - m
            flat = v.max(axis=0) == v.min(axis=0)
            d[:, flat] = 0.0
            out.append((m, d.T @ d / len(v), flat))
    return out


def _block_qi_matrix(img: np.ndarray, block: int) -> np.ndarray:
    """C×C matrix of UQI(band i, band j) averaged over block×block blocks."""
    stats = _block_stats(img, block)
    total = np.zeros((img.shape[2], img.shape[2]))
    for m, cov, _ in stats:
        v = np.diag(cov)
        total += _qi(m[:, None], m[None, :], v[:, None], v[None, :], cov)
    return total / len(stats)


def _full_res_inputs(fused, ms_lr, pan, scale, pan_lr) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked (fused H×W×C, ms_lr h×w×C, pan H×W, pan_lr h×w)."""
    from dcnas_deploy.data.resize import bicubic_down

    s = _scale(scale)
    f, m, p = _hwc(fused, "fused"), _hwc(ms_lr, "ms_lr"), _pan(pan)
    if f.shape[2] != m.shape[2]:
        raise DcnasError(f"fused has {f.shape[2]} bands but ms_lr has {m.shape[2]}")
    if p.shape != f.shape[:2]:
        raise DcnasError(f"pan is {p.shape[0]}×{p.shape[1]} but fused is {f.shape[0]}×{f.shape[1]}; they must match")
    if f.shape[:2] != (s * m.shape[0], s * m.shape[1]):
        raise DcnasError(f"fused is {f.shape[0]}×{f.shape[1]} but ms_lr is {m.shape[0]}×{m.shape[1]}: "
                         f"expected fused = scale ({s}) × ms_lr")
    if pan_lr is None:
        pl = bicubic_down(p, s).astype(np.float64)
    else:
        pl = _pan(pan_lr, "pan_lr")
        if pl.shape != m.shape[:2]:
            raise DcnasError(f"pan_lr is {pl.shape[0]}×{pl.shape[1]} but ms_lr is {m.shape[0]}×{m.shape[1]}")
    return f, m, p, pl


def _lr_block(block_size: int, scale: int) -> int:
    """The MS-scale block size S/scale (S must be a multiple of scale)."""
    if block_size < scale or block_size % scale:
        raise DcnasError(f"block_size {block_size} must be a positive multiple of the scale {scale}")
    return block_size // scale


def d_lambda(fused: np.ndarray, ms_lr: np.ndarray, scale: Optional[int] = None, block_size: int = 32,
             p: int = 1) -> float:
    """D_λ (Alparone et al. 2008): (mean_{i≠j} |Q(F_i,F_j) − Q(M_i,M_j)|^p)^(1/p), block UQI (S at HR, S/scale at LR)."""
    f, m = _hwc(fused, "fused"), _hwc(ms_lr, "ms_lr")
    if f.shape[2] != m.shape[2]:
        raise DcnasError(f"fused has {f.shape[2]} bands but ms_lr has {m.shape[2]}")
    if f.shape[2] < 2:
        raise DcnasError(f"D_lambda needs at least 2 bands, got {f.shape[2]}")
    s = f.shape[0] // m.shape[0] if scale is None else _scale(scale)
    if f.shape[:2] != (s * m.shape[0], s * m.shape[1]):
        raise DcnasError(f"fused is {f.shape[0]}×{f.shape[1]} but ms_lr is {m.shape[0]}×{m.shape[1]}: "
                         f"expected fused = scale ({s}) × ms_lr")
    diff = np.abs(_block_qi_matrix(f, block_size) - _block_qi_matrix(m, _lr_block(block_size, s))) ** p
    c = f.shape[2]
    return float((diff[~np.eye(c, dtype=bool)].sum() / (c * (c - 1))) ** (1.0 / p))


def d_s(fused: np.ndarray, ms_lr: np.ndarray, pan: np.ndarray, scale: int, pan_lr: Optional[np.ndarray] = None,
        block_size: int = 32, q: int = 1) -> float:
    """D_s (Alparone et al. 2008): (mean_i |Q(F_i,P) − Q(M_i,P_LR)|^q)^(1/q); P_LR = PIL-bicubic ↓scale unless given."""
    f, m, pn, pl = _full_res_inputs(fused, ms_lr, pan, scale, pan_lr)
    s = _scale(scale)
    hr = _block_qi_matrix(np.concatenate([f, pn[..., None]], axis=2), block_size)[:-1, -1]
    lr = _block_qi_matrix(np.concatenate([m, pl[..., None]], axis=2), _lr_block(block_size, s))[:-1, -1]
    return float(np.mean(np.abs(hr - lr) ** q) ** (1.0 / q))


def qnr(d_lambda_value: float, d_s_value: float, alpha: float = 1.0, beta: float = 1.0) -> float:
    """QNR (Alparone et al. 2008) = (1 − D_λ)^α · (1 − D_s)^β."""
    return float((1.0 - d_lambda_value) ** alpha * (1.0 - d_s_value) ** beta)


# ---------------------------------------------------------------------------------------------- the two protocols
def reduced_resolution_metrics(fused: np.ndarray, reference: np.ndarray, scale: int,
                               data_range: Optional[float] = None) -> Dict[str, float]:
    """Wald-protocol indices of fused vs reference MS: psnr, ssim, sam (°), ergas, scc, q (UQI band mean), q2n."""
    f, r = _pair(fused, reference)
    return {"psnr": psnr(f, r, data_range), "ssim": ssim(f, r, data_range), "sam": sam(f, r),
            "ergas": ergas(f, r, scale), "scc": scc(f, r), "q": uqi(f, r), "q2n": q2n(f, r)}


def full_resolution_metrics(fused: np.ndarray, ms_lr: np.ndarray, pan: np.ndarray, scale: int,
                            pan_lr: Optional[np.ndarray] = None, block_size: int = 32) -> Dict[str, float]:
    """No-reference indices (Alparone et al. 2008, toolbox defaults S=32, p=q=α=β=1): d_lambda, d_s, qnr."""
    f, m, pn, pl = _full_res_inputs(fused, ms_lr, pan, scale, pan_lr)
    dl = d_lambda(f, m, block_size=block_size, scale=scale)
    ds = d_s(f, m, pn, scale, pan_lr=pl, block_size=block_size)
    return {"d_lambda": dl, "d_s": ds, "qnr": qnr(dl, ds)}
