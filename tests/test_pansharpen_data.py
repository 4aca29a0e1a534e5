"""Pan-sharpening data: the procedural MS + PAN generator, Wald's protocol and the HDF5/GeoTIFF loaders."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dcnas_deploy.data.multispectral import BAND_NAMES, MATERIAL_IDS, pan_weights, render_multispectral
from dcnas_deploy.data.registry import check_spec, known_datasets, open_dataset, task_of_spec
from dcnas_deploy.data.wald import (SENSORS, degrade_ms, degrade_pan, ms_gains, mtf_gaussian_kernel, mtf_taps,
                                    reduced_resolution)
from dcnas_deploy.errors import ConfigError, DcnasError

h5py = pytest.importorskip("h5py")
tifffile = pytest.importorskip("tifffile")


# --- procedural generator ---------------------------------------------------------------------------------------

def test_synthetic_spec_is_deterministic_and_splits_differ():
    spec = "pansharpening-synthetic:n=2,size=48x64,seed=3"
    ds = open_dataset(spec)
    a, b = ds[1], open_dataset(spec)[1]
    np.testing.assert_array_equal(a.depth_hr, b.depth_hr)
    np.testing.assert_array_equal(a.guide, b.guide)
    assert ds.task == "pansharpening" and task_of_spec(spec) == "pansharpening" and ds.protocol.name == "pansharpening"
    assert ds.full_resolution is False and ds.sensor == "worldview" and ds.bands == 4
    assert a.depth_hr.shape == (48, 64, 4) and a.guide.shape == (48, 64, 1) and a.depth_lr is None
    assert a.depth_hr.dtype == np.float32 and a.guide.dtype == np.float32
    assert a.units == "DN (11-bit)" and a.zero_is_hole is False
    other = {s: open_dataset(spec, split=s)[1].depth_hr for s in ("train", "val")}
    assert not np.array_equal(other["train"], other["val"]) and not np.array_equal(other["val"], a.depth_hr)
    assert not np.array_equal(ds[0].depth_hr, a.depth_hr)
    assert "pansharpening-synthetic" in known_datasets()


@pytest.mark.parametrize("bands,sensor,top", [(4, "worldview", 2047), (8, "worldview", 2047), (4, "gaofen2", 1023)])
def test_values_are_integer_dn_within_the_bit_depth(bands, sensor, top):
    s = open_dataset(f"pansharpening-synthetic:n=1,size=64,bands={bands},sensor={sensor}")[0]
    assert s.depth_hr.shape == (64, 64, bands)
    assert s.depth_hr.min() >= 0 and s.depth_hr.max() <= top and np.array_equal(s.depth_hr, np.rint(s.depth_hr))
    assert s.depth_hr.max() > 0.25 * top  # uses the range, not a sliver of it
    assert s.guide.min() >= 0 and s.guide.max() <= 1
    np.testing.assert_array_equal(np.rint(s.guide * top), np.rint(s.guide * top).astype(int))  # PAN DN / max
    assert s.units == f"DN ({int(math.log2(top + 1))}-bit)"


def test_spectra_vegetation_red_edge_and_water():
    veg_ok = water_ok = 0
    for seed in range(4):
        sc = render_multispectral(seed, 96, 8)
        names = BAND_NAMES[8]
        red, nir, green = sc.ms[..., names.index("red")], sc.ms[..., names.index("nir1")], sc.ms[..., names.index("green")]
        edge = sc.ms[..., names.index("red-edge")]
        veg = np.isin(sc.material, [MATERIAL_IDS[k] for k in ("crop", "grass", "tree")])
        water = sc.material == MATERIAL_IDS["water"]
        if veg.sum() > 50:
            assert (nir[veg] > red[veg]).mean() > 0.99 and (nir[veg] > edge[veg]).mean() > 0.9
            assert np.median(nir[veg] / red[veg]) > 3
            veg_ok += 1
        if water.sum() > 50:
            assert (nir[water] < green[water]).mean() > 0.99
            water_ok += 1
    assert veg_ok >= 3 and water_ok >= 1
    four = render_multispectral(2, 64, 4)  # the 4-band product is the B, G, R, NIR1 subset of the same scene
    np.testing.assert_array_equal(four.material, render_multispectral(2, 64, 8).material)
    assert four.bands == ("blue", "green", "red", "nir1")


def test_pan_follows_the_bands():
    corr_mean, corr_fit = [], []
    for sensor, bands in (("worldview", 4), ("worldview", 8), ("gaofen2", 4)):
        ds = open_dataset(f"pansharpening-synthetic:n=3,size=64,bands={bands},sensor={sensor}")
        for s in ds:
            pan, ms = s.guide[..., 0].ravel(), s.depth_hr.reshape(-1, bands)
            corr_mean.append(np.corrcoef(pan, ms.mean(1))[0, 1])
            coef, *_ = np.linalg.lstsq(np.c_[ms, np.ones(len(ms))], pan, rcond=None)
            corr_fit.append(np.corrcoef(pan, np.c_[ms, np.ones(len(ms))] @ coef)[0, 1])
    assert min(corr_mean) > 0.9
    assert min(corr_fit) > 0.97  # PAN ≈ weighted sum of the bands (plus the bands not delivered, and noise)
    assert pan_weights("worldview").sum() == pytest.approx(1) and pan_weights("worldview")[[0, 7]].sum() == 0


def test_synthetic_options_are_checked():
    check_spec("pansharpening-synthetic:n=2,bands=8,sensor=worldview")
    for bad, match in (("bands=8,sensor=gaofen2", "delivers 4 MS bands"), ("bands=5", "not 5"),
                       ("sensor=landsat", "unknown pansharpening sensor"), ("colour=1", "bad pansharpening")):
        with pytest.raises(ConfigError, match=match):
            check_spec(f"pansharpening-synthetic:{bad}")
    with pytest.raises(ConfigError, match=r"takes no option\(s\) \['foo'\]"):
        open_dataset("pansharpening-synthetic:n=1", foo=1)
    assert open_dataset("pansharpening-synthetic:n=1,size=16", bands=8)[0].depth_hr.shape == (16, 16, 8)


# --- Wald's protocol -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gain,scale", [(0.35, 4), (0.27, 4), (0.11, 4), (0.3, 2), (0.22, 3)])
def test_mtf_kernel_sums_to_one_and_matches_the_gain_at_nyquist(gain, scale):
    k = mtf_gaussian_kernel(gain, scale)
    assert k.shape == (41, 41) and k.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(k, k.T)
    n = 41 * 2 * scale  # DFT grid on which 1/(2·scale) is a bin: bin n/(2·scale)
    spec = np.abs(np.fft.fft2(k, (n, n)))
    assert spec[n // (2 * scale), 0] == pytest.approx(gain, abs=1e-3)
    assert spec[0, n // (2 * scale)] == pytest.approx(gain, abs=1e-3)
    assert spec[0, 0] == pytest.approx(1.0)


def test_mtf_gains_table():
    assert ms_gains("worldview", 8) == (0.35,) * 7 + (0.27,)
    assert ms_gains("quickbird", 4) == (0.34, 0.32, 0.30, 0.22)
    assert ms_gains("gaofen2", 4) == (0.3,) * 4
    assert SENSORS["worldview"].pan_gain == 0.11 and SENSORS["gaofen2"].max_dn == 1023
    with pytest.raises(ConfigError, match="gains for 4-band images, not 8 bands"):
        ms_gains("gaofen2", 8)
    with pytest.raises(ConfigError, match="gain at Nyquist must be in"):
        mtf_taps(1.2, 4)
    with pytest.raises(ConfigError, match="odd integer"):
        mtf_taps(0.3, 4, 40)


def test_degrading_a_constant_keeps_it_and_shapes():
    ms = np.full((32, 48, 4), 700.0, dtype=np.float32)
    lr = degrade_ms(ms, 4, ms_gains("worldview", 4))
    assert lr.shape == (8, 12, 4) and lr.dtype == np.float32
    np.testing.assert_allclose(lr, 700.0, rtol=1e-6)
    pan = degrade_pan(np.full((32, 48), 3.0), 4, 0.11)
    assert pan.shape == (8, 12)
    np.testing.assert_allclose(pan, 3.0, rtol=1e-6)
    assert degrade_pan(np.zeros((32, 48, 1)), 2, 0.11).shape == (16, 24, 1)
    rng = np.random.default_rng(0)
    noisy = rng.uniform(0, 2047, (64, 64, 4))
    assert degrade_ms(noisy, 4, ms_gains("worldview", 4)).std() < 0.5 * noisy.std()  # it low-passes


def test_reduced_resolution_pair():
    rng = np.random.default_rng(1)
    ms, pan = rng.uniform(0, 2047, (16, 24, 8)), rng.uniform(0, 2047, (64, 96))
    ms_lr, pan_lr, ref = reduced_resolution(ms, pan, 4, "worldview")
    assert ms_lr.shape == (4, 6, 8) and pan_lr.shape == (16, 24) and ref.shape == (16, 24, 8)
    np.testing.assert_array_equal(ref, ms.astype(np.float32))
    assert reduced_resolution(ms, pan[..., None], 4, "worldview")[1].shape == (16, 24, 1)
    with pytest.raises(DcnasError, match="PAN is 64×96 but the MS is 16×24: for scale 2 the PAN must be 32×48"):
        reduced_resolution(ms, pan, 2, "worldview")
    with pytest.raises(DcnasError, match="MS image is 18×24, not divisible by scale 4"):
        degrade_ms(rng.uniform(size=(18, 24, 4)), 4, ms_gains("worldview", 4))
    with pytest.raises(ConfigError, match="scale must be an integer ≥ 1"):
        degrade_ms(ms, 2.5, ms_gains("worldview", 8))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="3 MTF gain"):
        degrade_ms(ms, 4, (0.3, 0.3, 0.3))
    with pytest.raises(ConfigError, match="unknown sensor 'spot'"):
        reduced_resolution(ms, pan, 4, "spot")


# --- pancollection:PATH.h5 -------------------------------------------------------------------------------------

def _h5(path, n=2, c=4, h=16, w=16, scale=4, gt=True, drop=(), pan_bands=1, lms_bands=None, n_ms=None,
        pan_size=None, top=2047.0):
    rng = np.random.default_rng(0)
    data = {"ms": rng.uniform(0, top, (n if n_ms is None else n_ms, c, h // scale, w // scale)),
            "lms": rng.uniform(0, top, (n, c if lms_bands is None else lms_bands, h, w)),
            "pan": rng.uniform(0, top, (n, pan_bands) + (pan_size or (h, w)))}
    if gt:
        data["gt"] = rng.uniform(0, top, (n, c, h, w))
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            if k not in drop:
                f.create_dataset(k, data=v)
    return data


def test_pancollection_reduced_resolution(tmp_path):
    data = _h5(tmp_path / "test_wv3.h5")
    ds = open_dataset(f"pancollection:{tmp_path / 'test_wv3.h5'}")
    assert len(ds) == 2 and ds.task == "pansharpening" and ds.full_resolution is False and ds.scale == 4
    assert ds.has_real_lr and ds.bands == 4
    s = ds[1]
    np.testing.assert_allclose(s.depth_hr, data["gt"][1].transpose(1, 2, 0), rtol=1e-6)
    np.testing.assert_allclose(s.depth_lr, data["ms"][1].transpose(1, 2, 0), rtol=1e-6)
    np.testing.assert_allclose(s.guide[..., 0], data["pan"][1, 0] / 2047, rtol=1e-6)
    assert s.guide.shape == (16, 16, 1) and s.depth_lr.shape == (4, 4, 4) and s.units == "DN (11-bit)"
    assert s.zero_is_hole is False and s.name == "test_wv3_00001"


def test_pancollection_full_resolution_and_max_option(tmp_path):
    data = _h5(tmp_path / "full_gf2.h5", gt=False, top=1023.0)
    ds = open_dataset(f"pancollection:{tmp_path / 'full_gf2.h5'},max=1023")
    assert ds.full_resolution is True and ds.notes and "no-reference" in ds.notes[0]
    s = ds[0]
    np.testing.assert_allclose(s.depth_hr, data["lms"][0].transpose(1, 2, 0), rtol=1e-6)
    assert s.units == "DN (10-bit)" and s.guide.max() <= 1
    assert open_dataset(str(f"pancollection:{tmp_path / 'full_gf2.h5'}"), max=1023).max_dn == 1023
    _h5(tmp_path / "gf2_as_wv.h5", top=2047.0)
    with pytest.raises(DcnasError, match=r"values up to .* 'pan' exceed 10-bit \(1023\)"):
        open_dataset(f"pancollection:{tmp_path / 'gf2_as_wv.h5'}", max=1023)[0]


@pytest.mark.parametrize("kw,match", [
    ({"drop": ("pan",)}, r"has no dataset\(s\) \['pan'\]"),
    ({"drop": ("gt", "lms")}, r"has no dataset\(s\) \['gt or lms'\]"),
    ({"pan_size": (16, 12)}, "the PAN is 16×12 and the MS 4×4; the PAN must be an integer multiple"),
    ({"pan_size": (18, 18)}, "the PAN is 18×18 and the MS 4×4"),
    ({"lms_bands": 8}, r"different band counts \{'gt': 4, 'ms': 4, 'lms': 8\}|different band counts"),
    ({"n_ms": 3}, "different sample counts"),
    ({"pan_bands": 3}, "'pan' has 3 bands"),
])
def test_pancollection_errors(tmp_path, kw, match):
    path = tmp_path / "bad.h5"
    _h5(path, **kw)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(DcnasError, match=match) as err:
        open_dataset(f"pancollection:{path}")
    assert str(path) in str(err.value)
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_pancollection_bad_paths(tmp_path):
    with pytest.raises(DcnasError, match="dataset path not found"):
        open_dataset(f"pancollection:{tmp_path / 'missing.h5'}")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DcnasError, match="not an .h5 file"):
        open_dataset(f"pancollection:{tmp_path / 'x.txt'}")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DcnasError, match="cannot open .*junk.h5 as HDF5"):
        open_dataset(f"pancollection:{tmp_path / 'junk.h5'}")
    with pytest.raises(ConfigError, match="needs a path"):
        check_spec("pancollection")
    with pytest.raises(ConfigError, match="bad pancollection option 'max=lots'"):
        check_spec("pancollection:a.h5,max=lots")
    assert task_of_spec("pancollection:a.h5,max=1023") == "pansharpening"


# --- geotiff:PATH ----------------------------------------------------------------------------------------------

def _tif(path, arr, planar=False):
    layout = {} if arr.ndim == 2 else {"planarconfig": "separate" if planar else "contig"}
    tifffile.imwrite(path, arr, photometric="minisblack", **layout)


def _pair(folder, name, ms_hw=(8, 8), pan_hw=(32, 32), bands=4, top=2047, planar=False):
    rng = np.random.default_rng(len(name))
    folder.mkdir(parents=True, exist_ok=True)
    ms = rng.integers(0, top + 1, ms_hw + (bands,)).astype(np.uint16)
    pan = rng.integers(0, top + 1, pan_hw).astype(np.uint16)
    _tif(folder / f"{name}_ms.tif", np.moveaxis(ms, -1, 0) if planar else ms, planar)
    _tif(folder / f"{name}_pan.tif", pan)
    return ms, pan


def test_geotiff_lr_pairs_are_full_resolution_data(tmp_path):
    ms, pan = _pair(tmp_path, "a", planar=True)
    _pair(tmp_path, "b")
    ds = open_dataset(f"geotiff:{tmp_path}")
    assert len(ds) == 2 and ds.task == "pansharpening" and ds.scale == 4 and ds.full_resolution and ds.has_real_lr
    s = ds[0]
    assert s.name == "a" and s.depth_hr.shape == (32, 32, 4) and s.guide.shape == (32, 32, 1)
    np.testing.assert_array_equal(s.depth_lr, ms.astype(np.float32))
    np.testing.assert_allclose(s.guide[..., 0], pan / 2047.0, rtol=1e-6)
    assert s.units == "DN (11-bit)" and ds.notes


def test_geotiff_reference_pairs_and_bits(tmp_path):
    ms, _ = _pair(tmp_path / "test", "scene", ms_hw=(16, 16), pan_hw=(16, 16), bands=8, top=1023)
    ds = open_dataset(f"geotiff:{tmp_path},bits=10")
    assert ds.scale == 1 and ds.full_resolution is False and not ds.has_real_lr and ds.max_dn == 1023
    s = ds[0]
    np.testing.assert_array_equal(s.depth_hr, ms.astype(np.float32))
    assert s.depth_lr is None and s.units == "DN (10-bit)"
    with pytest.raises(ConfigError, match="no 'train' subfolder"):
        open_dataset(f"{'geotiff'}:{tmp_path / 'test'}", split="train")


def test_geotiff_16bit_overflow(tmp_path):
    _pair(tmp_path, "hot", top=4095)
    before = sorted(tmp_path.iterdir())
    ds = open_dataset(f"geotiff:{tmp_path}")
    with pytest.raises(DcnasError, match=r"16-bit overflow: values up to \d+ in .*hot_ms.tif exceed 11-bit \(2047\)"):
        ds[0]
    assert sorted(tmp_path.iterdir()) == before
    assert open_dataset(f"geotiff:{tmp_path}", bits=12)[0].depth_lr.max() > 2047


@pytest.mark.parametrize("setup,match", [
    (lambda d: _pair(d, "x", ms_hw=(8, 8), pan_hw=(32, 24)), r"the PAN is 32×24 and the MS 8×8"),
    (lambda d: _pair(d, "x", ms_hw=(8, 8), pan_hw=(20, 20)), r"the PAN is 20×20 and the MS 8×8"),
    (lambda d: (_pair(d, "x"), _pair(d, "y", bands=8)), "different band counts: .*x_ms.tif has 4, .*y_ms.tif has 8"),
    (lambda d: (_pair(d, "x"), _pair(d, "y", ms_hw=(16, 16))), "different PAN/MS size ratios"),
    (lambda d: (_pair(d, "x"), (d / "x_pan.tif").unlink()), r"x_ms.tif \(no NAME_pan.tif\)"),
    (lambda d: _tif(d / "y_pan.tif", np.zeros((8, 8, 3), np.uint16)) or _tif(d / "y_ms.tif", np.zeros((2, 2, 4), np.uint16)),
     "PAN image .*y_pan.tif has 3 bands"),
    (lambda d: d.joinpath("note.txt").write_text("x"), "no NAME_ms.tif / NAME_pan.tif files"),
])
def test_geotiff_errors(tmp_path, setup, match):
    setup(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(DcnasError, match=match):
        open_dataset(f"geotiff:{tmp_path}")
    assert sorted(tmp_path.iterdir()) == before
