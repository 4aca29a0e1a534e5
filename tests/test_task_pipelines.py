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


def _tiny_preset(tmp: Path, task: str) -> Path:
    """demo cut to seconds, for `task`, at the 32×32 ×4 width-4 geometry."""
    d = load_preset("demo").to_dict()
    d.update(name=f"tiny-{task}", task=task)
    d["space"].update(GEOMETRY)
    d["data"].update(spec=f"{task}-synthetic:n=6,size=32", patch_size=32, batch_size=2, val_crops=2, val_batch=2,
                     cache_samples=8)
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
    from dcnas_deploy.lut.profiler import profile_device
    from dcnas_deploy.lut.table import default_lut_path
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK
    from dcnas_deploy.space import SearchSpace

    folder = tmp_path_factory.mktemp("task-luts")
    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    path = default_lut_path("cpu-torch", space, folder=folder)
    profile_device(load_device("cpu-torch").with_threads(1), space, path, calibrate=3, protocol=QUICK)
    return folder


@pytest.mark.parametrize("task,target_file", [("thermal", "thermal.png"), ("saliency", "saliency.png")])
def test_task_end_to_end(task, target_file, tmp_path, tiny_lut_dir, one_thread, monkeypatch):
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.space import SearchSpace

    monkeypatch.setenv("DCNAS_LUTS", str(tiny_lut_dir))
    monkeypatch.setattr("dcnas_deploy.search.verify.MAX_FACTOR", 10.0)
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
    res = _cli("export", "--model", str(model), "--target", "onnx,openvino,tflite", "--no-latency",
               "--check-images", "2", "-o", str(out))
    assert f"{task}-synthetic" in res.output  # check images come from the model's task
    status = json.loads((out / "export_status.json").read_text())
    rows = [r for r in status["rows"] if r["status"] != "reference"]
    assert status["ok"] and len(rows) == 3 and all(r["status"] == "passed" for r in rows), rows

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
