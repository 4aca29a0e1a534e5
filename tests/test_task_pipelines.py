"""Thermal and saliency end to end at tiny size, from the CLI: train, search under a LUT, export, evaluate, upsample."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.presets import load_preset

GEOMETRY = {"width": 4, "scale": 4, "hr_size": [32, 32]}


def _cli(*args: str, code: int = 0, env=None):
    res = CliRunner().invoke(app, list(args), env=env)
    assert res.exit_code == code, res.output
    return res


def _tiny_preset(tmp: Path, task: str, bands: int = 1) -> Path:
    """demo cut to seconds, for `task`, at the 32×32 ×4 width-4 geometry (pan-sharpening: `bands` MS bands)."""
    d = load_preset("demo").to_dict()
    d.update(name=f"tiny-{task}", task=task)
    d["space"].update(GEOMETRY)
    spec = f"{task}-synthetic:n=6,size=32"
    if task == "pansharpening":
        d["space"].update(target_channels=bands, guide_channels=1)
        spec += f",bands={bands}"
    d["data"].update(spec=spec, patch_size=32, batch_size=2, val_crops=2, val_batch=2, cache_samples=8)
    d["training"].update(steps=3, checkpoint_every=3, threads=1)
    d["sampling"].update(strategy="uniform", warmup_steps=3)
    d["search"].update(population=4, topk=2, crossovers=2, mutations=2, iterations=1, init_pool=8)
    d["retrain"].update(steps=3)
    path = tmp / f"tiny-{task}.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.fixture(scope="module")
def tiny_lut_dir(tmp_path_factory):
    """A real quick-protocol eager-PyTorch LUT at the tiny geometry (one band in, RGB guide), in its own folder."""
    folder = tmp_path_factory.mktemp("task-luts")
    _profile(folder, 1, 3)
    return folder


def _profile(folder: Path, target_bands: int, guide_bands: int):
    """Profile cpu-torch (quick protocol) at the tiny geometry with these band counts into `folder`."""
    from dcnas_deploy.lut.profiler import profile_device
    from dcnas_deploy.lut.table import default_lut_path
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK
    from dcnas_deploy.space import SearchSpace

    space = SearchSpace(width=4, scale=4, hr_size=(32, 32), target_channels=target_bands, guide_channels=guide_bands)
    path = default_lut_path("cpu-torch", space, folder=folder)
    profile_device(load_device("cpu-torch").with_threads(1), space, path, calibrate=3, protocol=QUICK)
    return space, path


@pytest.mark.parametrize("task,target_file,formats", [("thermal", "thermal.png", "onnx,openvino,tflite"),
                                                       ("saliency", "saliency.png", "onnx")])
def test_task_end_to_end(task, target_file, formats, tmp_path, tiny_lut_dir, one_thread, monkeypatch):
    """Saliency's graph is thermal's (one band, RGB guide): one format there keeps the suite short."""
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.space import SearchSpace

    monkeypatch.setenv("DCNAS_LUTS", str(tiny_lut_dir))
    monkeypatch.setattr("dcnas_deploy.lut.host_tables.MAX_FACTOR", 10.0)
    preset = _tiny_preset(tmp_path, task)
    _cli("train-supernet", "--preset", str(preset), "--out", str(tmp_path / "super"), "--no-progress")

    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    lut = LUT.load(next(tiny_lut_dir.glob("*.yaml")))
    budget = float(np.percentile(lut.batch_latency(space.sample_genomes(500, seed=1), space), 70))
    arch = tmp_path / "arch.yaml"
    _cli("search", "--supernet", str(tmp_path / "super"), "--latency", f"{budget:.4f}ms", "--device", "cpu-torch",
         "--no-verify", "-o", str(arch))
    run = tmp_path / "final"
    _cli("train", "--arch", str(arch), "--preset", str(preset), "--init", "supernet", "--supernet",
         str(tmp_path / "super"), "--out", str(run), "--no-progress")
    model = run / "model.pt"

    out = tmp_path / "export"
    res = _cli("export", "--model", str(model), "--target", formats, "--no-latency",
               "--check-images", "2", "-o", str(out))
    assert f"{task}-synthetic" in res.output  # check images come from the model's task
    status = json.loads((out / "export_status.json").read_text())
    rows = [r for r in status["rows"] if r["status"] != "reference"]
    assert status["ok"] and len(rows) == len(formats.split(",")) and all(r["status"] == "passed" for r in rows), rows

    results = tmp_path / "eval.json"
    res = _cli("evaluate", "-m", "bicubic", "-m", str(out / "model_fp32.onnx"), "--data",
               f"{task}-synthetic:n=2,size=32", "--scale", "4", "-o", str(results))
    scored = json.loads(results.read_text())["results"]
    head = "psnr" if task == "thermal" else "fmax"
    assert all(r["task"] == task and head in r["mean"] for r in scored)
    assert ("PSNR (dB)" if task == "thermal" else "max F") in res.output

    # the user's own files: an 8-bit LR target with true zeros (values, not holes) and an RGB guide
    rng = np.random.default_rng(0)
    lr = (rng.random((8, 8)) * 255).astype(np.uint8)
    lr[:2] = 0
    Image.fromarray(lr).save(tmp_path / target_file)
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(tmp_path / "rgb.png")
    res = _cli("upsample", "-m", str(model), "--target", str(tmp_path / target_file), "--rgb",
               str(tmp_path / "rgb.png"), "--task", task, "-o", str(tmp_path / "sr.png"))
    assert "holes" not in res.output  # zeros are values for this task
    sr = np.asarray(Image.open(tmp_path / "sr.png"))
    assert sr.shape == (32, 32) and sr.dtype == np.uint8


def test_pansharpening_end_to_end_4_and_8_bands(tmp_path, one_thread, monkeypatch):
    """4 bands: a channel-aware LUT (t4g1) constrains the search; 8 bands: the params budget. Both export and
    evaluate at reduced resolution; full resolution (no reference) on GeoTIFF pairs; `upsample` of TIFF files."""
    import tifffile

    from dcnas_deploy.lut.table import LUT

    monkeypatch.setenv("DCNAS_LUTS", str(tmp_path / "luts"))
    monkeypatch.setattr("dcnas_deploy.lut.host_tables.MAX_FACTOR", 10.0)
    space, lut_path = _profile(tmp_path / "luts", 4, 1)
    assert lut_path.name == "cpu-torch-c4-t4g1-32x32-x4.yaml"
    budget = float(np.percentile(LUT.load(lut_path).batch_latency(space.sample_genomes(500, seed=1), space), 70))
    for bands, constraint, targets in ((4, ["--latency", f"{budget:.4f}ms", "--device", "cpu-torch"],
                                        "onnx,openvino,tflite"), (8, ["--params", "0.3M"], "onnx")):
        run = tmp_path / f"b{bands}"
        preset = _tiny_preset(run.parent, "pansharpening", bands)
        _cli("train-supernet", "--preset", str(preset), "--out", str(run / "super"), "--no-progress")
        _cli("search", "--supernet", str(run / "super"), *constraint, "--no-verify", "-o", str(run / "arch.yaml"))
        _cli("train", "--arch", str(run / "arch.yaml"), "--preset", str(preset), "--out", str(run / "final"),
             "--no-progress")
        model = run / "final" / "model.pt"
        _cli("export", "--model", str(model), "--target", targets, "--no-latency", "--check-images", "2",
             "-o", str(run / "export"))
        status = json.loads((run / "export" / "export_status.json").read_text())
        assert status["ok"] and {r["status"] for r in status["rows"]} == {"reference", "passed"}
        out = run / "eval.json"
        _cli("evaluate", "-m", str(run / "export" / "model_fp32.onnx"), "-m", "gsa", "-m", "mtf-glp", "--data",
             f"pansharpening-synthetic:n=2,size=32,bands={bands}", "--scale", "4", "-o", str(out))
        means = [r["mean"] for r in json.loads(out.read_text())["results"]]
        assert all({"sam", "ergas", "scc", "q", "q2n", "psnr"} <= set(m) for m in means)

    # full resolution: MS at 1/4 of the PAN, no reference → D_λ, D_s, QNR
    rng = np.random.default_rng(0)
    folder = tmp_path / "fullres"
    folder.mkdir()
    tifffile.imwrite(folder / "a_ms.tif", (rng.random((8, 8, 4)) * 2000).astype(np.uint16))
    tifffile.imwrite(folder / "a_pan.tif", (rng.random((32, 32)) * 2000).astype(np.uint16))
    out = tmp_path / "full.json"
    res = _cli("evaluate", "-m", str(tmp_path / "b4" / "final" / "model.pt"), "-m", "gsa", "--data",
               f"geotiff:{folder}", "--scale", "4", "-o", str(out))
    assert "QNR" in res.output
    assert all(set(r["mean"]) == {"d_lambda", "d_s", "qnr"} for r in json.loads(out.read_text())["results"])

    # the user's own TIFF files: 4-band LR MS + 1-band PAN → 4-band HR TIFF
    pan = tmp_path / "pan.png"
    Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(pan)
    _cli("upsample", "-m", str(tmp_path / "b4" / "final" / "model.pt"), "--task", "pansharpening", "--target",
         str(folder / "a_ms.tif"), "--guide", str(pan), "-o", str(tmp_path / "sr.tif"))
    assert tifffile.imread(tmp_path / "sr.tif").shape[:2] == (32, 32)
    bad = _cli("upsample", "-m", "gsa", "--task", "pansharpening", "--target", str(tmp_path / "rgb_missing.tif"),
               "--guide", str(pan), "-o", str(tmp_path / "x.tif"), code=2)
    assert "not found" in bad.output and not (tmp_path / "x.tif").exists()
