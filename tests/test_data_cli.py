"""`dcnas-deploy evaluate` / `upsample` through typer's CliRunner, and the Middlebury reference numbers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.data.evaluation import evaluate, load_results
from dcnas_deploy.data.registry import open_dataset
from dcnas_deploy.upsamplers import create_upsampler

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
needs_middlebury = pytest.mark.skipif(not MIDDLEBURY.is_dir(), reason=f"shared Middlebury data not found at {MIDDLEBURY}")
runner = CliRunner()


def _run(*args: str):
    result = runner.invoke(app, list(args))
    return result, " ".join(result.output.split())  # rich wraps long lines: compare on single spaces


@needs_middlebury
def test_evaluate_cli_on_three_middlebury_images(tmp_path):
    out = tmp_path / "res" / "results.json"
    result, text = _run("evaluate", "--model", "bicubic", "--model", "jbu", "--data", f"middlebury:{MIDDLEBURY}",
                        "--scale", "8", "--limit", "3", "--per-image", "--out", str(out),
                        "--save-images", str(tmp_path / "img"))
    assert result.exit_code == 0, text
    assert "6.0094" in text and "Middlebury_02_output" in text and "RMSE (0-255)" in text
    results = load_results(out)
    assert [r.model for r in results] == ["bicubic", "jbu"] and len(results[0].images) == 3
    assert results[0].mean()["rmse"] == pytest.approx(6.0094, abs=1e-3)
    assert results[1].mean()["rmse"] < results[0].mean()["rmse"]
    data = json.loads(out.read_text())
    assert data["results"][0]["protocol"]["name"] == "middlebury" and data["results"][0]["count"] == 3
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0] == "model,dataset,split,scale,unit,image,rmse,mae,psnr,ssim" and len(csv_lines) == 1 + 2 * 4
    pngs = sorted(p.relative_to(tmp_path / "img").as_posix() for p in (tmp_path / "img").rglob("*.png"))
    assert pngs[:3] == ["bicubic/Middlebury_01_output.png", "bicubic/Middlebury_02_output.png",
                        "bicubic/Middlebury_03_output.png"] and len(pngs) == 6
    assert Image.open(tmp_path / "img" / pngs[0]).size[0] > 800  # five panels side by side


@needs_middlebury
def test_bicubic_reference_numbers_on_all_30_pairs():
    """The issue's reference: PIL bicubic, published protocol, 30 pairs: ≈ 2.28 / 3.98 / 6.37."""
    ds = open_dataset(f"middlebury:{MIDDLEBURY}")
    got = {s: evaluate(create_upsampler("bicubic", s), ds, s).mean()["rmse"] for s in (4, 8, 16)}
    assert got[4] == pytest.approx(2.28, abs=0.005)
    assert got[8] == pytest.approx(3.98, abs=0.005)
    assert got[16] == pytest.approx(6.37, abs=0.005)


def test_evaluate_cli_default_synthetic_and_noise():
    result, text = _run("evaluate", "-m", "bicubic", "-m", "guided-filter", "--limit", "2", "--scale", "4",
                        "--noise", "25")
    assert result.exit_code == 0, text
    assert "synthetic: 2 samples" in text and "noise level 25" in text and "RMSE (cm)" in text


def test_evaluate_cli_bad_input_messages(tmp_path):
    result, text = _run("evaluate", "-m", "nearest", "--limit", "1")
    assert result.exit_code == 2 and "unknown model 'nearest'; known names: bicubic, brovey, gihs, gs, gsa, guided-filter, jbu, mtf-glp" in text
    result, text = _run("evaluate", "-m", str(tmp_path / "net.tflite"), "--limit", "1")
    assert result.exit_code == 2 and "model file not found" in text and "net.tflite" in text
    result, text = _run("evaluate", "-m", "bicubic", "--data", "kitti:/x")
    assert result.exit_code == 2 and "unknown dataset spec 'kitti:/x'" in text and "middlebury:PATH" in text
    result, text = _run("evaluate", "-m", "bicubic", "--data", f"middlebury:{tmp_path / 'none'}")
    assert result.exit_code == 2 and "middlebury dataset path not found" in text and "_depth.png" in text


def _lr_and_guide(tmp_path: Path, h=20, w=25, s=4, guide_hw=None, dtype=np.uint16):
    rng = np.random.default_rng(0)
    top = 250 if dtype == np.uint8 else 5000
    lr = rng.integers(100, top, (h, w)).astype(dtype)
    lr[2, 3] = 0  # a hole
    Image.fromarray(lr).save(tmp_path / "lr.png")
    gh, gw = guide_hw or (h * s, w * s)
    Image.fromarray(rng.integers(0, 256, (gh, gw, 3), dtype=np.uint8)).save(tmp_path / "rgb.jpg")
    return lr


def test_upsample_cli_png16_keeps_units_and_bit_depth(tmp_path):
    lr = _lr_and_guide(tmp_path)
    result, text = _run("upsample", "--model", "bicubic", "--depth", str(tmp_path / "lr.png"),
                        "--rgb", str(tmp_path / "rgb.jpg"), "-o", str(tmp_path / "out.png"),
                        "--preview", str(tmp_path / "prev.png"))
    assert result.exit_code == 0, text
    assert "1 LR pixels are holes" in text and "×4" in text
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.dtype == np.uint16 and out.shape == (80, 100)
    valid = lr[lr > 0].astype(np.float64)
    assert abs(out.mean() - valid.mean()) < 0.05 * valid.mean()  # same units as the input, not normalised
    assert (tmp_path / "prev.png").is_file()


def test_upsample_cli_png8_npy_and_autocrop(tmp_path):
    _lr_and_guide(tmp_path, dtype=np.uint8, guide_hw=(83, 102))  # 3 and 2 extra px: mod-crop remainder
    result, text = _run("upsample", "-m", "jbu", "--depth", str(tmp_path / "lr.png"), "--rgb",
                        str(tmp_path / "rgb.jpg"), "-o", str(tmp_path / "out.png"))
    assert result.exit_code == 0, text
    assert "guide cropped from 83×102 to 80×100" in text
    assert np.asarray(Image.open(tmp_path / "out.png")).dtype == np.uint8
    result, text = _run("upsample", "-m", "bicubic", "--depth", str(tmp_path / "lr.png"), "--rgb",
                        str(tmp_path / "rgb.jpg"), "-o", str(tmp_path / "out.npy"))
    assert result.exit_code == 0 and np.load(tmp_path / "out.npy").dtype == np.float32
    np.save(tmp_path / "lr.npy", np.full((20, 25), 1.5, np.float32))
    result, text = _run("upsample", "-m", "bicubic", "--depth", str(tmp_path / "lr.npy"), "--rgb",
                        str(tmp_path / "rgb.jpg"), "-o", str(tmp_path / "o.png"))
    assert result.exit_code == 2 and "round it to integers" in text and not (tmp_path / "o.png").exists()


def test_upsample_cli_bad_inputs(tmp_path):
    _lr_and_guide(tmp_path, guide_hw=(70, 100))
    args = ["upsample", "-m", "bicubic", "--depth", str(tmp_path / "lr.png"), "--rgb", str(tmp_path / "rgb.jpg"),
            "-o", str(tmp_path / "out.png")]
    result, text = _run(*args)
    assert result.exit_code == 2 and "guide is 70×100 but the LR depth is 20×25" in text
    result, text = _run(*args, "--scale", "3")
    assert result.exit_code == 2 and "at ×3 that is 60×75" in text
    result, text = _run("upsample", "-m", "bicubic", "--depth", str(tmp_path / "missing.png"), "--rgb",
                        str(tmp_path / "rgb.jpg"), "-o", str(tmp_path / "out.png"))
    assert result.exit_code == 2 and "depth file not found" in text and "missing.png" in text
    Image.fromarray(np.zeros((80, 100), np.uint8)).save(tmp_path / "grey.png")
    _lr_and_guide(tmp_path)
    result, text = _run("upsample", "-m", "bicubic", "--depth", str(tmp_path / "lr.png"), "--rgb",
                        str(tmp_path / "grey.png"), "-o", str(tmp_path / "out.png"))
    assert result.exit_code == 2 and "expected an RGB colour image (3 channels)" in text
    assert not (tmp_path / "out.png").exists()
