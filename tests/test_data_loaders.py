"""Dataset loaders on tiny files written here in each real layout, plus the synthetic generator."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcnas_deploy.data.io import write_pfm
from dcnas_deploy.data.registry import known_datasets, open_dataset
from dcnas_deploy.data.synthetic import render_scene
from dcnas_deploy.errors import ConfigError, DcnasError

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
RNG = np.random.default_rng(42)


def _rgb(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_unknown_spec_lists_known_prefixes(tmp_path):
    with pytest.raises(ConfigError) as exc:
        open_dataset("kitti:/x")
    for prefix in ("synthetic", "middlebury", "nyu", "rgbdd", "folder", "lu"):
        assert prefix in str(exc.value)
    assert set(known_datasets()) >= {"synthetic", "middlebury", "lu", "nyu", "rgbdd", "folder"}
    with pytest.raises(ConfigError, match=f"use folder:{tmp_path}"):
        open_dataset(str(tmp_path))


def test_missing_path_names_the_expected_layout(tmp_path):
    with pytest.raises(DcnasError, match=r"nyu dataset path not found: .*expected either nyu_depth_v2_labeled.mat"):
        open_dataset(f"nyu:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="needs a path: rgbdd:PATH"):
        open_dataset("rgbdd")
    with pytest.raises(DcnasError, match=r"no NYU data in .*Depth/<index>.npy"):
        open_dataset(f"nyu:{tmp_path}")


def test_middlebury_layout_png8(tmp_path):
    (tmp_path / "Depth").mkdir()
    (tmp_path / "RGB").mkdir()
    depths = {}
    for i in (1, 2):
        d = RNG.integers(1, 256, (16, 24), dtype=np.uint8)
        depths[i] = d
        Image.fromarray(d).save(tmp_path / "Depth" / f"Middlebury_0{i}_output_depth.png")
        Image.fromarray(_rgb(16, 24)).save(tmp_path / "RGB" / f"Middlebury_0{i}_output_color.png")
    ds = open_dataset(f"middlebury:{tmp_path}")
    assert len(ds) == 2 and ds.protocol.name == "middlebury" and ds.protocol.border == 0
    s = ds[1]
    assert s.name == "Middlebury_02_output" and s.units == "0-255"
    np.testing.assert_array_equal(s.depth_hr, depths[2].astype(np.float32))
    assert s.guide.shape == (16, 24, 3) and s.depth_lr is None
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        open_dataset(f"middlebury:{tmp_path}", split="train")
    # a depth map without its colour image is an error that says what was expected
    Image.fromarray(depths[1]).save(tmp_path / "Depth" / "Middlebury_03_output_depth.png")
    with pytest.raises(DcnasError, match=r"Middlebury_03_output_depth.png: expected a colour image named like "
                                         r"Middlebury_03_output_color"):  # names keep their case
        open_dataset(f"middlebury:{tmp_path}")


def _write_mat(path: Path, depths: np.ndarray, images: np.ndarray) -> None:
    """A MATLAB v7.3-style file: HDF5 with a 512-byte user block and MATLAB's column-major layout."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("images", data=images.transpose(0, 3, 2, 1))  # N×H×W×3 -> N×3×W×H
        f.create_dataset("depths", data=depths.transpose(0, 2, 1))     # N×H×W   -> N×W×H
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(128, b" "))


def test_nyu_labeled_mat_via_h5py(tmp_path):
    depths = RNG.uniform(0.5, 9.0, (3, 20, 28)).astype(np.float32)
    images = np.stack([_rgb(20, 28) for _ in range(3)])
    _write_mat(tmp_path / "nyu_depth_v2_labeled.mat", depths, images)
    ds = open_dataset(f"nyu:{tmp_path}", split="all")
    assert len(ds) == 3 and ds.protocol.name == "nyu" and ds.protocol.border == 6 and ds.protocol.factor == 100
    s = ds[2]
    assert s.name == "nyu_0002" and s.units == "m"
    np.testing.assert_array_equal(s.depth_hr, depths[2])
    np.testing.assert_allclose(s.guide, images[2] / 255.0, atol=1e-7)
    assert len(open_dataset(f"nyu:{tmp_path / 'nyu_depth_v2_labeled.mat'}", split="train")) == 3
    with pytest.raises(DcnasError, match="no samples in split 'test'"):
        open_dataset(f"nyu:{tmp_path}", split="test")  # indices 0-2 are all training pairs


def test_nyu_mat_errors(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.mat", "w") as f:
        f.create_dataset("rgb", data=np.zeros((1, 3, 4, 4), np.uint8))
    with pytest.raises(DcnasError, match=r"has no dataset\(s\) \['images', 'depths'\]"):
        open_dataset(f"nyu:{tmp_path / 'x.mat'}", split="all")
    (tmp_path / "v5.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 200)
    with pytest.raises(DcnasError, match="cannot open .*v5.mat with h5py"):
        open_dataset(f"nyu:{tmp_path / 'v5.mat'}", split="all")


def test_nyu_per_image_npy_jpg_split_by_index(tmp_path):
    (tmp_path / "Depth").mkdir()
    (tmp_path / "RGB").mkdir()
    for idx in (5, 999, 1000, 1448):
        np.save(tmp_path / "Depth" / f"{idx}.npy", np.full((18, 24), idx / 1000 + 1, np.float32))
        Image.fromarray(_rgb(18, 24)).save(tmp_path / "RGB" / f"{idx}.jpg", quality=95)
    test = open_dataset(f"nyu:{tmp_path}")
    assert [s.name for s in test] == ["nyu_1000", "nyu_1448"]
    assert test[0].depth_hr[0, 0] == pytest.approx(2.0)
    assert [s.name for s in open_dataset(f"nyu:{tmp_path}", split="trainval")] == ["nyu_0005", "nyu_0999"]
    assert len(open_dataset(f"nyu:{tmp_path}", split="val")) == 1
    (tmp_path / "RGB" / "1000.jpg").unlink()
    with pytest.raises(DcnasError, match=r"1000.npy: expected .*RGB/1000\{"):
        open_dataset(f"nyu:{tmp_path}")


def _rgbdd_pair(folder: Path, name: str, with_lr: bool = True) -> np.ndarray:
    folder.mkdir(parents=True)
    gt = RNG.integers(300, 4000, (24, 32)).astype(np.uint16)
    gt[0, 0] = 0  # a missing measurement
    Image.fromarray(gt).save(folder / f"{name}_HR_gt.png")
    Image.fromarray(_rgb(24, 32)).save(folder / f"{name}_RGB.jpg")
    if with_lr:
        Image.fromarray(RNG.integers(300, 4000, (9, 12)).astype(np.uint16)).save(folder / f"{name}_LR_fill_depth.png")
    return gt


def test_rgbdd_layout_with_real_lr(tmp_path):
    gt = _rgbdd_pair(tmp_path / "plants" / "plants_test" / "p001", "p001")
    _rgbdd_pair(tmp_path / "plants" / "plants_train" / "p002", "p002", with_lr=False)
    ds = open_dataset(f"rgbdd:{tmp_path}")
    assert len(ds) == 1 and ds.protocol.name == "rgbdd" and ds.protocol.factor == 0.1
    s = ds[0]
    assert s.name == "p001" and s.units == "mm" and s.depth_lr.shape == (9, 12)
    np.testing.assert_array_equal(s.depth_hr, gt.astype(np.float32))
    assert open_dataset(f"rgbdd:{tmp_path}", real_lr=False)[0].depth_lr is None
    assert [x.name for x in open_dataset(f"rgbdd:{tmp_path}", split="train")] == ["p002"]
    with pytest.raises(ConfigError, match=r"takes no option\(s\) \['lr'\]"):
        open_dataset(f"rgbdd:{tmp_path}", lr=True)


def test_folder_pairs_by_stem_all_depth_formats(tmp_path):
    for sub in ("depth", "rgb", "lr"):
        (tmp_path / sub).mkdir()
    vals = np.arange(16 * 20, dtype=np.float32).reshape(16, 20)
    Image.fromarray(vals.astype(np.uint16) * 10).save(tmp_path / "depth" / "a.png")
    Image.fromarray((vals % 250).astype(np.uint8)).save(tmp_path / "depth" / "b.png")
    np.save(tmp_path / "depth" / "c.npy", vals / 100)
    write_pfm(tmp_path / "depth" / "d.pfm", vals / 10)
    for stem in "abcd":
        Image.fromarray(_rgb(16, 20)).save(tmp_path / "rgb" / f"{stem}.png")
    np.save(tmp_path / "lr" / "c.npy", np.ones((4, 5), np.float32))
    ds = open_dataset(f"folder:{tmp_path}")
    assert [s.name for s in ds] == ["a", "b", "c", "d"] and ds.protocol.name == "raw"
    np.testing.assert_array_equal(ds[0].depth_hr, vals * 10)
    np.testing.assert_array_equal(ds[1].depth_hr, vals % 250)
    np.testing.assert_allclose(ds[2].depth_hr, vals / 100)
    np.testing.assert_allclose(ds[3].depth_hr, vals / 10)
    assert ds[2].depth_lr.shape == (4, 5) and ds[0].depth_lr is None
    assert open_dataset(f"folder:{tmp_path}", protocol="nyu").protocol.border == 6
    with pytest.raises(ConfigError, match="no 'train' subfolder"):
        open_dataset(f"folder:{tmp_path}", split="train")


def test_folder_guide_depth_size_mismatch_and_bad_files(tmp_path):
    (tmp_path / "depth").mkdir()
    (tmp_path / "rgb").mkdir()
    np.save(tmp_path / "depth" / "x.npy", np.ones((8, 8), np.float32))
    Image.fromarray(_rgb(9, 8)).save(tmp_path / "rgb" / "x.png")
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DcnasError, match=r"guide .*x.png is 9×8 but depth .*x.npy is 8×8"):
        ds[0]
    (tmp_path / "rgb" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DcnasError, match="cannot be read as an image"):
        open_dataset(f"folder:{tmp_path}")[0]


def test_folder_flat_token_layout(tmp_path):
    np.save(tmp_path / "room_depth.npy", np.ones((8, 8), np.float32))
    Image.fromarray(_rgb(8, 8)).save(tmp_path / "room_color.png")
    ds = open_dataset(f"folder:{tmp_path}")
    assert len(ds) == 1 and ds[0].name == "room"


def test_synthetic_is_deterministic_and_splits_differ():
    a = open_dataset("synthetic:n=3,size=64")
    b = open_dataset("synthetic", n=3, size=64)
    np.testing.assert_array_equal(a[1].depth_hr, b[1].depth_hr)
    np.testing.assert_array_equal(a[1].guide, b[1].guide)
    train = open_dataset("synthetic:n=3,size=64", split="train")
    assert not np.array_equal(a[0].depth_hr, train[0].depth_hr)
    assert not np.array_equal(a[0].depth_hr, a[1].depth_hr)
    assert not np.array_equal(a[0].depth_hr, open_dataset("synthetic:n=3,size=64,seed=1")[0].depth_hr)
    s = a[0]
    assert s.guide.shape == (64, 64, 3) and s.guide.dtype == np.float32 and s.depth_hr.dtype == np.float32
    assert 0 <= s.guide.min() and s.guide.max() <= 1
    assert np.isfinite(s.depth_hr).all() and s.depth_hr.min() > 0 and s.depth_hr.max() < 15
    with pytest.raises(ConfigError, match="bad synthetic option"):
        open_dataset("synthetic:colour=3")


def test_synthetic_scenes_have_depth_edges_and_texture_edges():
    """Guidance matters: depth jumps exist, and some colour edges have no depth edge behind them."""
    guide, depth = render_scene(3, (96, 128))
    assert guide.shape == (96, 128, 3) and depth.shape == (96, 128)
    dz = np.abs(np.diff(depth, axis=1))
    dc = np.abs(np.diff(guide.mean(-1), axis=1))
    assert (dz > 0.3).sum() > 20                      # occlusion boundaries
    assert ((dc > 0.15) & (dz < 0.01)).sum() > 20     # texture edges on flat depth (texture-copy trap)


def test_synthetic_sensor_effects_make_holes_and_noise():
    clean = render_scene(7, 96)[1]
    guide, noisy = render_scene(7, 96, sensor=True)
    holes = noisy == 0
    assert holes.any() and not holes.all()
    diff = (noisy - clean)[~holes]
    assert 0 < np.std(diff) < 0.2


@pytest.mark.skipif(not MIDDLEBURY.is_dir(), reason=f"shared Middlebury data not found at {MIDDLEBURY}")
def test_real_middlebury_has_30_pairs():
    ds = open_dataset(f"middlebury:{MIDDLEBURY}")
    assert len(ds) == 30 and not ds.notes  # the full published set: no note
    s = ds[0]
    assert s.depth_hr.shape == s.guide.shape[:2] and s.depth_hr.max() <= 255


# ---- real datasets as published (issue 14, item 7) ------------------------------------------------------

def test_lu_public_copy_pairs_the_misspelt_colour_files(tmp_path):
    """Public Lu copies name colour files RGBD_0X_ouput_color.png (sic) next to RGBD_0X_output_depth.png."""
    for i in (1, 2):
        Image.fromarray(RNG.integers(1, 256, (16, 24), dtype=np.uint8)).save(_at(tmp_path / "Depth" / f"RGBD_0{i}_output_depth.png"))
        Image.fromarray(_rgb(16, 24)).save(_at(tmp_path / "RGB" / f"RGBD_0{i}_ouput_color.png"))
    ds = open_dataset(f"lu:{tmp_path}")
    assert [s.name for s in ds] == ["RGBD_01_output", "RGBD_02_output"]
    assert ds.notes and "lu test split: 2 images here, the published protocol scores 6" in ds.notes[0]


def test_rgbdd_flat_public_test_layout(tmp_path):
    """Depth/NAME_HR_gt.png + RGB/NAME_RGB.jpg + DepthLR/NAME_LR_fill_depth.png: a test set without split folders."""
    gt = RNG.integers(300, 4000, (24, 32)).astype(np.uint16)
    Image.fromarray(gt).save(_at(tmp_path / "Depth" / "20200518160957_HR_gt.png"))
    Image.fromarray(_rgb(24, 32)).save(_at(tmp_path / "RGB" / "20200518160957_RGB.jpg"))
    Image.fromarray(RNG.integers(300, 4000, (9, 12)).astype(np.uint16)).save(
        _at(tmp_path / "DepthLR" / "20200518160957_LR_fill_depth.png"))
    ds = open_dataset(f"rgbdd:{tmp_path}")
    s = ds[0]
    assert len(ds) == 1 and ds.has_real_lr and s.name == "20200518160957" and s.depth_lr.shape == (9, 12)
    np.testing.assert_array_equal(s.depth_hr, gt.astype(np.float32))
    assert any("published protocol scores 405" in n for n in ds.notes)
    assert not open_dataset(f"rgbdd:{tmp_path}", real_lr=False).has_real_lr
    with pytest.raises(ConfigError, match="no RGB-D-D pairs in split 'train'"):
        open_dataset(f"rgbdd:{tmp_path}", split="train")
    (tmp_path / "RGB" / "20200518160957_RGB.jpg").unlink()
    with pytest.raises(DcnasError, match="sibling RGB/ folder"):
        open_dataset(f"rgbdd:{tmp_path}")


def test_nyu_test_split_smaller_than_the_protocol_gets_a_note(tmp_path):
    for idx in (1000, 1001):
        np.save(_at(tmp_path / "Depth" / f"{idx}.npy"), np.ones((18, 24), np.float32))
        Image.fromarray(_rgb(18, 24)).save(_at(tmp_path / "RGB" / f"{idx}.jpg"))
    ds = open_dataset(f"nyu:{tmp_path}")
    assert ds.notes == ["nyu test split: 2 images here, the published protocol scores 449; means over this copy are "
                        "not comparable with published numbers"]
    assert open_dataset(f"nyu:{tmp_path}", limit=1).notes == ds.notes


def _at(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
