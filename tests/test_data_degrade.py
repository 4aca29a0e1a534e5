"""Degradations (mod-crop, bicubic, noise, real LR), hole filling, normalisation and training patches."""
from __future__ import annotations

import numpy as np
import pytest

from dcnas_deploy.data.degrade import add_noise, make_triple
from dcnas_deploy.data.resize import resize_depth
from dcnas_deploy.data.holes import fill_holes, invalid_mask
from dcnas_deploy.data.normalize import MinMax, minmax_of, norm_stats
from dcnas_deploy.data.patches import random_patch
from dcnas_deploy.data.registry import Dataset, open_dataset
from dcnas_deploy.data.resize import bicubic_down
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError, DcnasError


def _sample(h=37, w=45, lr=None, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 1.0 + 0.05 * xx + 0.02 * yy + (xx > w / 2) * 2.0
    return Sample("s", rng.uniform(0, 1, (h, w, 3)).astype(np.float32), depth.astype(np.float32), lr, "m")


def test_triple_mod_crops_and_matches_published_bicubic():
    s = _sample()
    t = make_triple(s, 4)
    assert t.hr.shape == (36, 44) and t.guide.shape == (36, 44, 3) and t.lr.shape == (9, 11)
    np.testing.assert_array_equal(t.lr, bicubic_down(s.depth_hr[:36, :44], 4))  # exact published protocol
    assert not t.real_lr
    with pytest.raises(DcnasError, match="smaller than the scale ×64"):
        make_triple(s, 64)
    with pytest.raises(ConfigError, match="positive integer"):
        make_triple(s, 0)


def test_hr_holes_do_not_leak_into_lr():
    s = _sample(32, 32)
    s.depth_hr[:, :8] = 0.0          # a band of missing depth 8 px wide
    s.depth_hr[20, 20] = np.nan      # one isolated NaN
    t = make_triple(s, 4)
    assert invalid_mask(t.lr[:, :2]).all()        # LR pixels fully inside the band are holes
    valid = ~invalid_mask(t.lr)
    assert valid[:, 2:].all()                     # everything else is valid ...
    assert t.lr[valid].min() > 0.9                # ... and holds real depth, not a smeared 0
    assert np.isfinite(t.lr).all()


def test_real_lr_used_as_is_or_resized():
    exact = np.full((9, 11), 3.0, np.float32)
    t = make_triple(_sample(lr=exact), 4)
    assert t.real_lr and np.array_equal(t.lr, exact)
    odd = np.full((13, 17), 2.5, np.float32)       # e.g. RGB-D-D: not an integer factor of the HR
    t = make_triple(_sample(lr=odd), 4)
    assert t.lr.shape == (9, 11) and np.allclose(t.lr, 2.5, atol=1e-5)
    t = make_triple(_sample(lr=odd), 4, use_real_lr=False)
    assert not t.real_lr and not np.allclose(t.lr, 2.5)


def test_real_lr_conventions_resize_first_and_direct():
    """resize-first (DCNAS/SGNet): the capture is resized to HR/s; direct (DCTNet): the capture is kept and the
    guide resized to s × its size, and the output is resampled to the ground truth's grid when scored."""
    odd = np.linspace(1.0, 3.0, 13 * 17, dtype=np.float32).reshape(13, 17)
    first = make_triple(_sample(lr=odd), 4, real_lr_mode="resize-first")
    direct = make_triple(_sample(lr=odd), 4, real_lr_mode="direct")
    assert first.lr.shape == (9, 11) and first.guide.shape == (36, 44, 3)
    assert np.array_equal(direct.lr, odd) and direct.guide.shape == (52, 68, 3) and direct.hr.shape == (36, 44)
    assert 0.0 <= direct.guide.min() and direct.guide.max() <= 1.0
    with pytest.raises(ConfigError, match="unknown real-LR convention 'sideways'"):
        make_triple(_sample(lr=odd), 4, real_lr_mode="sideways")


class _RealLr(Dataset):
    """Two samples with real LR captures of a non-integer ratio (like RGB-D-D's 192×144 for 512×384)."""

    name, split = "rgbdd", "test"

    def __init__(self):
        from dcnas_deploy.data.protocols import get_protocol

        self.protocol = get_protocol("rgbdd")

    def __len__(self):
        return 2

    @property
    def has_real_lr(self):
        return True

    def load(self, index):
        s = _sample(48, 64, seed=index)
        s.depth_lr = resize_depth(s.depth_hr, (18, 24))
        return s


def test_evaluation_names_the_convention_and_refuses_unpublished_scales():
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.upsamplers import create_upsampler

    ds = _RealLr()
    first = evaluate(create_upsampler("bicubic", 4), ds, 4)
    direct = evaluate(create_upsampler("bicubic", 4), ds, 4, real_lr_mode="direct")
    assert first.real_lr and first.real_lr_mode == "resize-first" and direct.real_lr_mode == "direct"
    assert first.mean()["rmse"] != pytest.approx(direct.mean()["rmse"])
    assert first.to_dict()["real_lr_mode"] == "resize-first"
    for scale in (8, 16):
        with pytest.raises(ConfigError, match=f"published only at ×4, not ×{scale}: .*--real-lr-any-scale"):
            evaluate(create_upsampler("bicubic", scale), ds, scale)
    assert evaluate(create_upsampler("bicubic", 8), ds, 8, real_lr_any_scale=True).real_lr
    synthetic = evaluate(create_upsampler("bicubic", 8), ds, 8, use_real_lr=False)
    assert not synthetic.real_lr and synthetic.real_lr_mode == ""


def test_paper_noise_definition():
    hr = np.linspace(2.0, 4.0, 200 * 200, dtype=np.float32).reshape(200, 200)
    lr = np.full((200, 200), 3.0, np.float32)
    rng = np.random.default_rng(0)
    noisy = add_noise(lr, hr, 25, rng)
    # level 25 = variance on a 0–255 scale of the GT range: σ = 5/255 · 2 m
    assert np.std(noisy - lr) == pytest.approx(5 / 255 * 2.0, rel=0.02)
    capped = add_noise(np.full((50, 50), 4.0, np.float32), hr, 25, rng)
    assert capped.max() <= 4.0 and capped.min() >= 2.0   # clipped to the GT range
    assert add_noise(lr, hr, 0, rng) is lr
    s = _sample(64, 64)
    a, b = make_triple(s, 4, noise_level=25), make_triple(s, 4, noise_level=25)
    np.testing.assert_array_equal(a.lr, b.lr)           # fixed by the sample name: order-independent
    assert not np.array_equal(a.lr, make_triple(s, 4).lr)
    with pytest.raises(ConfigError, match="noise level must be ≥ 0"):
        add_noise(lr, hr, -1, rng)


def test_fill_holes_nearest_valid():
    d = np.array([[1, 0, np.nan, 0, 0, 9, 9],
                  [1, np.inf, 0, 0, 0, 9, 9]], np.float32)
    f = fill_holes(d)
    # no ties: each hole has exactly one nearest valid pixel
    np.testing.assert_array_equal(f, [[1, 1, 1, 9, 9, 9, 9]] * 2)
    assert np.isnan(d[0, 2])  # the input is not modified
    with pytest.raises(DcnasError, match="no valid pixels"):
        fill_holes(np.zeros((3, 3)))


def test_resize_depth_without_holes_is_plain_bicubic():
    d = np.random.default_rng(1).uniform(1, 2, (16, 16)).astype(np.float32)
    np.testing.assert_array_equal(resize_depth(d, (4, 4)), bicubic_down(d, 4))


def test_normalisation_modes_round_trip():
    lr = np.array([[2.0, 0.0], [4.0, 6.0]], np.float32)  # 0 is a hole: ignored for min/max
    hr = np.array([[1.0, 8.0]], np.float32)
    mm = norm_stats("lr", lr)
    assert (mm.lo, mm.hi) == (2.0, 6.0)
    np.testing.assert_allclose(mm.apply(lr[1]), [0.5, 1.0])
    np.testing.assert_allclose(mm.invert(mm.apply(lr)), lr)
    assert norm_stats("gt", lr, hr) == MinMax(1.0, 8.0)
    assert MinMax(3.0, 3.0).span == 1.0  # flat image: no division by zero
    with pytest.raises(ConfigError, match="needs the ground truth"):
        norm_stats("gt", lr)
    with pytest.raises(ConfigError, match="unknown normalisation mode 'max'"):
        norm_stats("max", lr)
    with pytest.raises(DcnasError, match="no valid pixels"):
        minmax_of(np.zeros(4))


class _OneSample(Dataset):
    def __init__(self, sample):
        self.sample, self.name, self.split = sample, "one", "train"

    def __len__(self):
        return 1

    def load(self, index):
        return self.sample


def test_training_patch_shapes_and_determinism():
    ds = open_dataset("synthetic:n=4,size=96", split="train")
    p1 = random_patch(ds[1], 64, 4, np.random.default_rng(5))
    p2 = random_patch(ds[1], 64, 4, np.random.default_rng(5))
    assert p1.lr.shape == (16, 16) and p1.guide.shape == (64, 64, 3) and p1.hr.shape == (64, 64)
    np.testing.assert_array_equal(p1.hr, p2.hr)
    # LR is the bicubic downsampling of the (augmented) HR patch
    np.testing.assert_allclose(p1.lr, bicubic_down(p1.hr, 4), atol=1e-6)
    with pytest.raises(ConfigError, match="multiple of the scale"):
        random_patch(ds[0], 30, 4, np.random.default_rng(0))
    with pytest.raises(DcnasError, match="smaller than the 128×128 patch"):
        random_patch(ds[0], 128, 4, np.random.default_rng(0))


def test_real_lr_patches_stay_aligned_under_augmentation():
    h, w, s = 64, 48, 4
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    hr = (yy * 100 + xx + 1).astype(np.float32)

    def block_mean(a):
        return a.reshape(a.shape[0] // s, s, a.shape[1] // s, s).mean((1, 3))

    lr = block_mean(hr)                             # a "real" LR: exact block averages of the HR
    guide = np.stack([yy / h, xx / w, np.zeros_like(yy)], -1).astype(np.float32)
    rng = np.random.default_rng(3)
    for _ in range(8):
        t = random_patch(Sample("r", guide, hr, lr), 32, s, rng)
        assert t.real_lr and t.lr.shape == (8, 8)
        np.testing.assert_allclose(t.lr, block_mean(t.hr), rtol=1e-6)  # same crop/flips/rotation on both
        np.testing.assert_allclose(t.guide[..., 0] * h * 100 + t.guide[..., 1] * w + 1, t.hr, rtol=1e-6)
