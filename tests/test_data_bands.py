"""N-band image I/O (data.bands): PNG/TIFF/NPY round trips, planar TIFF, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from dcnas_deploy.data.bands import (BandFormat, band_info, check_bands, check_dtype, read_bands,
                                     write_bands)
from dcnas_deploy.errors import DcnasError

RNG = np.random.default_rng(0)


def _ints(shape, top):
    return RNG.integers(0, top + 1, shape).astype(np.float32)


@pytest.mark.parametrize("name, arr, fmt", [
    ("g8.png", _ints((5, 7, 1), 255), BandFormat(".png", "uint8", 1)),
    ("g16.png", _ints((5, 7, 1), 65535), BandFormat(".png", "uint16", 1)),
    ("rgb.png", _ints((5, 7, 3), 255), BandFormat(".png", "uint8", 3)),
    ("t8.tif", _ints((5, 7, 1), 255), BandFormat(".tif", "uint8", 1)),
    ("t16.tif", _ints((5, 7, 3), 65535), BandFormat(".tif", "uint16", 3)),
    ("t5.tif", RNG.normal(0, 100, (5, 7, 5)).astype(np.float32), BandFormat(".tif", "float32", 5)),
    ("n.npy", RNG.normal(0, 1, (5, 7, 4)).astype(np.float32), BandFormat(".npy", "float32", 4)),
    ("n1.npy", RNG.normal(0, 1, (5, 7, 1)).astype(np.float32), BandFormat(".npy", "float32", 1)),
])
def test_round_trip_keeps_values_dtype_and_band_count(tmp_path, name, arr, fmt):
    write_bands(tmp_path / name, arr, fmt)
    back, got = read_bands(tmp_path / name)
    assert got == fmt and back.dtype == np.float32 and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert band_info(tmp_path / name) == fmt
    assert not list(tmp_path.glob(".*.tmp"))  # atomic


def test_defaults_without_format_and_hw_input(tmp_path):
    grey = _ints((4, 6), 60000)
    write_bands(tmp_path / "a.png", grey)  # 1 band -> 16-bit grey PNG
    assert band_info(tmp_path / "a.png") == BandFormat(".png", "uint16", 1)
    write_bands(tmp_path / "a.tif", grey + 0.25)  # TIFF default keeps floats
    back, fmt = read_bands(tmp_path / "a.tif")
    assert fmt == BandFormat(".tif", "float32", 1)
    np.testing.assert_array_equal(back[..., 0], grey + 0.25)
    write_bands(tmp_path / "a.npy", grey)
    assert np.load(tmp_path / "a.npy").shape == (4, 6)  # one band is stored H×W
    write_bands(tmp_path / "c.png", np.full((2, 2, 3), 200.0))  # 3 bands -> 8-bit RGB
    assert Image.open(tmp_path / "c.png").mode == "RGB" and read_bands(tmp_path / "c.png")[0].max() == 200
    with pytest.raises(DcnasError, match=r"c.png: the result spans 300–300, outside the 8-bit PNG range 0–255: "
                                         r"writing it would clip it; write .*c.tif or .*c.npy"):
        write_bands(tmp_path / "c.png", np.full((2, 2, 3), 300.0))  # no input format: never silently clipped
    assert read_bands(tmp_path / "c.png")[0].max() == 200  # the earlier file is kept
    write_bands(tmp_path / "c.png", np.full((2, 2, 3), 300.0), BandFormat(".png", "uint8", 3))  # an 8-bit input's
    assert read_bands(tmp_path / "c.png")[0].max() == 255  # resampling overshoot is clipped


def test_files_written_by_others(tmp_path):
    """Planar C×H×W and interleaved TIFFs, Pillow TIFFs, opaque RGBA PNGs and H×W .npy read as H×W×C."""
    planar = RNG.normal(0, 1, (4, 9, 11)).astype(np.float32)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="minisblack", planarconfig="separate")
    back, fmt = read_bands(tmp_path / "planar.tif")
    assert fmt == BandFormat(".tif", "float32", 4)
    np.testing.assert_array_equal(back, np.moveaxis(planar, 0, -1))
    pages = (planar * 1000).astype(np.uint16)  # a stack of pages: Q×Y×X
    tifffile.imwrite(tmp_path / "pages.tiff", pages, photometric="minisblack")
    back, fmt = read_bands(tmp_path / "pages.tiff")
    assert fmt == BandFormat(".tif", "uint16", 4) and back.shape == (9, 11, 4)
    d16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    Image.fromarray(d16).save(tmp_path / "pil.tif")
    assert read_bands(tmp_path / "pil.tif")[1] == BandFormat(".tif", "uint16", 1)
    rgba = np.concatenate([RNG.integers(0, 256, (3, 4, 3), dtype=np.uint8), np.full((3, 4, 1), 255, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    back, fmt = read_bands(tmp_path / "opaque.png")
    assert fmt == BandFormat(".png", "uint8", 3)
    np.testing.assert_array_equal(back, rgba[..., :3])
    np.save(tmp_path / "hw.npy", d16)
    assert read_bands(tmp_path / "hw.npy")[0].shape == (3, 4, 1)


def test_write_errors_name_the_way_out(tmp_path):
    four = np.zeros((3, 3, 4), np.float32)
    with pytest.raises(DcnasError, match=r"4-band image cannot be stored as PNG .*write .*q\.tif or .*q\.npy"):
        write_bands(tmp_path / "q.png", four)
    with pytest.raises(DcnasError, match="2-band image cannot be stored as PNG"):
        write_bands(tmp_path / "q.png", four[..., :2])
    with pytest.raises(DcnasError, match="16-bit 3-band image cannot be stored as PNG"):
        write_bands(tmp_path / "q.png", four[..., :3], BandFormat(".tif", "uint16", 3))
    with pytest.raises(DcnasError, match="round it to integers"):
        write_bands(tmp_path / "q.png", four[..., :1], BandFormat(".npy", "float32", 1))
    with pytest.raises(DcnasError, match=r"cannot write an image as '\.jpg'"):
        write_bands(tmp_path / "q.jpg", four)
    with pytest.raises(DcnasError, match=r"shape \(3,\); expected H×W or H×W×C"):
        write_bands(tmp_path / "q.npy", np.zeros(3))
    assert not list(tmp_path.iterdir())  # refused before anything was written


def _png16_rgb(path, arr):
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w, _ = arr.shape
    raw = b"".join(b"\0" + arr[i].astype(">u2").tobytes() for i in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_read_errors(tmp_path):
    _png16_rgb(tmp_path / "rgb16.png", np.full((2, 3, 3), 1000, np.uint16))
    assert Image.open(tmp_path / "rgb16.png").mode == "RGB"  # what Pillow would silently do: 8 bits
    with pytest.raises(DcnasError, match=r"rgb16\.png is a 16-bit colour PNG, which Pillow reads as 8-bit"):
        read_bands(tmp_path / "rgb16.png")
    rgba = np.zeros((3, 4, 4), np.uint8)
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    with pytest.raises(DcnasError, match="alpha channel with transparent pixels"):
        read_bands(tmp_path / "clear.png")
    tifffile.imwrite(tmp_path / "odd.tif", np.zeros((20, 5, 30), np.float32), photometric="minisblack")
    with pytest.raises(DcnasError, match=r"shape \(20, 5, 30\): no axis looks like bands"):
        read_bands(tmp_path / "odd.tif")
    tifffile.imwrite(tmp_path / "i32.tif", np.zeros((4, 4), np.int32))
    with pytest.raises(DcnasError, match="holds int32 samples; expected uint8, uint16 or float"):
        read_bands(tmp_path / "i32.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(DcnasError, match="cannot be read as a TIFF"):
        read_bands(tmp_path / "junk.tif")
    (tmp_path / "junk.png").write_bytes(b"not a png at all, really not")
    with pytest.raises(DcnasError, match="not a valid PNG"):
        read_bands(tmp_path / "junk.png")
    with pytest.raises(DcnasError, match="image file not found"):
        read_bands(tmp_path / "missing.tif")
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(DcnasError, match="lossy formats"):
        read_bands(tmp_path / "x.jpg")
    np.save(tmp_path / "four.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(DcnasError, match=r"shape \(2, 3, 4, 5\); expected H×W or H×W×C"):
        read_bands(tmp_path / "four.npy")


def test_check_bands_and_check_dtype_messages(tmp_path):
    rgb = np.zeros((4, 5, 3), np.float32)
    with pytest.raises(DcnasError, match=r"^thermal target must be 1 band; t\.png has 3 \(a colour image"):
        check_bands(rgb, 1, "t.png", "thermal target")
    with pytest.raises(DcnasError, match=r"^guide must be 3 bands; g\.tif has 1$"):
        check_bands(np.zeros((4, 5)), 3, "g.tif", "guide")
    assert check_bands(np.zeros((4, 5)), 1, "g.tif", "guide").shape == (4, 5, 1)
    fmt = BandFormat(".png", "uint16", 1)
    assert fmt.describe() == "1-band 16-bit PNG" and fmt.bits == 16
    assert BandFormat(".tif", "float32", 5).describe() == "5-band 32-bit float TIFF"
    with pytest.raises(DcnasError, match=r"^t\.png is a 16-bit PNG but this task's data is 8-bit$"):
        check_dtype(fmt, "uint8", "t.png", "this task's data")
    check_dtype(fmt, "uint16", "t.png", "this task's data")
