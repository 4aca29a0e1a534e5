"""`benchmark` over several devices and files: device × format × precision, skips said, JSON and PNG (issue 18)."""
from __future__ import annotations

import json

import pytest
import torch

from dcnas_deploy.pipeline.matrix import benchmark_matrix, collect_inputs
from dcnas_deploy.runtimes.backends import get_backend
from dcnas_deploy.runtimes.devices import load_device
from dcnas_deploy.runtimes.protocol import QUICK


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, lr, guide):
        return self.conv(lr) + guide


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """An export-like folder: ONNX (passed its gate) and TFLite (failed it), fp32, with export_status.json."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    m, inputs = Tiny().eval(), (torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 16))
    onnx = get_backend("onnxruntime").convert(m, inputs, folder / "model_fp32.onnx")
    tflite = get_backend("litert").convert(m, inputs, folder / "model_fp32.tflite")
    rows = [{"format": "onnx", "precision": "fp32", "status": "passed", "path": str(onnx)},
            {"format": "tflite", "precision": "fp32", "status": "failed_check", "path": str(tflite)},
            {"format": "openvino", "precision": "fp32", "status": "export_failed", "path": ""}]
    (folder / "export_status.json").write_text(json.dumps({"ok": False, "rows": rows}))
    return folder


def test_matrix_times_what_each_device_runs_and_says_why_not(export_dir):
    inputs = collect_inputs([export_dir])
    assert [(i.format, i.precision, i.gate) for i in inputs] == [("onnx", "fp32", "passed"),
                                                                  ("tflite", "fp32", "failed_check")]
    matrix = benchmark_matrix(inputs, [load_device(d) for d in ("cpu", "cpu-tflite", "cpu-openvino")], QUICK)
    cells = {(r.device, r.input.format): r for r in matrix.rows}
    assert len(cells) == 6
    r = cells[("cpu", "onnx")]
    assert r.timing is not None and not r.skipped and not r.error
    assert r.fps == pytest.approx(1000 / r.timing.median_ms) and r.input.size_mb > 0
    # a file whose export check failed is not timed from its folder (issue 30), and the table says why
    assert "model_fp32.tflite did not pass its export check" in cells[("cpu-tflite", "tflite")].skipped
    assert "onnxruntime loads .onnx files; model_fp32.tflite is for litert" in cells[("cpu", "tflite")].skipped
    assert "litert loads .tflite files" in cells[("cpu-tflite", "onnx")].skipped
    assert "time the IR (.xml)" in cells[("cpu-openvino", "onnx")].skipped
    d = matrix.to_dict()
    assert len(d["rows"]) == 6 and d["rows"][0]["gate"] == "passed" and d["protocol"]["timed_runs"] == QUICK.timed_runs


def test_cli_matrix_writes_json_and_png_and_refuses_an_empty_one(export_dir, tmp_path):
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    runner = CliRunner(env={"COLUMNS": "250"})
    out, png = tmp_path / "m.json", tmp_path / "m.png"
    r = runner.invoke(app, ["benchmark", str(export_dir), "-d", "cpu", "-d", "cpu-torch", "--threads", "1",
                            "--json", str(out), "--png", str(png)])
    assert r.exit_code == 0, r.output
    rows = json.loads(out.read_text())["rows"]
    assert [(x["device"], x["format"], x["timing"] is not None) for x in rows] == [
        ("cpu", "onnx", True), ("cpu", "tflite", False), ("cpu-torch", "onnx", False), ("cpu-torch", "tflite", False)]
    assert png.stat().st_size > 0 and "skipped" in r.output and "passed" in r.output
    none = runner.invoke(app, ["benchmark", str(export_dir), "-d", "cpu-torch"])
    assert none.exit_code == 2 and "nothing could be timed" in none.output
    ref = runner.invoke(app, ["benchmark", str(export_dir), "--reference", "x.yaml"])
    assert ref.exit_code == 2 and "--reference times one model on one device" in ref.output
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = runner.invoke(app, ["benchmark", str(empty)])
    assert nothing.exit_code == 2 and "holds no model files" in nothing.output
