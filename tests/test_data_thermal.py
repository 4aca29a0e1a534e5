"""Scene layers, the procedural RGB-T generator and the PBVS thermal loader (tiny files written here)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation, maximum_filter, minimum_filter, sobel

from dcnas_deploy.data.registry import check_spec, open_dataset
from dcnas_deploy.data.synthetic import PLANES, _rot, render_layers, render_scene
from dcnas_deploy.data.thermal import render_thermal
from dcnas_deploy.errors import ConfigError, DcnasError

RNG = np.random.default_rng(7)

# Sums of render_scene's guide and depth (float64) and its hole count, taken from the renderer before
# render_layers was factored out of it (the bytes were identical on the machine that refactored it). Sums, not
# hashes: numpy's float32 sin/exp may differ in the last bit between instruction sets (CI runs on other CPUs).
RENDER_SUMS = [((0, 64, False), 3355.283067362383, 13322.120520353317, 0),
               ((1, (48, 80), False), 3605.0735841207206, 15619.316732645035, 0),
               ((7, 96, True), 6470.620074808598, 38917.69717717171, 814),
               ((123, 40, True), 1197.4510328695178, 3313.325047135353, 356),
               ((np.random.SeedSequence([0, 2, 3]), 64, False), 2440.0717090731487, 13571.541902065277, 0)]


@pytest.mark.parametrize("args,guide_sum,depth_sum,holes", RENDER_SUMS)
def test_render_scene_unchanged_by_the_refactor(args, guide_sum, depth_sum, holes):
    guide, depth = render_scene(*args)
    assert float(guide.astype(np.float64).sum()) == pytest.approx(guide_sum, rel=1e-6)
    assert float(depth.astype(np.float64).sum()) == pytest.approx(depth_sum, rel=1e-6)
    assert abs(int((depth == 0).sum()) - holes) <= 2  # a hole band edge may move by one ulp-decided pixel


def test_render_layers_are_consistent():
    lay = render_layers(3, (40, 56))
    guide, depth = render_scene(3, (40, 56))
    np.testing.assert_array_equal(lay.guide, guide)
    np.testing.assert_array_equal(lay.depth, depth)
    n_obj = len(lay.scene["objects"])
    assert lay.ids.shape == (40, 56) and lay.ids.min() >= 0 and lay.ids.max() < len(PLANES) + n_obj
    np.testing.assert_allclose(np.linalg.norm(lay.normals, axis=-1), 1.0, atol=1e-4)
    assert lay.albedo.shape == lay.normals.shape == lay.points.shape == (40, 56, 3) and lay.uv.shape == (40, 56, 2)
    cam = lay.scene["cam"]
    np.testing.assert_allclose(lay.points @ _rot(cam["pitch"], cam["yaw"])[:, 2], lay.depth, rtol=1e-4)  # z-depth
    floor = lay.ids == 0
    np.testing.assert_allclose(lay.points[floor][:, 1], lay.scene["room"]["floor"], rtol=1e-4)


def test_thermal_synthetic_deterministic_ranges_and_splits():
    ds = open_dataset("thermal-synthetic:n=2,size=48x64,seed=5")
    a, b = ds[0], open_dataset("thermal-synthetic:n=2,size=48x64,seed=5")[0]
    np.testing.assert_array_equal(a.depth_hr, b.depth_hr)
    np.testing.assert_array_equal(a.guide, b.guide)
    assert ds.task == "thermal" and ds.protocol.name == "thermal" and ds.protocol.peak == 255.0
    assert a.units == "0-255" and a.zero_is_hole is False and a.depth_hr.dtype == np.float32
    assert a.depth_hr.shape == (48, 64) and a.guide.shape == (48, 64, 3)
    assert a.depth_hr.min() >= 0 and a.depth_hr.max() <= 255 and np.array_equal(a.depth_hr, np.rint(a.depth_hr))
    assert a.depth_hr.std() > 5  # automatic gain spreads the scene over the counts
    other = {s: open_dataset("thermal-synthetic:n=1,size=48x64,seed=5", split=s)[0].depth_hr for s in ("train", "val")}
    assert not np.array_equal(other["train"], other["val"]) and not np.array_equal(other["train"], a.depth_hr)
    # the guide is exactly the RGB-D scene's guide for the same seed
    np.testing.assert_array_equal(a.guide, render_scene(ds.seed_of(0), (48, 64))[0])
    with pytest.raises(ConfigError, match="bad thermal-synthetic option 'sensor=1'"):
        check_spec("thermal-synthetic:sensor=1")
    with pytest.raises(ConfigError, match=r"takes no option\(s\) \['foo'\]"):
        open_dataset("thermal-synthetic:n=1", foo=1)


def _grad(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return np.hypot(sobel(a, 0), sobel(a, 1))


def test_thermal_does_not_copy_texture_but_shows_materials():
    tex_ratio, edge_ratio, corr = [], [], []
    for seed in range(6):
        sc = render_thermal(seed, 128)
        tg = _grad(sc.thermal)
        ag = sum(_grad(sc.layers.albedo[..., c]) for c in range(3))
        same = maximum_filter(sc.material, 5) == minimum_filter(sc.material, 5)
        flat_normals = np.all([maximum_filter(sc.layers.normals[..., c], 5) - minimum_filter(sc.layers.normals[..., c], 5)
                               < 1e-3 for c in range(3)], 0)
        inside = same & flat_normals  # one material, one orientation: only texture can make an edge here
        texture, plain = inside & (ag > 0.3), inside & (ag < 0.02)
        if texture.sum() < 100:
            continue
        tex_ratio.append(tg[texture].mean() / tg[plain].mean())
        edge_ratio.append(tg[~same].mean() / tg[plain].mean())
        corr.append(np.corrcoef(tg[inside], ag[inside])[0, 1])
    assert len(tex_ratio) >= 4
    assert max(tex_ratio) < 1.5 and np.mean(tex_ratio) < 1.2  # albedo edges are at the noise floor in thermal
    assert min(edge_ratio) > 4  # material boundaries are real thermal edges
    assert max(np.abs(corr)) < 0.2


def test_thermally_camouflaged_objects_vanish_while_colour_shows_them():
    found = 0
    for seed in range(20):
        sc = render_thermal(seed, 128)
        for k, m in enumerate(sc.materials):
            if not m["camouflage"]:
                continue
            obj = sc.material == k
            band = binary_dilation(obj, iterations=2) & ~obj
            # pixels whose 5×5 neighbourhood holds only this object and one room plane
            others = np.where(obj, -1, sc.material)
            low = minimum_filter(sc.material, 5)
            pure = (maximum_filter(sc.material, 5) == k) & (low < len(PLANES)) & (maximum_filter(others, 5) == low)
            ring = band & pure
            if ring.sum() < 30:
                continue
            ring_guide = sum(_grad(sc.guide[..., c]) for c in range(3))[ring].mean()
            if ring_guide < 0.3:
                continue  # similar colour to the wall by chance
            # the same surfaces a little further out: smooth warm-air gradients are there too, an edge is not
            outer = binary_dilation(obj, iterations=7) & ~binary_dilation(obj, iterations=4) & \
                binary_dilation(ring, iterations=5) & (sc.material < len(PLANES))
            tg = _grad(sc.thermal)
            assert tg[ring].mean() < 1.6 * tg[outer].mean() + 2.0, (seed, k)
            found += 1
    assert found >= 2


# --- thermal:PATH (PBVS guided track) ------------------------------------------------------------------------

def _pair(folder, stem, size=(12, 16), th_suffix="", vis_suffix="", th_dir="thermal", vis_dir="visible",
          thermal=None, visible=None):
    tdir = folder / th_dir if th_dir else folder
    vdir = folder / vis_dir if vis_dir else folder
    tdir.mkdir(parents=True, exist_ok=True)
    vdir.mkdir(parents=True, exist_ok=True)
    t = RNG.integers(0, 256, size, dtype=np.uint8) if thermal is None else thermal
    Image.fromarray(t).save(tdir / f"{stem}{th_suffix}.png")
    v = RNG.integers(0, 256, (*size, 3), dtype=np.uint8) if visible is None else visible
    Image.fromarray(v).save(vdir / f"{stem}{vis_suffix}.png")
    return t


def test_pbvs_split_folders_and_split_mapping(tmp_path):
    for i in range(10):
        _pair(tmp_path / "train", f"tr{i:02d}")
    val = {f"v{i}": _pair(tmp_path / "validation", f"v{i}") for i in range(3)}
    test = open_dataset(f"thermal:{tmp_path}")
    assert test.task == "thermal" and test.protocol.name == "thermal" and len(test) == 3
    s = test[1]
    assert s.name == "v1" and s.zero_is_hole is False and s.units == "0-255"
    np.testing.assert_array_equal(s.depth_hr, val["v1"].astype(np.float32))
    train, valid = open_dataset(f"thermal:{tmp_path}", "train"), open_dataset(f"thermal:{tmp_path}", "val")
    assert len(train) + len(valid) == 10 and len(valid) == 2
    assert not {x.name for x in train} & {x.name for x in valid}
    assert [x.name for x in valid] == [x.name for x in open_dataset(f"thermal:{tmp_path}", "val")]  # fixed seed
    assert any("val split holds 2" in n for n in valid.notes)
    assert len(open_dataset(f"thermal:{tmp_path}", "all")) == 13


def test_pbvs_layout_variants(tmp_path):
    flat = tmp_path / "flat"
    _pair(flat / "val", "a", th_suffix="_th", vis_suffix="_vis", th_dir="", vis_dir="")
    assert [s.name for s in open_dataset(f"thermal:{flat}")] == ["a"]
    short = tmp_path / "short"
    _pair(short / "Validation", "b", th_dir="th", vis_dir="vis", th_suffix="_th", vis_suffix="_vis")
    assert [s.name for s in open_dataset(f"thermal:{short}")] == ["b"]
    published = tmp_path / "published"  # the challenge's own tree: thermal/<split>/GT + visible/<split>
    _pair(published, "c", th_dir="thermal/val/GT", vis_dir="visible/val")
    (published / "thermal" / "val" / "LR_x8").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(published / "thermal" / "val" / "LR_x8" / "c.png")
    for i in range(5):
        _pair(published, f"t{i}", th_dir="thermal/train/GT", vis_dir="visible/train")
    assert [s.name for s in open_dataset(f"thermal:{published}")] == ["c"]
    assert open_dataset(f"thermal:{published}")[0].depth_hr.shape == (12, 16)
    assert len(open_dataset(f"thermal:{published}", "train")) == 4


def _snapshot(root):
    return sorted((p, p.stat().st_size) for p in root.rglob("*"))


@pytest.mark.parametrize("case,pattern", [
    ("16bit", r"th.png is a 16-bit image; expected 8-bit grey .*protocol is 8-bit \(0–255\); convert"),
    ("rgb_thermal", r"th.png has 3 channels with different values"),
    ("grey_guide", r"guide image .*x.png has mode 'L' \(1 channel\(s\)\); expected an RGB"),
    ("size", r"visible image .*x.png is 24×32 \(2× the thermal size\) but thermal image .* is 12×16; .*resize"),
    ("missing", r"1 thermal image\(s\) in .* have no visible image with the same stem: x_th.png"),
])
def test_pbvs_bad_inputs_are_clear_errors_and_write_nothing(tmp_path, case, pattern):
    folder = tmp_path / "validation"
    thermal = visible = None
    if case == "rgb_thermal":
        thermal = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    if case == "grey_guide":
        visible = RNG.integers(0, 256, (12, 16), dtype=np.uint8)
    if case == "size":
        visible = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    _pair(folder, "x", th_suffix="_th", thermal=thermal, visible=visible)
    if case == "16bit":
        Image.fromarray(RNG.integers(0, 4000, (12, 16)).astype(np.uint16)).save(folder / "thermal" / "x_th.png")
    if case == "missing":
        (folder / "visible" / "x.png").unlink()
    before = _snapshot(tmp_path)
    with pytest.raises(DcnasError, match=pattern):
        open_dataset(f"thermal:{tmp_path}")[0]
    assert _snapshot(tmp_path) == before


def test_pbvs_missing_folders(tmp_path):
    with pytest.raises(DcnasError, match="thermal dataset path not found"):
        open_dataset(f"thermal:{tmp_path / 'nope'}")
    with pytest.raises(DcnasError, match="no validation folder with pairs"):
        open_dataset(f"thermal:{tmp_path}")
    with pytest.raises(ConfigError, match="needs a path: thermal:PATH"):
        open_dataset("thermal")
