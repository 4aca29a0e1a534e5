"""Our PSNR/SSIM (data.metrics) against torchmetrics' functional ones, on hole-free real-ish images.

PSNR agrees to float precision. SSIM agrees on every pixel ≥ 5 px from the edge; the scalars differ
only by border handling: torchmetrics (≥ 1.0) averages its whole SSIM map, border included, computed
on torch 'reflect' padding (scipy's 'mirror'), while ours averages the valid pixels ≥ 5 px from the
edge (and must mask holes, which torchmetrics cannot).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from dcnas_deploy.data.metrics import psnr, ssim
from dcnas_deploy.data.protocols import get_protocol

PAD = 5  # Gaussian σ = 1.5 truncated at 3.5σ: an 11-tap window, radius 5


def _images(peak: float, noise: float, seed: int = 0, shape=(64, 80)):
    """(pred, gt) in [peak/255, peak]: smooth shading, a step, a disc, texture and noise; no holes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    gt = 100 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0) + 50 * (x > 40) - 30 * ((x - 20) ** 2 + (y - 30) ** 2 < 150)
    gt = np.clip(gt + rng.normal(0, 2, gt.shape), 1, 255) * (peak / 255.0)
    pred = np.clip(gt + rng.normal(0, noise * peak / 255.0, gt.shape), peak / 255.0, peak)
    return pred.astype(np.float32), gt.astype(np.float32)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float64))[None, None]


CASES = [(p, n) for p in ("thermal", "middlebury", "saliency") for n in (1.0, 5.0, 20.0, 60.0)]


@pytest.mark.parametrize("protocol, noise", CASES)
def test_psnr_matches_torchmetrics(protocol, noise):
    prot = get_protocol(protocol)
    pred, gt = _images(prot.peak, noise)
    theirs = float(peak_signal_noise_ratio(_t(pred), _t(gt), data_range=prot.peak))
    # measured: ≤ 4e-8 relative (torchmetrics turns ln into log10 with a float32 constant)
    assert psnr(pred, gt, prot) == pytest.approx(theirs, rel=1e-6)


def _tm_ssim_map(pred, gt, peak):
    score, full = structural_similarity_index_measure(_t(pred), _t(gt), gaussian_kernel=True, kernel_size=11,
                                                      sigma=1.5, data_range=peak, return_full_image=True)
    return float(score), full[0, 0].numpy()


@pytest.mark.parametrize("protocol, noise", CASES)
def test_ssim_matches_torchmetrics_on_the_interior(protocol, noise):
    """Same map on pixels ≥ 5 px from the edge, where no padding is read (tolerance: float64 rounding).

    The maps agree to ~1e-15; 1e-9 leaves room for torchmetrics clamping a variance that rounds below 0
    (affects flat windows by ~1e-12·value²/C2) and for another BLAS, and is far below the 4e-4–1.7e-2
    that the border makes.
    """
    prot = get_protocol(protocol)
    pred, gt = _images(prot.peak, noise)
    score, full = _tm_ssim_map(pred, gt, prot.peak)
    ours = ssim(pred, gt, prot)
    assert ours == pytest.approx(float(full[PAD:-PAD, PAD:-PAD].mean()), abs=1e-9)
    assert score == pytest.approx(float(full.mean()), abs=1e-12)  # their scalar: the whole map, border in


@pytest.mark.parametrize("noise", [5.0, 20.0])
def test_the_scalars_differ_only_by_border_handling(noise):
    """torchmetrics' scalar = our formula on scipy 'mirror' padding, averaged over the whole image."""
    prot = get_protocol("thermal")
    pred, gt = _images(prot.peak, noise, seed=3)
    score, _ = _tm_ssim_map(pred, gt, prot.peak)
    p, g = pred.astype(np.float64), gt.astype(np.float64)

    def blur(a):
        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="mirror")

    mu_p, mu_g = blur(p), blur(g)
    var_p, var_g = np.maximum(blur(p * p) - mu_p ** 2, 0), np.maximum(blur(g * g) - mu_g ** 2, 0)
    cov = blur(p * g) - mu_p * mu_g
    c1, c2 = (0.01 * prot.peak) ** 2, (0.03 * prot.peak) ** 2
    smap = (2 * mu_p * mu_g + c1) * (2 * cov + c2) / ((mu_p ** 2 + mu_g ** 2 + c1) * (var_p + var_g + c2))
    assert score == pytest.approx(float(smap.mean()), abs=1e-9)
    gap = abs(ssim(pred, gt, prot) - score)
    assert 1e-4 < gap < 5e-2  # the border is a real difference, not rounding (measured 4e-4–1.7e-2)
