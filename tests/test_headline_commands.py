"""The product's headline commands as a new user types them: `search --latency 40ms` and `export --target tflite`
take the newest run under runs/, else what ships with the package (and say which), profile a missing LUT first,
and say what to do when there is neither."""
from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.presets import load_preset


def _cli(*args: str, code: int = 0) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == code, res.output
    return res.output


def _tiny_preset(folder: Path) -> Path:
    """The demo preset cut to seconds at a 32×32 ×4 width-4 geometry."""
    d = load_preset("demo").to_dict()
    d["name"] = "tiny-headline"
    d["space"].update(width=4, scale=4, hr_size=[32, 32])
    d["data"].update(spec="synthetic:n=6,size=32", patch_size=32, batch_size=2, val_crops=2, val_batch=2,
                     cache_samples=8)
    d["training"].update(steps=3, checkpoint_every=3, threads=1)
    d["sampling"].update(strategy="uniform", warmup_steps=3)
    d["search"].update(population=4, topk=2, crossovers=2, mutations=2, iterations=1, init_pool=8)
    d["retrain"].update(steps=3)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_search_and_export_as_typed(tmp_path, monkeypatch, lenient_host_check, model_card):
    from dcnas_deploy import pretrained
    from dcnas_deploy.train.ship_pretrained import ship_model, ship_supernet

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCNAS_LUTS", str(tmp_path / "luts"))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped)
    # nothing trained and nothing shipped: each says how to get what it needs, writes nothing
    out = _cli("search", "--latency", "40ms", code=2)
    assert "no supernet run under" in out and "train-supernet" in out
    out = _cli("export", "--target", "tflite", code=2)
    assert "no model.pt under" in out and not (tmp_path / "export").exists()

    # a shipped supernet and depth-x8 (made here at a tiny geometry): taken when runs/ has nothing, and said
    preset = _tiny_preset(tmp_path)
    _cli("train-supernet", "--preset", str(preset), "--out", "made/super", "--no-progress")
    ship_supernet(tmp_path / "made" / "super", "supernet-x4", {"default": True, "scale": 4}, shipped, check_paths=2)
    out = _cli("search", "--latency", "40ms", "--quick", "-o", "made/arch.yaml")
    assert "using the shipped supernet-x4" in out and "profiling this host first" in out
    assert (tmp_path / "luts" / "cpu-c4-32x32-x4.yaml").is_file()
    _cli("train", "--arch", "made/arch.yaml", "--preset", str(preset), "--out", "made/final", "--no-progress")
    ship_model(tmp_path / "made" / "final" / "model.pt", "depth-x8", model_card(4), shipped)
    out = _cli("export", "--target", "onnx", "--no-latency", "--check-images", "1", "-o", "made/export")
    assert "using the shipped depth-x8" in out and (tmp_path / "made" / "export" / "depth-x8_fp32.onnx").is_file()

    # runs under runs/ take precedence over what ships
    _cli("train-supernet", "--preset", str(preset), "--out", "runs/older", "--no-progress")
    _cli("train-supernet", "--preset", str(preset), "--out", "runs/sub/super", "--no-progress")
    out = _cli("search", "--latency", "40ms")  # exactly as typed
    assert "using the newest supernet run" in out and "runs/sub/super" in out and "profiling" not in out
    assert (tmp_path / "arch.yaml").is_file()

    _cli("train", "--arch", "arch.yaml", "--preset", str(preset), "--out", "runs/final", "--no-progress")
    out = _cli("export", "--target", "tflite")  # exactly as typed
    assert "using the newest model.pt under runs/" in out and "runs/final/model.pt" in out
    assert (tmp_path / "export" / "model_fp32.tflite").is_file()
