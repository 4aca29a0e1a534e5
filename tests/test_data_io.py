"""Depth/guide file reading and writing: every format, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dcnas_deploy.data.io import (DepthFormat, as_guide, read_depth, read_depth_file, read_guide, read_pfm,
                                  write_depth, write_pfm)
from dcnas_deploy.errors import DcnasError


def test_png16_png8_npy_pfm_read_values_in_file_units(tmp_path):
    d16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000)
    Image.fromarray(d16).save(tmp_path / "a16.png")
    d8 = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(d8).save(tmp_path / "a8.png")
    dm = np.linspace(0.5, 9.5, 12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", dm)
    write_pfm(tmp_path / "a.pfm", dm)

    arr, fmt = read_depth_file(tmp_path / "a16.png")
    assert fmt == DepthFormat(".png", "uint16") and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, d16.astype(np.float32))
    arr, fmt = read_depth_file(tmp_path / "a8.png")
    assert fmt.dtype == "uint8"
    np.testing.assert_array_equal(arr, d8.astype(np.float32))
    np.testing.assert_array_equal(read_depth(tmp_path / "a.npy"), dm)
    np.testing.assert_array_equal(read_depth(tmp_path / "a.pfm"), dm)  # top row first after the PFM flip


def test_pfm_is_stored_bottom_up_and_big_endian_is_read(tmp_path):
    dm = np.array([[1, 2], [3, 4]], dtype=np.float32)
    write_pfm(tmp_path / "x.pfm", dm)
    raw = (tmp_path / "x.pfm").read_bytes()
    assert raw.startswith(b"Pf\n2 2\n-1.0\n")
    assert np.frombuffer(raw[-16:], "<f4")[0] == 3.0  # first stored row is the bottom row
    big = b"Pf\n2 2\n1.0\n" + np.flipud(dm).astype(">f4").tobytes()
    (tmp_path / "big.pfm").write_bytes(big)
    np.testing.assert_array_equal(read_pfm(tmp_path / "big.pfm"), dm)


def test_npy_with_singleton_channel_is_accepted(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((1, 3, 4), np.float32))
    np.save(tmp_path / "d.npy", np.ones((3, 4, 1), np.float64))
    assert read_depth(tmp_path / "c.npy").shape == (3, 4)
    assert read_depth(tmp_path / "d.npy").shape == (3, 4)


def test_rgb_png_with_equal_channels_reads_as_depth(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_depth(tmp_path / "g.png"), grey.astype(np.float32))


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "depth file not found"),
    (lambda p: p.write_bytes(b"not an image at all"), "cannot be read as an image"),
    (lambda p: Image.fromarray(np.random.default_rng(0).integers(0, 255, (4, 4, 3), dtype=np.uint8)).save(p),
     "colour image or a colour-mapped"),
])
def test_bad_depth_png_errors(tmp_path, make, match):
    p = tmp_path / "bad.png"
    make(p)
    with pytest.raises(DcnasError, match=match):
        read_depth(p)


def test_bad_depth_other_errors(tmp_path):
    np.save(tmp_path / "three.npy", np.zeros((2, 3, 4)))
    with pytest.raises(DcnasError, match=r"shape \(2, 3, 4\); expected H×W"):
        read_depth(tmp_path / "three.npy")
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(DcnasError, match="lossy formats"):
        read_depth(tmp_path / "x.jpg")
    (tmp_path / "bad.pfm").write_bytes(b"P6\n1 1\n-1\n")
    with pytest.raises(DcnasError, match="malformed header"):
        read_depth(tmp_path / "bad.pfm")
    (tmp_path / "short.pfm").write_bytes(b"Pf\n4 4\n-1.0\n" + b"\0" * 8)
    with pytest.raises(DcnasError, match="holds 2 values"):
        read_depth(tmp_path / "short.pfm")


def test_guide_reading_and_channel_errors(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    g = read_guide(tmp_path / "rgb.png")
    assert g.shape == (5, 6, 3) and g.dtype == np.float32
    np.testing.assert_allclose(g, rgb / 255.0, atol=1e-7)
    rgba = np.concatenate([rgb, np.full((5, 6, 1), 7, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_guide(tmp_path / "rgba.png"), g)  # alpha dropped
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    with pytest.raises(DcnasError, match=r"mode 'L' \(1 channel\(s\)\); expected an RGB"):
        read_guide(tmp_path / "grey.png")
    with pytest.raises(DcnasError, match="guide image not found"):
        read_guide(tmp_path / "missing.jpg")
    with pytest.raises(DcnasError, match=r"expected \[0, 1\]"):
        as_guide(np.full((2, 2, 3), 3.0))
    with pytest.raises(DcnasError, match="expected H×W×3"):
        as_guide(np.zeros((2, 2, 4)))


def test_write_depth_keeps_format_and_rounds(tmp_path):
    d = np.array([[0.4, 1.6], [300.2, np.nan]], np.float32)
    write_depth(tmp_path / "o8.png", d, DepthFormat(".png", "uint8"))
    out = np.asarray(Image.open(tmp_path / "o8.png"))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 2], [255, 0]])  # rounded, clipped to 255, NaN -> 0 (hole)
    with pytest.raises(DcnasError, match=r"spans 400–3.002e\+05, outside the 16-bit PNG range 0–65535: writing it "
                                         r"would clip it; write .*o.npy or .*o.pfm"):
        write_depth(tmp_path / "o.png", d * 1000)  # no input format: a float result is never clipped
    assert not (tmp_path / "o.png").exists()
    write_depth(tmp_path / "o16.png", d * 100, DepthFormat(".png", "uint16"))
    arr, fmt = read_depth_file(tmp_path / "o16.png")
    assert fmt.dtype == "uint16" and arr[1, 0] == 30020
    write_depth(tmp_path / "o.npy", d)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), d)
    with pytest.raises(DcnasError, match="round it to integers"):
        write_depth(tmp_path / "f.png", d, DepthFormat(".npy", "float32"))
    with pytest.raises(DcnasError, match="cannot write depth as '.jpg'"):
        write_depth(tmp_path / "f.jpg", d)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_grey_guides_with_bands_1(tmp_path):
    grey = np.random.default_rng(2).integers(0, 256, (5, 6), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(grey).save(tmp_path / "g.jpg", quality=100)
    g = read_guide(tmp_path / "g.png", bands=1)
    assert g.shape == (5, 6, 1) and g.dtype == np.float32
    np.testing.assert_allclose(g[..., 0], grey / 255.0, atol=1e-7)
    assert read_guide(tmp_path / "g.jpg", bands=1).shape == (5, 6, 1)
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # 16-bit grey: scaled by 1/65535
    np.testing.assert_allclose(read_guide(tmp_path / "g16.png", bands=1), g, atol=1e-6)
    import tifffile

    tifffile.imwrite(tmp_path / "g.tif", grey / np.float32(255.0))
    np.testing.assert_allclose(read_guide(tmp_path / "g.tif", bands=1), g, atol=1e-7)
    np.save(tmp_path / "g.npy", grey)
    np.testing.assert_allclose(read_guide(tmp_path / "g.npy", bands=1), g, atol=1e-7)
    assert as_guide(grey, bands=1).shape == (5, 6, 1)
    assert as_guide(grey[..., None].astype(np.uint16), bands=1).max() <= 1.0


def test_grey_guide_band_errors_name_file_found_and_wanted(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(DcnasError, match=r"grey guide must be 1 band; .*rgb\.png has 3"):
        read_guide(tmp_path / "rgb.png", bands=1)
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg")
    with pytest.raises(DcnasError, match=r"rgb\.jpg has 3 band\(s\) \(mode 'RGB'\); expected 1"):
        read_guide(tmp_path / "rgb.jpg", bands=1)
    np.save(tmp_path / "rgb.npy", rgb)
    with pytest.raises(DcnasError, match=r"rgb\.npy has 3 bands; expected 1 band"):
        read_guide(tmp_path / "rgb.npy", bands=1)
    np.save(tmp_path / "big.npy", np.full((4, 4), 7.0))
    with pytest.raises(DcnasError, match=r"expected \[0, 1\]"):
        read_guide(tmp_path / "big.npy", bands=1)
    with pytest.raises(DcnasError, match="1 \\(grey\\) or 3 \\(RGB\\) bands, not 2"):
        read_guide(tmp_path / "rgb.png", bands=2)
    with pytest.raises(DcnasError, match="1 \\(grey\\) or 3 \\(RGB\\) bands, not 4"):
        as_guide(rgb, bands=4)
