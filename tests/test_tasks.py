"""The task registry and the hole policy: depth treats 0 as a hole, thermal and saliency as a value."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.holes import fill_holes, invalid_mask
from dcnas_deploy.data.metrics import compute_metrics, fmax, mae
from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.presets import Preset, load_preset
from dcnas_deploy.tasks import HIGHER_IS_BETTER, get_task, known_tasks
from dcnas_deploy.upsamplers import create_upsampler

SAL = get_protocol("saliency")


def test_registry_lists_the_tasks_with_consistent_fields():
    assert {"depth", "thermal", "saliency"} <= set(known_tasks())
    for name in known_tasks():
        t = get_task(name)
        assert t.metrics and all(m in HIGHER_IS_BETTER for m in t.metrics)
        assert get_protocol(t.protocol).zero_is_hole == t.zero_is_hole
    assert get_task("depth").zero_is_hole and not get_task("thermal").zero_is_hole
    assert get_task("saliency").headline == "fmax" and HIGHER_IS_BETTER["fmax"]
    with pytest.raises(ConfigError, match="unknown task 'ir'.*depth"):
        get_task("ir")


def test_band_mismatch_names_both():
    with pytest.raises(ConfigError, match="3-band target.*thermal.*1-band thermal target"):
        get_task("thermal").check_bands(3, 3, "FILE")


def test_hole_policy_zero_is_a_value_for_thermal():
    x = np.array([[0.0, 5.0], [np.nan, 7.0]], np.float32)
    assert invalid_mask(x).sum() == 2 and invalid_mask(x, zero_is_hole=False).sum() == 1
    filled = fill_holes(x, "t", zero_is_hole=False)
    assert filled[0, 0] == 0.0 and np.isfinite(filled).all()


def test_make_triple_keeps_zeros_of_a_saliency_map():
    hr = np.zeros((32, 32), np.float32)
    hr[4:12, 4:12] = 1.0
    guide = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    depth_like = make_triple(Sample("d", guide, hr), 4)
    sal = make_triple(Sample("s", guide, hr, zero_is_hole=False), 4)
    assert not sal.zero_is_hole and np.isfinite(sal.lr).all()
    assert (sal.lr == 0).any()                 # background stays 0 (a value)
    assert (depth_like.lr == 0).sum() >= (sal.lr == 0).sum()  # depth keeps them as holes
    up = create_upsampler("bicubic", 4)
    sr = up(sal.lr, sal.guide, zero_is_hole=False)
    sr_as_depth = up(sal.lr, sal.guide)         # zeros filled from the object: visibly wrong for saliency
    assert mae(sr, hr, SAL) < mae(sr_as_depth, hr, SAL)


def test_fmax_hand_computed():
    gt = np.zeros((10, 10), np.float32)
    gt[:5] = 1.0
    assert fmax(gt, gt, SAL) == pytest.approx(1.0)
    pred = gt.copy()
    pred[5] = 1.0  # 10 false positives at every threshold: P = 50/60, R = 1
    p, r = 50 / 60, 1.0
    assert fmax(pred, gt, SAL) == pytest.approx(1.3 * p * r / (0.3 * p + r))
    m = compute_metrics(pred, gt, SAL, ("fmax",))
    assert set(m) == {"rmse", "mae", "psnr", "ssim", "fmax"} and m["mae"] == pytest.approx(0.1)
    with pytest.raises(DcnasError, match="no salient pixel"):
        fmax(pred, np.zeros_like(gt), SAL)


def test_presets_name_their_task_and_mismatches_are_named():
    assert load_preset("demo").task == "depth"
    d = load_preset("demo").to_dict()
    d["task"] = "saliency"
    with pytest.raises(ConfigError, match="holds depth data but the preset's task is 'saliency'"):
        Preset.from_dict(d)
    d["task"] = "depth"
    d["space"]["guide_channels"] = 1
    with pytest.raises(ConfigError, match="1-band guide.*task 'depth' wants"):
        Preset.from_dict(d)
    d = load_preset("demo").to_dict()
    d["task"] = "sonar"
    with pytest.raises(ConfigError, match="task: unknown task 'sonar'"):
        Preset.from_dict(d)


def test_lut_names_carry_band_counts_only_off_the_default():
    from dcnas_deploy.lut.table import default_lut_path
    from dcnas_deploy.space import SearchSpace

    base = SearchSpace(width=8, scale=4, hr_size=(64, 64))
    ms = SearchSpace(width=8, scale=4, hr_size=(64, 64), target_channels=4, guide_channels=1)
    assert default_lut_path("cpu", base).name == "cpu-c8-64x64-x4.yaml"
    assert default_lut_path("cpu", ms).name == "cpu-c8-t4g1-64x64-x4.yaml"


def test_deployable_normalises_each_band_on_its_own():
    import torch

    from dcnas_deploy.export.deployable import Deployable
    from dcnas_deploy.space import SearchSpace

    space = SearchSpace(width=4, scale=2, hr_size=(16, 16), target_channels=2, guide_channels=1)
    seen = {}

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.space = space

        def forward(self, lr, guide):
            seen["lr"] = lr
            return torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest")

    lr = torch.stack([torch.linspace(0, 10, 64), torch.linspace(1000, 3000, 64)]).reshape(1, 2, 8, 8)
    out = Deployable(Probe())(lr, torch.rand(1, 1, 16, 16))
    for band in range(2):
        assert float(seen["lr"][0, band].min()) == 0.0 and float(seen["lr"][0, band].max()) == 1.0
    assert torch.allclose(out[:, :, ::2, ::2], lr, rtol=1e-5)


def test_tasks_cli_lists_them():
    res = CliRunner().invoke(app, ["tasks", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["thermal"]["zero_is_hole"] is False and rows["depth"]["metrics"][0] == "rmse"


@pytest.mark.parametrize("case", ["three_band_target", "grey_guide_for_rgb_task", "rgb_guide_for_pan_task"])
def test_upsample_refuses_files_with_the_wrong_bands_and_writes_nothing(tmp_path, case):
    from PIL import Image

    rng = np.random.default_rng(0)
    grey_lr = tmp_path / "lr.png"
    Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(grey_lr)
    rgb_lr = tmp_path / "lr_rgb.png"
    Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(rgb_lr)
    rgb = tmp_path / "rgb.png"
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(rgb)
    grey = tmp_path / "grey.png"
    Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(grey)
    ms = tmp_path / "ms.npy"
    np.save(ms, rng.random((8, 8, 4)).astype(np.float32))
    target, guide, task, pattern = {
        "three_band_target": (rgb_lr, rgb, "thermal", "has 3 band.*thermal target has 1"),
        "grey_guide_for_rgb_task": (grey_lr, grey, "saliency", "grey.png.*1.*3"),
        "rgb_guide_for_pan_task": (ms, rgb, "pansharpening", "must be 1 band.*rgb.png has 3"),
    }[case]
    out = tmp_path / "out.npy"
    res = CliRunner().invoke(app, ["upsample", "-m", "bicubic", "--task", task, "--target", str(target), "--guide",
                                   str(guide), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert __import__("re").search(pattern, " ".join(res.output.split()), __import__("re").S), res.output
    assert not out.exists()
