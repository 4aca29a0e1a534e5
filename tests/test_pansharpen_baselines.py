"""Classical pan-sharpening baselines on cases with known answers (data.pansharpen_baselines)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from dcnas_deploy.data import pansharpen_baselines as pb
from dcnas_deploy.data.resize import bicubic_down, pil_bicubic
from dcnas_deploy.errors import DcnasError

CS = ("brovey", "gihs", "gs", "gsa")
ALL = tuple(pb.PANSHARPEN_BASELINES)


def _ms_lr(shape=(16, 16), bands=4, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    base = 300 + 60 * np.sin(x / 2.0) * np.cos(y / 3.0)
    return np.stack([base * (1 + 0.3 * k) + rng.normal(0, 15, shape) for k in range(bands)], axis=-1)


def _exp(ms_lr, scale):
    return pil_bicubic(ms_lr, (ms_lr.shape[0] * scale, ms_lr.shape[1] * scale)).astype(np.float64)


def test_registry_names():
    assert set(pb.PANSHARPEN_BASELINES) == {"exp", "brovey", "gihs", "gs", "gsa", "mtf-glp"}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bands", [4, 8])
def test_shapes_and_dtype(name, bands):
    ms = _ms_lr((8, 10), bands)
    out = pb.PANSHARPEN_BASELINES[name](ms, np.random.default_rng(1).random((32, 40)) * 500, 4)
    assert out.shape == (32, 40, bands) and out.dtype == np.float64 and np.isfinite(out).all()


def test_exp_is_pil_bicubic_per_band():
    ms = _ms_lr()
    np.testing.assert_array_equal(pb.exp(ms, np.zeros((64, 64)), 4), _exp(ms, 4))


@pytest.mark.parametrize("name", ["brovey", "gihs", "gs"])
@pytest.mark.parametrize("equalize", [True, False])
def test_cs_returns_exp_when_pan_is_the_band_mean_intensity(name, equalize):
    ms = _ms_lr()
    up = _exp(ms, 4)
    out = pb.PANSHARPEN_BASELINES[name](ms, up.mean(axis=2), 4, equalize=equalize)  # type: ignore[call-arg]
    np.testing.assert_allclose(out, up, rtol=0, atol=1e-6)


@pytest.mark.parametrize("equalize", [True, False])
def test_gsa_returns_exp_when_pan_is_affine_in_the_bands(equalize):
    ms = _ms_lr()
    up = _exp(ms, 4)
    pan = up @ np.array([0.1, 0.4, 0.2, 0.3]) + 12.0
    np.testing.assert_allclose(pb.gsa(ms, pan, 4, equalize=equalize), up, rtol=0, atol=1e-6)


@pytest.mark.parametrize("injection", ["unit", "cbd", "hpm"])
@pytest.mark.parametrize("equalize", [True, False])
def test_mtf_glp_returns_exp_when_the_pan_has_no_detail(injection, equalize):
    ms = _ms_lr()
    up = _exp(ms, 4)
    out = pb.mtf_glp(ms, np.full((64, 64), 250.0), 4, injection=injection, equalize=equalize)
    # P_L goes through PIL's float32 bicubic: equal to ~1e-7 relative.
    np.testing.assert_allclose(out, up, rtol=1e-6, atol=0)


def _step_case():
    """Constant-per-band MS (10, 20, 30): I = 20; PAN 20 on the left, 30 on the right half."""
    ms = np.ones((4, 4, 3)) * np.array([10.0, 20.0, 30.0])
    pan = np.full((16, 16), 20.0)
    pan[:, 8:] = 30.0
    return ms, pan


def test_brovey_injects_multiplicatively_by_hand():
    ms, pan = _step_case()
    out = pb.brovey(ms, pan, 4, equalize=False)
    np.testing.assert_allclose(out[:, :8], np.broadcast_to([10.0, 20.0, 30.0], (16, 8, 3)), atol=1e-5)
    np.testing.assert_allclose(out[:, 8:], np.broadcast_to([15.0, 30.0, 45.0], (16, 8, 3)), atol=1e-5)  # ×30/20


def test_gihs_injects_additively_by_hand():
    ms, pan = _step_case()
    out = pb.gihs(ms, pan, 4, equalize=False)
    np.testing.assert_allclose(out[:, 8:], np.broadcast_to([20.0, 30.0, 40.0], (16, 8, 3)), atol=1e-5)  # +10


def test_equalization_of_a_flat_intensity_removes_the_detail():
    ms, pan = _step_case()
    np.testing.assert_allclose(pb.brovey(ms, pan, 4), _exp(ms, 4), atol=1e-5)


def test_gs_gains_are_band_regressions_on_the_intensity():
    ms = _ms_lr()
    up = _exp(ms, 4)
    intensity = up.mean(axis=2)
    pan = intensity + 5.0 * np.random.default_rng(4).standard_normal(intensity.shape)
    out = pb.gs(ms, pan, 4, equalize=False)
    i0 = intensity - intensity.mean()
    for k in range(4):
        g = np.mean((up[..., k] - up[..., k].mean()) * i0) / np.mean(i0 ** 2)
        np.testing.assert_allclose(out[..., k], up[..., k] + g * (pan - intensity), atol=1e-9)


def test_mtf_gaussian_has_the_requested_gain_at_the_ms_nyquist():
    for scale, gain in [(4, 0.3), (4, 0.11), (2, 0.25)]:
        sigma = pb.mtf_sigma(scale, gain)
        n = 512
        x = np.arange(n)
        signal = np.cos(2 * np.pi * x / (2 * scale))  # the MS Nyquist frequency, 1/(2·scale) cycles/pixel
        filtered = gaussian_filter(signal, sigma, mode="wrap", truncate=8.0)
        assert np.abs(filtered).max() == pytest.approx(gain, rel=2e-3)


def test_mtf_glp_unit_injection_adds_the_same_detail_to_every_band():
    ms = _ms_lr()
    pan = np.random.default_rng(2).random((64, 64)) * 400 + 100
    up = _exp(ms, 4)
    detail = pb.mtf_glp(ms, pan, 4, injection="unit", equalize=False) - up
    for k in range(1, 4):
        np.testing.assert_allclose(detail[..., k], detail[..., 0], atol=1e-9)
    assert np.abs(detail).max() > 10


def test_every_method_sharpens_a_synthetic_scene():
    from dcnas_deploy.data.pansharpen_metrics import ergas, scc

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    texture = 100 * ((x // 8 + y // 8) % 2) + 50 * np.sin(x / 2.5) + gaussian_filter(rng.normal(0, 40, (64, 64)), 1)
    gt = np.stack([400 + a * texture for a in (0.6, 0.9, 1.2, 1.5)], axis=-1)
    ms_lr, pan = bicubic_down(gt, 4).astype(np.float64), gt.mean(axis=2)
    e_exp, s_exp = ergas(pb.exp(ms_lr, pan, 4), gt, 4), scc(pb.exp(ms_lr, pan, 4), gt)
    for name in CS + ("mtf-glp",):
        fused = pb.PANSHARPEN_BASELINES[name](ms_lr, pan, 4)
        assert ergas(fused, gt, 4) < 0.8 * e_exp, name
        assert scc(fused, gt) > s_exp + 0.1, name


@pytest.mark.parametrize("name", ALL)
def test_pan_size_must_be_scale_times_ms(name):
    with pytest.raises(DcnasError, match=r"pan is 60×64 but scale 4 × ms_lr 16×16 = 64×64"):
        pb.PANSHARPEN_BASELINES[name](_ms_lr(), np.ones((60, 64)), 4)


@pytest.mark.parametrize("name", CS)
def test_cs_methods_need_several_bands(name):
    with pytest.raises(DcnasError, match="at least 2 MS bands, got 1"):
        pb.PANSHARPEN_BASELINES[name](_ms_lr(bands=1), np.ones((64, 64)), 4)


def test_other_bad_inputs():
    ms = _ms_lr()
    with pytest.raises(DcnasError, match="h×w×C"):
        pb.gihs(ms[..., 0], np.ones((64, 64)), 4)
    with pytest.raises(DcnasError, match="H×W or H×W×1"):
        pb.gihs(ms, np.ones((64, 64, 2)), 4)
    with pytest.raises(DcnasError, match="positive integer"):
        pb.gihs(ms, np.ones((64, 64)), 0)
    with pytest.raises(DcnasError, match="NaN"):
        pb.gihs(ms, np.full((64, 64), np.nan), 4)
    with pytest.raises(DcnasError, match=r"\(0, 1\)"):
        pb.mtf_glp(ms, np.ones((64, 64)), 4, mtf_gain=1.5)
    with pytest.raises(DcnasError, match="one per band"):
        pb.mtf_glp(ms, np.ones((64, 64)), 4, mtf_gain=[0.3, 0.3])
    with pytest.raises(DcnasError, match="injection"):
        pb.mtf_glp(ms, np.ones((64, 64)), 4, injection="foo")
    assert pb.gihs(ms, np.ones((64, 64, 1)), 4).shape == (64, 64, 4)  # H×W×1 PAN accepted


def test_mtf_glp_hpm_stays_bounded_when_the_equalised_pan_crosses_zero():
    """Seen on a procedural scene: equalising the PAN to a dark red band made P_L cross 0 and P/P_L explode."""
    from dcnas_deploy.data.degrade import make_triple
    from dcnas_deploy.data.registry import open_dataset

    t = make_triple(open_dataset("pansharpening-synthetic:n=24,size=256,bands=4", "test")[21], 4)
    fused = pb.mtf_glp(t.lr, t.guide[..., 0], 4)
    assert np.isfinite(fused).all() and np.abs(fused).max() < 3 * float(t.hr.max())
