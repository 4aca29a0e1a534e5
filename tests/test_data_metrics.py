"""Protocol metrics against hand-computed values: crop, unit conversion, masking of invalid GT."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dcnas_deploy.data.metrics import compute_metrics, mae, psnr, rmse, ssim
from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.errors import ConfigError, DcnasError

NYU = get_protocol("nyu")


def _nyu_case():
    """20×20 GT at 2 m; the scored 8×8 centre has 1 cm errors, one 5 cm error and two holes."""
    gt = np.full((20, 20), 2.0, np.float32)
    pred = gt + 0.01
    pred[:6, :] = 50.0           # top border: cropped away
    pred[:, -6:] = -50.0         # right border: cropped away
    pred[10, 10] = 2.05          # one 5 cm error inside
    gt[8, 8], pred[8, 8] = 0.0, 99.0       # hole (0): ignored
    gt[9, 12], pred[9, 12] = np.nan, 99.0  # hole (NaN): ignored
    return pred, gt


def test_nyu_rmse_crop_cm_masking_hand_computed():
    pred, gt = _nyu_case()
    # 64 scored pixels − 2 holes = 62: 61 errors of 1 cm and one of 5 cm
    expected = math.sqrt((61 * 1.0 ** 2 + 5.0 ** 2) / 62)
    assert rmse(pred, gt, NYU) == pytest.approx(expected, rel=1e-5)
    assert mae(pred, gt, NYU) == pytest.approx((61 * 1.0 + 5.0) / 62, rel=1e-5)


def test_rgbdd_and_middlebury_units():
    gt = np.full((10, 10), 1000.0, np.float32)  # mm
    pred = gt + 30.0                             # 3 cm everywhere
    pred[0, 0] = 1000.0 + 300.0                  # RGB-D-D has no crop: this 30 cm pixel counts
    expected = math.sqrt((99 * 3.0 ** 2 + 30.0 ** 2) / 100)
    assert rmse(pred, gt, get_protocol("rgbdd")) == pytest.approx(expected, rel=1e-5)
    mid = get_protocol("middlebury")
    gt8 = np.arange(100, dtype=np.float32).reshape(10, 10) + 1
    assert rmse(gt8 + 2.0, gt8, mid) == pytest.approx(2.0)
    # PSNR with the fixed 255 peak: 20·log10(255/2)
    assert psnr(gt8 + 2.0, gt8, mid) == pytest.approx(20 * math.log10(255 / 2.0), rel=1e-6)


def test_psnr_uses_gt_range_when_no_peak_and_perfect_is_inf():
    gt = np.linspace(1, 3, 100, dtype=np.float32).reshape(10, 10)  # metres, range 2 m = 200 cm
    m = get_protocol("metres")
    assert psnr(gt + 0.02, gt, m) == pytest.approx(20 * math.log10(200 / 2.0), rel=1e-5)
    assert psnr(gt, gt, m) == math.inf


def test_ssim_identity_and_degradation():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 5, (40, 40)).astype(np.float32)
    m = get_protocol("metres")
    assert ssim(gt, gt, m) == pytest.approx(1.0, abs=1e-9)
    noise = rng.normal(0, 1, gt.shape).astype(np.float32)
    noisy, less_noisy = gt + 0.5 * noise, gt + 0.1 * noise
    assert ssim(noisy, gt, m) < ssim(less_noisy, gt, m) < 1
    gt[5:10, 5:10] = 0  # holes do not make SSIM crash or count
    assert 0 < ssim(noisy, gt, m) < 1
    res = compute_metrics(noisy, gt, m)
    assert set(res) == {"rmse", "mae", "psnr", "ssim"}


def test_ssim_of_constant_images_is_the_luminance_term():
    gt = np.full((16, 16), 1.0, np.float32)        # 100 cm; flat GT -> data range 1 (reported units)
    pred = np.full((16, 16), 1.01, np.float32)     # 101 cm
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 100 * 101 + c1) / (100 ** 2 + 101 ** 2 + c1)
    assert ssim(pred, gt, get_protocol("metres")) == pytest.approx(expected, rel=1e-9)


def test_metric_errors():
    gt = np.ones((20, 20), np.float32)
    with pytest.raises(DcnasError, match=r"prediction is \(20, 19\) but ground truth is \(20, 20\)"):
        rmse(gt[:, :19], gt, NYU)
    with pytest.raises(DcnasError, match="no valid pixels"):
        rmse(gt, np.zeros_like(gt), NYU)
    bad = gt.copy()
    bad[10, 10] = np.nan
    with pytest.raises(DcnasError, match="1 NaN/inf pixels"):
        rmse(bad, gt, NYU)
    with pytest.raises(DcnasError, match="too small for the nyu 6-px border"):
        rmse(gt[:12, :12], gt[:12, :12], NYU)
    with pytest.raises(ConfigError, match="unknown scoring protocol 'kitti'"):
        get_protocol("kitti")
