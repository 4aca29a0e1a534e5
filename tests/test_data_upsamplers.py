"""Upsampler registry, shared hole handling, and the classical baselines on real Middlebury pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcnas_deploy import upsamplers as U
from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.metrics import rmse
from dcnas_deploy.data.registry import open_dataset
from dcnas_deploy.data.resize import bicubic_up
from dcnas_deploy.errors import ConfigError, DcnasError

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
needs_middlebury = pytest.mark.skipif(not MIDDLEBURY.is_dir(), reason=f"shared Middlebury data not found at {MIDDLEBURY}")


def _pair(h=12, w=10, s=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(1, 3, (h, w)).astype(np.float32), rng.uniform(0, 1, (h * s, w * s, 3)).astype(np.float32)


def test_registered_names_and_bicubic_is_the_protocol_lr_up():
    assert {"bicubic", "guided-filter", "jbu"} <= set(U.available_upsamplers())
    lr, guide = _pair()
    up = U.create_upsampler("bicubic", 4)
    assert up.scale == 4 and up.name == "bicubic"
    np.testing.assert_array_equal(up(lr, guide), bicubic_up(lr, 4))


def test_parameters_from_spec_text():
    gf = U.create_upsampler("guided-filter:radius=3,eps=0.01", 8)
    assert (gf.radius, gf.eps) == (3, 0.01)
    assert U.create_upsampler("guided-filter", 8).radius == 4
    jbu = U.create_upsampler("jbu:sigma_range=0.05", 4)
    assert jbu.sigma_range == 0.05 and "sigma_range=0.05" in jbu.describe()
    with pytest.raises(ConfigError, match="bad parameters .*'radiuss'"):
        U.create_upsampler("guided-filter:radiuss=3", 8)
    with pytest.raises(ConfigError, match="radius ≥ 1"):
        U.create_upsampler("guided-filter:radius=0", 8)


def test_unknown_specs_and_model_files_without_loaders(tmp_path, monkeypatch):
    monkeypatch.setattr(U, "_FILE_LOADERS", {})  # as in an install without the export loaders
    monkeypatch.setattr(U, "FILE_LOADER_MODULES", [])
    with pytest.raises(ConfigError, match=r"unknown model 'lanczos'; known names: bicubic, brovey, gihs, gs, gsa, guided-filter, jbu, mtf-glp"):
        U.create_upsampler("lanczos", 4)
    with pytest.raises(DcnasError, match=r"no loader for .onnx model files in this install yet .*dcnas-deploy\[onnx\]"):
        U.create_upsampler(str(tmp_path / "m.onnx"), 4)


def test_file_loader_hook(tmp_path):
    calls = []

    @U.register_file_loader([".fake"])
    def _load(path, scale, **kw):
        calls.append((path, scale))
        return U.create_upsampler("bicubic", scale)

    try:
        with pytest.raises(DcnasError, match="model file not found"):
            U.create_upsampler(str(tmp_path / "m.fake"), 4)
        (tmp_path / "m.fake").write_text("x")
        up = U.create_upsampler(str(tmp_path / "m.fake"), 4)
        assert up.scale == 4 and calls == [(tmp_path / "m.fake", 4)]
        assert ".fake" in U.available_file_suffixes()
    finally:
        U._FILE_LOADERS.pop(".fake", None)


@pytest.mark.parametrize("name", ["bicubic", "guided-filter", "jbu"])
def test_holes_are_filled_before_every_method(name):
    lr, guide = _pair()
    lr[3:6, 2:5] = 0.0
    lr[0, 0] = np.nan
    out = U.create_upsampler(name, 4)(lr, guide)
    assert out.shape == (48, 40) and out.dtype == np.float32 and np.isfinite(out).all()
    assert out.min() > 0.5  # no pull towards the 0 sentinel


@pytest.mark.parametrize("name", ["bicubic", "guided-filter", "jbu"])
def test_constant_depth_stays_constant(name):
    lr, guide = _pair()
    out = U.create_upsampler(name, 4)(np.full_like(lr, 2.5), guide)
    np.testing.assert_allclose(out, 2.5, atol=1e-3)


def test_bad_shapes_are_clear_errors():
    lr, guide = _pair()
    up = U.create_upsampler("bicubic", 4)
    with pytest.raises(DcnasError, match=r"guide is 47×40 but the LR is 12×10; at ×4 the guide must be exactly 48×40"):
        up(lr, guide[:47])
    with pytest.raises(DcnasError, match=r"guide must be an H×W×3 RGB array, got shape \(48, 40\)"):
        up(lr, guide[..., 0])
    with pytest.raises(DcnasError, match="single-channel"):
        up(lr[0], guide)
    two = up(np.stack([lr, 2 * lr], -1), guide)  # a multi-band target goes band by band
    assert two.shape == (48, 40, 2) and np.allclose(two[..., 1], 2 * two[..., 0], rtol=1e-5)
    with pytest.raises(DcnasError, match="no valid pixels"):
        up(np.zeros_like(lr), guide)


def test_normalized_upsampler_lr_and_gt_modes():
    lr, guide = _pair()
    seen = {}

    def fn(lr_n, g):
        seen["range"] = (float(lr_n.min()), float(lr_n.max()))
        return bicubic_up(lr_n, 4)

    up = U.NormalizedUpsampler("net", 4, fn)
    out = up(lr, guide)
    assert seen["range"] == pytest.approx((0.0, 1.0))
    np.testing.assert_allclose(out, bicubic_up(lr, 4), rtol=1e-5)
    gt_mode = U.NormalizedUpsampler("net", 4, fn, mode="gt")
    assert gt_mode.needs_gt
    hr = np.full((48, 40), 10.0, np.float32)
    hr[0, 0] = 0.5
    gt_mode(lr, guide, hr=hr)
    assert seen["range"][1] < 0.5  # normalised by the GT's wider range
    with pytest.raises(ConfigError, match="needs the ground truth"):
        gt_mode(lr, guide)


@needs_middlebury
def test_guided_baselines_beat_bicubic_on_middlebury_x8():
    """On 3 real Middlebury pairs at ×8, GF and JBU (defaults tuned on synthetic val) beat bicubic."""
    ds = open_dataset(f"middlebury:{MIDDLEBURY}", limit=3)
    triples = [make_triple(s, 8) for s in ds]
    scores = {}
    for name in ("bicubic", "guided-filter", "jbu"):
        up = U.create_upsampler(name, 8)
        scores[name] = np.mean([rmse(up(t.lr, t.guide), t.hr, ds.protocol) for t in triples])
    assert scores["bicubic"] == pytest.approx(6.0094, abs=1e-3)
    assert scores["guided-filter"] < scores["bicubic"] - 0.2
    assert scores["jbu"] < scores["bicubic"] - 0.2


def _step(s=4, size=48):
    """A diagonal 1→3 step (HR), its ×s bicubic LR, and a grey guide equal to the target scaled to [0,1]."""
    from dcnas_deploy.data.resize import bicubic_down

    y, x = np.mgrid[0:size, 0:size]
    hr = np.where(x + 0.5 * y > 30, 3.0, 1.0).astype(np.float32)
    return hr, bicubic_down(hr, s), (hr - 1.0) / 2.0


def test_grey_guide_equal_to_the_target_reproduces_edges():
    """Across the edge, GF and JBU with a grey guide jump much more than bicubic; elsewhere they stay flat."""
    hr, lr, guide = _step()
    edge = np.abs(np.diff(hr, axis=1)) > 0
    jumps = {}
    for name in ("bicubic", "guided-filter", "jbu"):
        out = U.create_upsampler(name, 4, guide_bands=1)(lr, guide)
        d = np.abs(np.diff(out, axis=1))
        jumps[name] = (float(d[edge].mean()), float(d[~edge].max()), float(np.abs(out - hr).mean()))
    bic, gf, jbu = jumps["bicubic"], jumps["guided-filter"], jumps["jbu"]
    # measured: edge jump bicubic 0.39, GF 1.05, JBU 1.86 (true step 2); largest off-edge step 0.51 / 0.20 / 0.06
    assert gf[0] > 2 * bic[0] and gf[1] < 0.5 * bic[1]
    assert jbu[0] > 1.5 and jbu[1] < 0.1 and jbu[2] < 0.25 * bic[2]
    h_w1 = U.create_upsampler("jbu", 4, guide_bands=1)(lr, guide[..., None])  # H×W×1 is the same guide
    np.testing.assert_array_equal(h_w1, U.create_upsampler("jbu", 4, guide_bands=1)(lr, guide))


def test_rgb_guide_of_three_equal_grey_bands_vs_the_grey_guide():
    """Not identical: colour GF = grey GF with eps/3, colour JBU = grey JBU with sigma_range/√3."""
    from dcnas_deploy.data.baselines import guided_filter_upsample, joint_bilateral_upsample

    lr, _ = _pair()
    grey = np.random.default_rng(5).uniform(0, 1, (48, 40)).astype(np.float32)
    rgb = np.repeat(grey[..., None], 3, -1)
    colour = guided_filter_upsample(lr, rgb, 4, 2, 1e-2)
    np.testing.assert_allclose(guided_filter_upsample(lr, grey, 4, 2, 1e-2 / 3), colour, atol=1e-5)  # measured 0
    assert np.abs(guided_filter_upsample(lr, grey, 4, 2, 1e-2) - colour).max() > 1e-3  # measured 0.017
    colour = joint_bilateral_upsample(lr, rgb, 4, 0.5, 0.1, 2)
    np.testing.assert_allclose(joint_bilateral_upsample(lr, grey, 4, 0.5, 0.1 / np.sqrt(3), 2), colour,
                               atol=1e-5)  # measured 1.2e-6 (float32)
    assert np.abs(joint_bilateral_upsample(lr, grey, 4, 0.5, 0.1, 2) - colour).max() > 0.1  # measured 1.36


@pytest.mark.parametrize("name", ["bicubic", "guided-filter", "jbu"])
def test_grey_guide_upsamplers_fill_holes_and_keep_constants(name):
    lr, guide = _pair()
    grey = guide[..., 0]
    up = U.create_upsampler(f"{name}:guide_bands=1", 4)
    assert up.guide_bands == 1 and "guide_bands=1" in up.describe()
    np.testing.assert_allclose(up(np.full_like(lr, 2.5), grey), 2.5, atol=1e-3)
    lr[3:6, 2:5] = 0.0
    out = up(lr, grey[..., None])
    assert out.shape == (48, 40) and np.isfinite(out).all() and out.min() > 0.5


def test_check_pair_guide_bands():
    lr, guide = _pair()
    for g in (guide, guide[..., 0], guide[..., :1]):
        U.check_pair(lr, g, 4)  # default: grey (H×W, H×W×1) or RGB
    with pytest.raises(DcnasError, match=r"guide must be H×W or H×W×1 \(grey\) or H×W×3 \(RGB\), got shape \(48, 40, 2\)"):
        U.check_pair(lr, guide[..., :2], 4)
    with pytest.raises(DcnasError, match=r"guide must be a one-band H×W or H×W×1 array, got shape \(48, 40, 3\)"):
        U.create_upsampler("guided-filter", 4, guide_bands=1)(lr, guide)
    with pytest.raises(DcnasError, match=r"at ×4 the guide must be exactly 48×40"):
        U.check_pair(lr, guide[:47, :, 0], 4)
    assert "guide_bands" not in U.create_upsampler("guided-filter", 4).describe()  # default RGB: as before
    with pytest.raises(ConfigError, match=r"guide_bands must be one of \[1, 3\]"):
        U.create_upsampler("jbu:guide_bands=2", 4)
