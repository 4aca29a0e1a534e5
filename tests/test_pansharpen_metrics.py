"""Pan-sharpening quality indices on cases with hand-computed answers (data.pansharpen_metrics)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dcnas_deploy.data import pansharpen_metrics as pm
from dcnas_deploy.data.resize import bicubic_down
from dcnas_deploy.errors import DcnasError


def _ms(shape=(64, 64), bands=4, seed=0, flat=True):
    """A textured positive MS image (DN-like), with a flat patch (all bands) when `flat`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    base = 300 + 80 * np.sin(x / 5.0) * np.cos(y / 7.0) + 60 * (x > shape[1] // 2)
    img = np.stack([base * (1 + 0.2 * k) + rng.normal(0, 10, shape) for k in range(bands)], axis=-1)
    if flat:
        img[:16, :16] = 250.0
    return img


# ------------------------------------------------------------------------------------------------- SAM
def test_sam_of_identical_images_is_zero():
    ms = _ms()
    assert pm.sam(ms, ms) == pytest.approx(0.0, abs=1e-5)


def test_sam_is_in_degrees_two_orthogonal_pixels_give_90():
    fused = np.array([[[1.0, 0.0], [3.0, 0.0]]])  # 1×2 pixels × 2 bands
    ref = np.array([[[0.0, 2.0], [0.0, 5.0]]])
    assert pm.sam(fused, ref) == pytest.approx(90.0, abs=1e-9)


def test_sam_averages_pixels_and_skips_zero_vectors():
    fused = np.array([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]])  # 90°, 0°, zero vector (skipped)
    ref = np.array([[[0.0, 1.0], [2.0, 2.0], [1.0, 1.0]]])
    assert pm.sam(fused, ref) == pytest.approx(45.0, abs=1e-6)


def test_sam_needs_two_bands():
    with pytest.raises(DcnasError, match="at least 2 bands"):
        pm.sam(np.ones((4, 4, 1)), np.ones((4, 4, 1)))


# ------------------------------------------------------------------------------------------------- ERGAS
@pytest.mark.parametrize("scale", [2, 4])
def test_ergas_uniform_unit_error_on_constant_100(scale):
    ref = np.full((16, 16, 4), 100.0)
    fused = ref + 1.0
    # Wald: 100·(h/l)·sqrt(mean_k (RMSE_k/μ_k)²) with h/l = 1/scale, RMSE_k = 1, μ_k = 100.
    expected = 100.0 / scale * math.sqrt(np.mean([(1 / 100) ** 2] * 4))
    assert expected == pytest.approx({2: 0.5, 4: 0.25}[scale], rel=1e-12)
    assert pm.ergas(fused, ref, scale) == pytest.approx(expected, rel=1e-12)


def test_ergas_per_band_means():
    means = np.array([100.0, 200.0, 400.0, 50.0])
    ref = np.ones((8, 8, 4)) * means
    fused = ref - 1.0
    expected = 100.0 / 4 * math.sqrt(np.mean((1.0 / means) ** 2))
    assert pm.ergas(fused, ref, 4) == pytest.approx(expected, rel=1e-12)


def test_ergas_uses_the_reference_mean_and_rejects_bad_scale():
    with pytest.raises(DcnasError, match="mean 0"):
        pm.ergas(np.ones((4, 4, 2)), np.zeros((4, 4, 2)), 4)
    with pytest.raises(DcnasError, match="positive integer"):
        pm.ergas(np.ones((4, 4, 2)), np.ones((4, 4, 2)), 0.25)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- PSNR / SSIM
def test_psnr_known_mse_and_identical():
    ref = _ms()
    rng = float(ref.max() - ref.min())
    # torchmetrics holds data_range (and log(base)) in float32: ~1e-7 relative even on float64 input.
    assert pm.psnr(ref + 1.0, ref) == pytest.approx(20 * math.log10(rng), abs=1e-5)
    assert pm.psnr(ref + 2.0, ref, data_range=2047.0) == pytest.approx(10 * math.log10(2047.0 ** 2 / 4), abs=1e-5)
    assert pm.psnr(ref, ref) == math.inf


def test_ssim_sanity():
    ref = _ms()
    noisy = ref + np.random.default_rng(1).normal(0, 20, ref.shape)
    assert pm.ssim(ref, ref) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < pm.ssim(noisy, ref) < 0.99
    with pytest.raises(DcnasError, match="11×11"):
        pm.ssim(ref[:8, :8], ref[:8, :8])


# ------------------------------------------------------------------------------------------------- SCC
def test_scc_identical_is_one_even_with_flat_areas():
    ms = _ms()
    assert pm.scc(ms, ms) == pytest.approx(1.0, abs=1e-12)


def test_scc_is_gain_offset_invariant_and_signed():
    ms = _ms(flat=False)
    assert pm.scc(2.0 * ms + 5.0, ms) == pytest.approx(1.0, abs=1e-12)
    assert pm.scc(-ms, ms) == pytest.approx(-1.0, abs=1e-12)


def test_scc_against_a_pan_and_by_hand():
    rng = np.random.default_rng(3)
    pan = rng.random((10, 12))
    fused = np.stack([pan, rng.random((10, 12))], axis=-1)
    from scipy.ndimage import correlate

    hp = lambda a: correlate(a, pm.LAPLACIAN, mode="reflect")[1:-1, 1:-1].ravel()  # noqa: E731
    expected = 0.5 * (1.0 + np.corrcoef(hp(fused[..., 1]), hp(pan))[0, 1])
    assert pm.scc(fused, pan) == pytest.approx(expected, abs=1e-12)


def test_scc_flat_bands():
    flat = np.full((8, 8, 2), 7.0)
    assert pm.scc(flat, flat) == 1.0
    assert pm.scc(_ms((8, 8), 2, flat=False), flat) == 0.0


# ------------------------------------------------------------------------------------------------- UQI (Q)
def test_uqi_identical_is_one_even_with_flat_areas():
    ms = _ms()
    assert pm.uqi(ms, ms) == pytest.approx(1.0, abs=1e-12)
    assert pm.uqi(ms, ms, window=8) == pytest.approx(1.0, abs=1e-12)


def test_uqi_flat_windows_follow_img_qi():
    x, y = np.full((8, 8, 1), 10.0), np.full((8, 8, 1), 12.0)
    assert pm.uqi(x, y, window=4) == pytest.approx(2 * 10 * 12 / (10 ** 2 + 12 ** 2), abs=1e-12)


def test_uqi_single_window_by_hand():
    rng = np.random.default_rng(5)
    x, y = rng.random((6, 6)) + 1, rng.random((6, 6)) + 1
    mx, my = x.mean(), y.mean()
    vx, vy, cxy = x.var(), y.var(), ((x - mx) * (y - my)).mean()
    expected = 4 * cxy * mx * my / ((vx + vy) * (mx ** 2 + my ** 2))
    assert pm.uqi(x, y, window=6) == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------------------- Q2n / Q4
def test_cayley_dickson_is_hamilton_for_quaternions():
    i, j, k = np.eye(4)[1], np.eye(4)[2], np.eye(4)[3]
    cd = pm.cayley_dickson_product
    np.testing.assert_allclose(cd(i, j), k)
    np.testing.assert_allclose(cd(j, k), i)
    np.testing.assert_allclose(cd(k, i), j)
    np.testing.assert_allclose(cd(j, i), -k)
    np.testing.assert_allclose(cd(i, i), -np.eye(4)[0])
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=4), rng.normal(size=4)
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    hamilton = [w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2]
    np.testing.assert_allclose(cd(a, b), hamilton, atol=1e-12)


def test_octonion_norm_is_multiplicative():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    np.testing.assert_allclose(np.linalg.norm(pm.cayley_dickson_product(a, b), axis=-1),
                               np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), rtol=1e-12)


@pytest.mark.parametrize("bands", [3, 4, 8])
def test_q2n_of_identical_is_one(bands):
    ms = _ms((70, 50), bands)  # not multiples of 32: mirror-padded; 3 bands: zero-padded to 4
    assert pm.q2n(ms, ms) == pytest.approx(1.0, abs=1e-12)


def test_q4_offset_only_is_the_mean_bias_term_by_hand():
    ref = _ms((32, 32), 4, flat=False)
    delta = np.array([5.0, -3.0, 8.0, 1.0])
    # After block normalisation by the reference's mean/std (ddof=1) the covariance is unchanged, so
    # Q4 = 2|m1||m2| / (|m1|² + |m2|²) with m1 = (1,1,1,1), m2 = 1 + δ/σ_ref.
    m2 = 1 + delta / ref.reshape(-1, 4).std(axis=0, ddof=1)
    expected = 2 * 2.0 * np.linalg.norm(m2) / (4.0 + m2 @ m2)
    assert pm.q2n(ref + delta, ref) == pytest.approx(expected, abs=1e-12)


def test_q4_drops_with_noise():
    ref = _ms((64, 64), 4)
    rng = np.random.default_rng(2)
    q_small = pm.q2n(ref + rng.normal(0, 5, ref.shape), ref)
    q_large = pm.q2n(ref + rng.normal(0, 50, ref.shape), ref)
    assert 1.0 > q_small > q_large > 0.0


# ------------------------------------------------------------------------------------------------- reduced resolution
def test_reduced_resolution_metrics_of_identical():
    ms = _ms((64, 64), 4)
    m = pm.reduced_resolution_metrics(ms, ms, 4)
    assert set(m) == {"psnr", "ssim", "sam", "ergas", "scc", "q", "q2n"}
    assert m["psnr"] == math.inf and m["ergas"] == 0.0
    assert m["sam"] == pytest.approx(0.0, abs=1e-5)
    for key in ("ssim", "scc", "q", "q2n"):
        assert m[key] == pytest.approx(1.0, abs=1e-9), key


def test_reduced_resolution_shape_mismatch():
    with pytest.raises(DcnasError, match="same shape"):
        pm.reduced_resolution_metrics(np.ones((16, 16, 4)), np.ones((16, 16, 3)), 4)
    with pytest.raises(DcnasError, match="H×W×C"):
        pm.reduced_resolution_metrics(np.ones((2, 16, 16, 4)), np.ones((2, 16, 16, 4)), 4)
    with pytest.raises(DcnasError, match="NaN"):
        pm.reduced_resolution_metrics(np.full((16, 16, 4), np.nan), np.ones((16, 16, 4)), 4)


# ------------------------------------------------------------------------------------------------- full resolution
def _ideal(scale=4, gains=(0.5, 0.8, 1.2, 1.7)):
    """Fused bands = a_k·PAN and LR MS = a_k·PAN_LR: band–band and band–PAN relations equal at both scales."""
    pan = _ms((64, 64), 1, seed=7, flat=False)[..., 0]
    pan_lr = bicubic_down(pan, scale).astype(np.float64)
    g = np.asarray(gains)
    return pan[..., None] * g, pan_lr[..., None] * g, pan


def test_qnr_is_one_for_ideal_fusion():
    fused, ms_lr, pan = _ideal()
    m = pm.full_resolution_metrics(fused, ms_lr, pan, 4)
    assert m["d_lambda"] == pytest.approx(0.0, abs=1e-12)
    assert m["d_s"] == pytest.approx(0.0, abs=1e-12)
    assert m["qnr"] == pytest.approx(1.0, abs=1e-12)


def test_d_lambda_by_hand_and_qnr_formula():
    fused, ms_lr, pan = _ideal()
    swapped = fused[..., [1, 0, 2, 3]] * 1.0
    swapped[..., 0] = fused[..., 0] + np.random.default_rng(0).normal(0, 30, fused.shape[:2])
    dl = pm.d_lambda(swapped, ms_lr, scale=4)
    assert dl > 0.0
    qhr = pm._block_qi_matrix(swapped, 32)
    qlr = pm._block_qi_matrix(ms_lr, 8)
    off = ~np.eye(4, dtype=bool)
    assert dl == pytest.approx(np.abs(qhr - qlr)[off].mean(), abs=1e-12)
    ds = pm.d_s(swapped, ms_lr, pan, 4)
    assert ds > 0.0
    m = pm.full_resolution_metrics(swapped, ms_lr, pan, 4)
    assert m["qnr"] == pytest.approx((1 - dl) * (1 - ds), abs=1e-12)


def test_d_s_uses_a_given_pan_lr():
    fused, ms_lr, pan = _ideal()
    pan_lr = bicubic_down(pan, 4).astype(np.float64)
    assert pm.d_s(fused, ms_lr, pan, 4, pan_lr=pan_lr) == pytest.approx(0.0, abs=1e-12)
    assert pm.d_s(fused, ms_lr, pan, 4, pan_lr=pan_lr[::-1]) > 0.01


def test_full_resolution_bad_inputs():
    fused, ms_lr, pan = _ideal()
    with pytest.raises(DcnasError, match="scale"):
        pm.full_resolution_metrics(fused, ms_lr, pan, 2)
    with pytest.raises(DcnasError, match="pan is"):
        pm.full_resolution_metrics(fused, ms_lr, pan[:32], 4)
    with pytest.raises(DcnasError, match="bands"):
        pm.full_resolution_metrics(fused, ms_lr[..., :3], pan, 4)
    with pytest.raises(DcnasError, match="H×W or H×W×1"):
        pm.full_resolution_metrics(fused, ms_lr, fused, 4)
    with pytest.raises(DcnasError, match="multiple of the scale"):
        pm.full_resolution_metrics(fused, ms_lr, pan, 4, block_size=30)
    with pytest.raises(DcnasError, match="pan_lr"):
        pm.full_resolution_metrics(fused, ms_lr, pan, 4, pan_lr=pan)
