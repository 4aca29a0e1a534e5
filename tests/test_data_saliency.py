"""Procedural saliency scenes and the DUT-OMRON loader (tiny files written here)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dcnas_deploy.data.registry import check_spec, open_dataset
from dcnas_deploy.data.saliency import render_saliency, salient_mask
from dcnas_deploy.data.synthetic import PLANES, render_layers, render_scene
from dcnas_deploy.errors import ConfigError, DcnasError

RNG = np.random.default_rng(11)


def test_saliency_synthetic_deterministic_binary_foreground():
    ds = open_dataset("saliency-synthetic:n=6,size=64,seed=2")
    assert ds.task == "saliency" and ds.protocol.name == "saliency" and ds.protocol.peak == 1.0
    samples = list(ds)
    again = open_dataset("saliency-synthetic:n=6,size=64,seed=2")[3]
    np.testing.assert_array_equal(samples[3].depth_hr, again.depth_hr)
    np.testing.assert_array_equal(samples[3].guide, again.guide)
    for s in samples:
        assert s.depth_hr.dtype == np.float32 and set(np.unique(s.depth_hr)) <= {0.0, 1.0}
        assert s.depth_hr.any() and s.zero_is_hole is False and s.units == "0-1"
        assert s.guide.shape == (64, 64, 3)
    train = open_dataset("saliency-synthetic:n=1,size=64,seed=2", split="train")[0]
    assert not np.array_equal(train.depth_hr, samples[0].depth_hr)
    with pytest.raises(ConfigError, match="bad saliency-synthetic option 'x=1'"):
        check_spec("saliency-synthetic:x=1")


def test_salient_region_is_the_nearest_visible_objects():
    for seed in range(5):
        lay = render_layers(seed, 64)
        mask = salient_mask(lay).astype(bool)
        assert not (mask & (lay.ids < len(PLANES))).any()  # room planes are background
        big = {k: float(np.median(lay.depth[lay.ids == k])) for k in np.unique(lay.ids) if k >= len(PLANES)
               and (lay.ids == k).mean() >= 0.01 and not lay.scene["objects"][k - len(PLANES)]["camouflage"]}
        assert mask.any() == bool(big)
        if big:
            nearest = min(big, key=big.get)
            assert mask[lay.ids == nearest].all()
            chosen = [k for k in big if mask[lay.ids == k].all()]
            assert all(big[k] <= 1.5 * big[nearest] + 0.3 for k in chosen)
            assert not (mask & ~np.isin(lay.ids, chosen)).any()
        guide, sal = render_saliency(seed, 64)
        if mask.any():  # the first attempt is the plain scene
            np.testing.assert_array_equal(guide, render_scene(seed, 64)[0])
            np.testing.assert_array_equal(sal, mask.astype(np.float32))


def _pair(root, stem, mask=None, size=(10, 14), img_dir="DUT-OMRON-image", mask_dir="pixelwiseGT-new-PNG",
          image=None):
    (root / img_dir).mkdir(parents=True, exist_ok=True)
    (root / mask_dir).mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 256, (*size, 3), dtype=np.uint8) if image is None else image
    Image.fromarray(img).save(root / img_dir / f"{stem}.jpg", quality=95)
    if mask is None:
        mask = np.zeros(size, np.uint8)
        mask[2:6, 3:9] = 255
    Image.fromarray(mask).save(root / mask_dir / f"{stem}.png")
    return mask


def test_dut_omron_layout(tmp_path):
    m = _pair(tmp_path, "im01")
    _pair(tmp_path, "im02")
    ds = open_dataset(f"saliency:{tmp_path}")
    assert ds.task == "saliency" and ds.protocol.name == "saliency" and len(ds) == 2
    s = ds[0]
    assert s.name == "im01" and s.zero_is_hole is False and s.guide.shape == (10, 14, 3)
    np.testing.assert_array_equal(s.depth_hr, m / np.float32(255))
    assert any("5168" in n for n in ds.notes)
    assert len(open_dataset(f"saliency:{tmp_path}", split="all")) == 2
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        open_dataset(f"saliency:{tmp_path}", split="train")


@pytest.mark.parametrize("dirs", [("images", "masks"), ("Imgs", "GT")])
def test_other_folder_names(tmp_path, dirs):
    _pair(tmp_path, "a", img_dir=dirs[0], mask_dir=dirs[1])
    assert [s.name for s in open_dataset(f"saliency:{tmp_path}")] == ["a"]


def test_antialiased_edges_are_accepted(tmp_path):
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    mask[10, 10:20] = 128  # 10 of 1600 pixels (0.6 %) anti-aliased
    _pair(tmp_path, "a", mask=mask, size=(40, 40))
    assert open_dataset(f"saliency:{tmp_path}")[0].depth_hr[10, 12] == pytest.approx(128 / 255)


def _snapshot(root):
    return sorted((p, p.stat().st_size) for p in root.rglob("*"))


@pytest.mark.parametrize("case,pattern", [
    ("grey", r"saliency mask .*a.png is not binary: 50.0 % of its pixels lie strictly between 10 and 245"),
    ("zero_one", r"a.png holds only the values 0 and 1; expected 0 = background, 255 = salient"),
    ("16bit", r"a.png is a 16-bit image; expected 8-bit grey"),
    ("colour", r"a.png has 3 channels with different values"),
    ("size", r"image .*a.jpg is 12×14 but mask .*a.png is 10×14; they must match"),
    ("missing", r"1 image\(s\) in .* have no mask in .*: a.jpg"),
])
def test_bad_masks_are_clear_errors_and_write_nothing(tmp_path, case, pattern):
    mask = np.zeros((10, 14), np.uint8)
    if case == "grey":
        mask[:5] = 128
    if case == "zero_one":
        mask[2:5, 2:5] = 1
    if case == "colour":
        mask = RNG.integers(0, 256, (10, 14, 3), dtype=np.uint8)
    image = RNG.integers(0, 256, (12, 14, 3), dtype=np.uint8) if case == "size" else None
    _pair(tmp_path, "a", mask=mask, image=image)
    if case == "16bit":
        Image.fromarray((RNG.integers(0, 2, (10, 14)) * 65535).astype(np.uint16)).save(
            tmp_path / "pixelwiseGT-new-PNG" / "a.png")
    if case == "missing":
        (tmp_path / "pixelwiseGT-new-PNG" / "a.png").unlink()
    before = _snapshot(tmp_path)
    with pytest.raises(DcnasError, match=pattern):
        open_dataset(f"saliency:{tmp_path}")[0]
    assert _snapshot(tmp_path) == before


def test_missing_layout(tmp_path):
    with pytest.raises(DcnasError, match="no image and mask folders under .*DUT-OMRON-image"):
        open_dataset(f"saliency:{tmp_path}")
    with pytest.raises(ConfigError, match="needs a path: saliency:PATH"):
        open_dataset("saliency")
