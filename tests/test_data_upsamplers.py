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
    with pytest.raises(ConfigError, match=r"unknown model 'lanczos'; known names: bicubic, guided-filter, jbu"):
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
        up(np.stack([lr, lr], -1), guide)
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
