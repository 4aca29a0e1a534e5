"""Acceptance (issue 30, round 2, part B): shipped names everywhere, export statuses that describe their files,
and exported graphs used at other sizes than they were checked at."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Tuple

import pytest
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.errors import DcnasWarning


def _invoke(*argv: str):
    result = CliRunner().invoke(app, list(argv))
    return result, " ".join(re.sub(r"[│╭╮╰╯─━┃]", " ", result.output).split())


def test_benchmark_times_a_shipped_model_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, text = _invoke("benchmark", "depth-x8", "--device", "cpu-torch", "--hr", "32x32")
    assert result.exit_code == 0, text
    assert "benchmark depth-x8: the shipped model" in text and "depth-x8 on cpu-torch" in text
    assert "median ms" in text


# ---- export statuses describe the files beside them ------------------------------------------------------

EXPORT = ("-t", "onnx", "-p", "fp32", "--no-latency", "--check-images", "1", "--data", "synthetic:n=2,size=32")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> Tuple[Path, Path]:
    """Two different tiny ×4 models, each saved as `model.pt` (so their exports share file names)."""
    import torch

    from dcnas_deploy import SearchSpace, Supernet
    from dcnas_deploy.model.checkpoint import save_model

    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    net = Supernet(space).eval()
    paths = (root / "a" / "model.pt", root / "b" / "model.pt")
    for seed, path in enumerate(paths, 1):
        path.parent.mkdir()
        save_model(path, net.materialize(space.sample(seed)), {"norm": "lr", "scale": 4, "data": "synthetic"})
    return paths


def _status(folder: Path) -> dict:
    return json.loads((folder / "export_status.json").read_text())


def test_a_failed_rerun_keeps_the_passed_file_listed_and_benchmark_skips_the_failed_one(two_models, tmp_path):
    from dcnas_deploy.export.status import file_sha256

    model, out = two_models[0], tmp_path / "ex"
    assert _invoke("export", "-m", str(model), *EXPORT, "-o", str(out))[0].exit_code == 0
    result, text = _invoke("export", "-m", str(model), *EXPORT, "-o", str(out), "--min-psnr-fp32", "1000")
    assert result.exit_code == 1, text
    status = _status(out)
    rows = {Path(r["path"]).name: r for r in status["rows"] if r["path"]}
    assert status["state"] == "complete" and not status["ok"]
    assert rows["model_fp32.onnx"]["status"] == "passed" and rows["model_fp32.failed.onnx"]["status"] == "failed_check"
    assert {r["model_sha256"] for r in status["rows"]} == {file_sha256(model)}

    result, text = _invoke("benchmark", str(out), "--json", str(tmp_path / "b.json"))
    assert result.exit_code == 0, text
    timed = {Path(r["input"]).name: r for r in json.loads((tmp_path / "b.json").read_text())["rows"]}
    assert timed["model_fp32.onnx"]["timing"] is not None
    assert timed["model_fp32.failed.onnx"]["timing"] is None
    assert "model_fp32.failed.onnx did not pass its export check" in timed["model_fp32.failed.onnx"]["skipped"]
    assert "did not pass its export check" in text


def test_an_export_stopped_part_way_never_has_its_status_describe_another_model(two_models, tmp_path, monkeypatch):
    from dcnas_deploy.export import pipeline
    from dcnas_deploy.export.status import file_sha256

    (a, b), out = two_models, tmp_path / "ex"
    assert _invoke("export", "-m", str(a), *EXPORT, "-o", str(out))[0].exit_code == 0

    # stopped before B's first file: marked in progress for B, A's file still described as A's
    monkeypatch.setattr(pipeline, "discard", _interrupt)
    assert _invoke("export", "-m", str(b), *EXPORT, "-o", str(out))[0].exit_code == 130
    status = _status(out)
    assert status["state"] == "in_progress" and status["model"]["sha256"] == file_sha256(b)
    assert [(Path(r["path"]).name, r["model_sha256"]) for r in status["rows"] if r["path"]] == [
        ("model_fp32.onnx", file_sha256(a))]
    monkeypatch.undo()

    # stopped between B's file replacing A's and the status being rewritten: benchmark finds the row is not its file's
    real, calls = pipeline._save_status, []

    def save_then_stop(*args, **kw):
        calls.append(1)
        if len(calls) == 2:  # the first write after a file settled
            raise KeyboardInterrupt
        real(*args, **kw)

    monkeypatch.setattr(pipeline, "_save_status", save_then_stop)
    assert _invoke("export", "-m", str(b), *EXPORT, "-o", str(out))[0].exit_code == 130
    monkeypatch.undo()
    with pytest.warns(DcnasWarning, match="has not finished"):
        result, text = _invoke("benchmark", str(out))
    assert result.exit_code == 2, text
    assert "describes another model than model_fp32.onnx" in text
    assert "nothing could be timed" in text

    # the next export of B puts it right: one row, B's, complete
    assert _invoke("export", "-m", str(b), *EXPORT, "-o", str(out))[0].exit_code == 0
    status = _status(out)
    assert status["state"] == "complete"
    assert {r["model_sha256"] for r in status["rows"]} == {file_sha256(b)} and len(status["rows"]) == 2


def _interrupt(*_args, **_kw):
    raise KeyboardInterrupt


# ---- an exported graph used at another size than it was checked at ------------------------------------------

def test_an_exported_graph_warns_when_run_outside_its_checked_size(two_models, tmp_path):
    import numpy as np

    from dcnas_deploy.upsamplers import create_upsampler

    out = tmp_path / "ex"
    assert _invoke("export", "-m", str(two_models[0]), *EXPORT, "-o", str(out))[0].exit_code == 0
    onnx, torch_model = create_upsampler(str(out / "model_fp32.onnx"), 4), create_upsampler(str(two_models[0]), 4)
    rng = np.random.default_rng(0)

    def pair(n: int):
        return rng.uniform(1, 5, (n, n)).astype(np.float32), rng.uniform(0, 1, (4 * n, 4 * n, 3)).astype(np.float32)

    lr, guide = pair(8)  # exactly the checked size (HR 32×32): no warning, and PyTorch's result
    with warnings.catch_warnings():
        warnings.simplefilter("error", DcnasWarning)
        assert np.allclose(onnx(lr, guide), torch_model(lr, guide), atol=1e-4)
    for n, how in ((20, "larger images run as overlapping 32×32 tiles"), (5, "smaller images are edge-padded")):
        lr, guide = pair(n)
        with pytest.warns(DcnasWarning, match=f"model_fp32.onnx was exported and checked at HR 32×32.*{how}"):
            assert onnx(lr, guide).shape == (4 * n, 4 * n)
