"""Export: deployable wrapper, format table, converters, accuracy gates, status table, file loaders, CLI.

Conversions are slow on 2 shared cores (litert-torch ~15–25 s per TFLite file, PT2E int8 ~45–65 s), so
the default suite exports 3 random archs to the three fp32 formats and one of them also to int8;
`-m slow` runs the full 20 archs × 3 formats and int8 for 3 archs.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dcnas_deploy import SearchSpace, Supernet
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.export.accuracy import CheckResult, Gates, compare, psnr_vs_reference
from dcnas_deploy.export.deployable import Deployable
from dcnas_deploy.export.formats import FORMATS, parse_precisions, parse_targets
from dcnas_deploy.export.pipeline import STATUS_FILE, ExportSettings, export_rows
from dcnas_deploy.export.samples import ExportData, graph_inputs, load_export_data
from dcnas_deploy.export.status import EXPORT_FAILED, FAILED_CHECK, PASSED, REFERENCE
from dcnas_deploy.runtimes.protocol import QUICK

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
HR = (32, 32)
SCALE = 8
DEFAULT_ARCHS = 2
SLOW_ARCHS = 20


def _data_spec() -> str:
    """Real Middlebury pairs when ../shared is present, else the synthetic scenes."""
    return f"middlebury:{MIDDLEBURY}" if (MIDDLEBURY / "Depth").is_dir() else "synthetic"


@pytest.fixture(scope="module")
def supernet():
    """A supernet with perturbed (non-identity) kernel transforms, so materialised subnets differ."""
    torch.manual_seed(0)
    space = SearchSpace(width=8, scale=SCALE, hr_size=HR)
    net = Supernet(space).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 2 and p.shape[0] == p.shape[1]:
                p.add_(0.05 * torch.randn_like(p))
    return space, net


@pytest.fixture(scope="module")
def export_data() -> ExportData:
    """Check images and calibration crops at the test geometry (loaded once)."""
    return load_export_data(_data_spec(), HR, SCALE, n_check=3, n_calib=12, seed=0)


def _deployable(supernet, seed: int) -> Deployable:
    space, net = supernet
    return Deployable(net.materialize(space.sample(seed)).eval())


def _export(module, tmp_path, export_data, precisions, formats=None, latency=None, nhwc=False):
    settings = ExportSettings(formats=formats or list(FORMATS.values()), precisions=precisions, out_dir=tmp_path,
                              hr_size=HR, nhwc=nhwc, data=_data_spec(), latency=latency)
    return export_rows(module, {"norm": "lr"}, settings, data=export_data)


@pytest.fixture(scope="module")
def full_export(supernet, export_data, tmp_path_factory):
    """One arch: every format at fp32 (TFLite NHWC) with quick latency, plus ONNX/OpenVINO int8.

    (TFLite int8 and fp16 take ~1 min each here: they run in the slow tests.)
    """
    out = tmp_path_factory.mktemp("export_full")
    module = _deployable(supernet, 100)
    fp32 = _export(module, out / "fp32", export_data, ["fp32"], latency=QUICK, nhwc=True)
    int8 = _export(module, out / "int8", export_data, ["int8"], formats=[FORMATS["onnx"], FORMATS["openvino"]],
                   latency=QUICK)
    return out, fp32, int8


# ---------------------------------------------------------------------------------------------
# wrapper
# ---------------------------------------------------------------------------------------------

def test_in_graph_normalisation_is_data_normalize_lr_mode(supernet):
    """Deployable == norm_stats('lr') → subnet → invert, incl. a constant LR (span 1), NHWC == NCHW."""
    from dcnas_deploy.data.normalize import norm_stats

    dep = _deployable(supernet, 1)
    lr, guide = dep.example_inputs(HR, seed=3)
    lr = lr * 37.0 + 500.0  # depth in mm-like units
    flat = torch.full_like(lr, 812.5)
    for x in (lr, flat):
        mm = norm_stats("lr", x.numpy()[0, 0])
        with torch.no_grad():
            inner = dep.subnet(torch.from_numpy(mm.apply(x.numpy())), guide).numpy()
            got = dep(x, guide).numpy()
        want = mm.invert(inner)
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
    nhwc = Deployable(dep.subnet, nhwc=True)
    with torch.no_grad():
        a = dep(lr, guide).numpy()
        b = nhwc(lr.permute(0, 2, 3, 1), guide.permute(0, 2, 3, 1)).numpy()
    assert b.shape == (1, HR[0], HR[1], 1)
    assert np.abs(a[0, 0] - b[0, :, :, 0]).max() == 0.0
    with pytest.raises(ConfigError, match="gt"):
        Deployable(dep.subnet, norm="gt")


# ---------------------------------------------------------------------------------------------
# LiteRT forms (model.litert_forms): exact, and the converted graph stays NHWC
# ---------------------------------------------------------------------------------------------

def test_litert_forms_equal_their_pytorch_ops(supernet):
    """Each rewritten op (7×7 depthwise block, upsampler, bicubic LR-up) == its original; k3/k5 are left as they are."""
    from dcnas_deploy.model.bicubic import BicubicUpsample
    from dcnas_deploy.model.blocks import MobileBlock, Upsampler
    from dcnas_deploy.model.litert_forms import litert_form

    torch.manual_seed(0)
    cases = [(MobileBlock(c, 7, e), torch.randn(2, c, h, w)) for c, e, h, w in ((8, 3, 9, 13), (16, 6, 2, 3), (4, 1, 1, 1))]
    cases += [(Upsampler(ci, co), torch.randn(2, ci, 5, 7)) for ci, co in ((16, 8), (8, 8), (32, 3))]
    cases += [(BicubicUpsample(s, c), torch.rand(2, c, 5, 6) * 100) for s in (2, 4, 8) for c in (1, 3)]
    for module, x in cases:
        module.eval()
        with torch.no_grad():
            if isinstance(module, MobileBlock):
                module.dw.weight.mul_(5.0)  # taps well away from zero
            form = litert_form(module)
            assert form is not module
            diff = (form(x) - module(x)).abs().max().item()
        assert diff <= 1e-5 * max(1.0, module(x).abs().max().item()), (type(module).__name__, diff)
    for k in (3, 5):
        block = MobileBlock(8, k, 3)
        assert litert_form(block) is block
    for seed in range(3):
        dep = _deployable(supernet, seed)
        lr, guide = dep.example_inputs(HR, seed=seed)
        with torch.no_grad():
            want, got = dep(lr, guide), litert_form(dep)(lr, guide)
        assert (got - want).abs().max().item() <= 1e-6 * want.abs().max().item()


def _tflite_transposes(path) -> list:
    """(op input is a graph input, op output is a graph output) per TRANSPOSE; and no 7×7 depthwise."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    ins = {d["index"] for d in it.get_input_details()}
    outs = {d["index"] for d in it.get_output_details()}
    shapes = {t["index"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    assert not [o for o in ops if o["op_name"] == "DEPTHWISE_CONV_2D" and shapes[o["inputs"][1]][1:3] == (7, 7)]
    return [(o["inputs"][0] in ins, o["outputs"][0] in outs) for o in ops if o["op_name"] == "TRANSPOSE"]


def test_litert_graph_has_no_transpose_inside(supernet, full_export, tmp_path):
    """TFLite files of random archs: no TRANSPOSE with NHWC I/O (full_export's exported file), only at the
    inputs/outputs with NCHW I/O."""
    pytest.importorskip("litert_torch")
    from dcnas_deploy.runtimes.backends import get_backend

    _, fp32, _ = full_export
    exported = next(Path(r.path) for r in fp32.rows if r.format == "tflite")
    assert _tflite_transposes(exported) == []
    dep = _deployable(supernet, 1)
    graph = Deployable(dep.subnet, dep.norm, False).eval()
    transposes = _tflite_transposes(get_backend("litert").convert(graph, graph.example_inputs(HR), tmp_path / "a.tflite"))
    assert transposes and all(at_in or at_out for at_in, at_out in transposes), transposes


def test_lut_times_the_exported_litert_form(tmp_path):
    """The file a cpu-tflite LUT times for a 7×7 block is the exported form (three depthwise convs, none 7×7), and
    its TRANSPOSEs only convert the op's NCHW input and output (two at most; the residual ADD may take the NCHW
    input as is, so the output's TRANSPOSE can sit just before it)."""
    pytest.importorskip("litert_torch")
    from ai_edge_litert.interpreter import Interpreter

    from dcnas_deploy.model.op_models import op_model
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.modules import Measurer

    op = next(o for o in SearchSpace(width=4, scale=8, hr_size=HR).unique_ops() if o.kind == "mbconv" and o.k == 7)
    with Measurer(load_device("cpu-tflite"), workdir=tmp_path) as m:
        path = m._files([op_model(op)])[0]
        transposes = _tflite_transposes(path)
        names = [o["op_name"] for o in Interpreter(model_path=str(path))._get_ops_details()]
    assert names.count("DEPTHWISE_CONV_2D") == 3
    assert len(transposes) <= 2 and any(at_in for at_in, _ in transposes), transposes


def test_litert_forms_failing_the_gate_fall_back_with_a_warning(supernet, export_data, tmp_path, monkeypatch):
    """A TFLite file whose LiteRT forms miss the fp32 gate is redone with the ops as they are, with a warning."""
    pytest.importorskip("litert_torch")
    from dcnas_deploy.errors import DcnasWarning
    from dcnas_deploy.model import litert_forms

    shuffle = litert_forms.pixel_shuffle_rows
    monkeypatch.setattr(litert_forms, "pixel_shuffle_rows", lambda rows: shuffle(rows) * 1.01)  # a broken form
    with pytest.warns(DcnasWarning, match=r"tflite fp32: the file with LiteRT forms of .*lr_up.* gave PSNR"):
        report = _export(_deployable(supernet, 2), tmp_path, export_data, ["fp32"], formats=[FORMATS["tflite"]])
    assert [(r.format, r.status) for r in report.rows[1:]] == [("tflite", PASSED)]
    assert "LiteRT forms failed" in report.rows[1].note and Path(report.rows[1].path).is_file()


# ---------------------------------------------------------------------------------------------
# gates and parsing (no conversion)
# ---------------------------------------------------------------------------------------------

def test_gates_report_tightest_passing_threshold():
    """A failed gate names the threshold that would have passed, and that threshold does pass."""
    res = CheckResult(psnr_db=31.27, max_abs=4.0, rmse_torch=10.0, rmse_file=11.43, n_images=3)
    verdict = Gates().judge(res, "int8")
    assert not verdict.passed and len(verdict.failures) == 2
    assert "would pass with --min-psnr-int8 31.2" in verdict.failures[0]
    assert "would pass with --max-rmse-increase 14.3" in verdict.failures[1]
    assert Gates.with_overrides(int8=31.2, max_rmse_increase_pct=14.3).judge(res, "int8").passed
    assert not Gates.with_overrides(int8=31.3, max_rmse_increase_pct=14.3).judge(res, "int8").passed
    assert Gates().judge(CheckResult(90.0, 1e-5, 10.0, 10.0, 1), "fp32").passed
    assert not Gates().judge(CheckResult(79.9, 1e-3, 10.0, 10.0, 1), "fp32").passed


def test_compare_and_psnr():
    """PSNR uses the reference's range as peak; identical outputs give inf; NaN outputs fail."""
    from dcnas_deploy.data.protocols import get_protocol

    ref = np.linspace(0, 100, 64, dtype=np.float32).reshape(8, 8)
    assert psnr_vs_reference(ref, ref) == math.inf
    assert psnr_vs_reference(ref + 1.0, ref) == pytest.approx(20 * math.log10(100.0), abs=1e-4)
    gt = ref + 2.0
    res = compare([ref + 1.0], [ref], [gt], get_protocol("raw"))
    assert res.rmse_torch == pytest.approx(2.0) and res.rmse_file == pytest.approx(1.0)
    assert res.rmse_increase_pct == pytest.approx(-50.0)
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert not Gates().judge(compare([bad], [ref], [gt], get_protocol("raw")), "fp32").passed


def test_format_table_and_parsing():
    """One table drives targets/precisions; bad names give errors that list the known ones."""
    assert [f.name for f in parse_targets("all")] == ["onnx", "openvino", "tflite"]
    assert [f.suffix for f in parse_targets("tflite,onnx")] == [".tflite", ".onnx"]
    assert parse_precisions("int8,fp32") == ["fp32", "int8"]
    with pytest.raises(ConfigError, match="onnx, openvino, tflite"):
        parse_targets("coreml")
    with pytest.raises(ConfigError, match="fp32"):
        parse_precisions("int4")
    for f in FORMATS.values():
        assert set(f.precisions) == {"fp32", "fp16", "int8"}
        for p in f.precisions:
            assert callable(f.converter(p))


def test_export_data_is_disjoint_and_at_geometry(export_data):
    """Check and calibration images come from different source images and have the export geometry."""
    def source(name: str) -> str:
        return name.split("@")[0]

    assert {source(t.name) for t in export_data.check}.isdisjoint({source(t.name) for t in export_data.calibration})
    for t in export_data.check + export_data.calibration:
        assert t.hr.shape == HR and t.guide.shape == (*HR, 3) and t.lr.shape == (HR[0] // SCALE, HR[1] // SCALE)
        assert np.all(t.lr > 0)  # holes filled


def test_small_images_are_upscaled_to_cover(tmp_path):
    """An export geometry larger than the images upscales them (and says so)."""
    data = load_export_data("synthetic:n=2,size=64", (96, 128), SCALE, n_check=1, n_calib=1)
    assert data.check[0].hr.shape == (96, 128)
    assert data.upscaled and "upscaled" in data.description


# ---------------------------------------------------------------------------------------------
# real exports
# ---------------------------------------------------------------------------------------------

def test_full_export_passes_and_writes_status(full_export):
    """fp32 in all three formats and int8 in ONNX/OpenVINO pass their gates; the status JSON holds every row."""
    out, fp32, int8 = full_export
    by = {(r.format, r.precision): r for r in fp32.rows + int8.rows[1:]}
    assert by[("pytorch", "fp32")].status == REFERENCE and by[("pytorch", "fp32")].latency_ms > 0
    for (fmt, prec), row in by.items():
        if fmt == "pytorch":
            continue
        assert row.status == PASSED, (fmt, prec, row.error, row.failures)
        assert row.size_mb > 0 and row.latency_ms > 0 and Path(row.path).is_file()
        assert row.psnr_db >= Gates().min_psnr[prec]
    for fmt in ("onnx", "openvino"):
        # int8 files really are smaller (int8 weights), not float files with fake-quant ops (NNCF keeps the
        # squeeze-excite 1×1 convs in fp32 by design, so OpenVINO's file shrinks less than ONNX's)
        assert by[(fmt, "int8")].size_mb < 0.8 * by[(fmt, "fp32")].size_mb, fmt
    saved = json.loads((out / "fp32" / STATUS_FILE).read_text())
    assert saved["ok"] is True and len(saved["rows"]) == 1 + 3
    assert saved["settings"]["nhwc"] is True and saved["settings"]["gates"]["min_psnr_db"]["int8"] == 35.0


def test_exported_files_carry_metadata(full_export):
    """Every file embeds its metadata and has a sidecar; TFLite with --nhwc has NHWC inputs."""
    from dcnas_deploy.export.metadata import read_embedded, sidecar_path

    _, fp32, int8 = full_export
    for row in fp32.rows[1:] + int8.rows[1:]:
        assert row.status == PASSED
        emb = read_embedded(row.path)
        side = json.loads(sidecar_path(row.path).read_text())
        assert emb == side
        assert emb["scale"] == SCALE and emb["norm"] == "lr" and emb["precision"] == row.precision
        assert emb["arch"]["decoder"] and emb["space"]["scale"] == SCALE and emb["version"]
        want = "NHWC" if row.format == "tflite" else "NCHW"
        assert emb["layout"] == want
        if want == "NHWC":
            assert emb["inputs"]["guide"]["shape"] == [1, HR[0], HR[1], 3]


def test_int8_files_pass_their_gate_on_an_avx2_only_cpu(full_export, export_data, supernet):
    """The ONNX and OpenVINO int8 files pass the default int8 gates run as an AVX2-only CPU (no VNNI).

    `qemu-x86_64 -cpu Haswell-v4` makes CPUID report that CPU, so both runtimes pick its int8 kernels (OpenVINO
    reports them: jit_avx2_I8, not the host's avx512 ones). OpenVINO int8 with NNCF's default overflow fix
    measured 34.0 dB here (issue #30): 16-bit saturation of u8×s8 pairs without VNNI.
    """
    import platform

    from dcnas_deploy.export.samples import graph_output_to_image
    from dcnas_deploy.runtimes.emulated import DEFAULT_CPU, qemu_binary, run_files

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("emulating another x86 CPU needs an x86_64 host")
    if qemu_binary() is None:
        pytest.skip("qemu-x86_64 not installed: `make test` installs qemu-user when root with apt-get")
    _, _, int8 = full_export
    rows = int8.rows[1:]
    assert [r.format for r in rows] == ["onnx", "openvino"] and all(r.status == PASSED for r in rows)
    files = [(Path(r.path), FORMATS[r.format].runtime) for r in rows]
    feeds = [dict(zip(("lr", "guide"), graph_inputs(t))) for t in export_data.check]
    run = run_files(files, feeds, cpu=DEFAULT_CPU)
    assert "Haswell" in run.cpu_name
    ov_kernels = run.kernels[str(files[1][0])]
    assert any("avx2" in k and "I8" in k for k in ov_kernels) and not any("avx512" in k for k in ov_kernels)
    module = _deployable(supernet, 100)
    with torch.no_grad():
        want = [graph_output_to_image(module(*(torch.from_numpy(a) for a in graph_inputs(t))).numpy(), False)
                for t in export_data.check]
    gts = [t.hr for t in export_data.check]
    for row, (path, _) in zip(rows, files):
        got = [graph_output_to_image(o, False) for o in run.outputs[str(path)]]
        result = compare(got, want, gts, export_data.protocol)
        verdict = Gates().judge(result, "int8")
        assert verdict.passed, (row.format, DEFAULT_CPU, result.psnr_db, verdict.failures)


def test_random_archs_export_fp32(supernet, export_data, tmp_path):
    """More random materialised archs (with full_export's: 2) export to all three fp32 formats and pass."""
    _check_random_archs(supernet, export_data, tmp_path, DEFAULT_ARCHS - 1)


@pytest.mark.slow
def test_random_archs_export_fp32_full(supernet, export_data, tmp_path):
    """20 random materialised archs × 3 fp32 formats pass their gates."""
    _check_random_archs(supernet, export_data, tmp_path, SLOW_ARCHS)


def _check_random_archs(supernet, export_data, tmp_path, n_archs):
    failures = []
    for seed in range(n_archs):
        report = _export(_deployable(supernet, seed), tmp_path / f"arch{seed}", export_data, ["fp32"])
        for row in report.rows[1:]:
            if row.status != PASSED:
                failures.append((seed, row.format, row.status, row.error, row.failures))
            assert row.max_abs is None or row.max_abs < 1e-2
    assert not failures, failures


@pytest.mark.slow
def test_int8_three_archs(supernet, export_data, tmp_path):
    """INT8 for 3 random archs after calibration: ONNX and OpenVINO pass their gate (PSNR ≥ 35 dB, RMSE ≤ +10 %).

    TFLite int8 (litert-torch 0.10 PT2E) is a real int8 file, but on random-weight archs its output measured
    29.7–38 dB vs PyTorch here while its own PyTorch Q/DQ simulation gives ~50 dB (a converter/kernel gap, see
    the export report): it must pass, or fail loudly with the threshold that would have passed.
    """
    failures = []
    for seed in (200, 201, 202):
        report = _export(_deployable(supernet, seed), tmp_path / f"q{seed}", export_data, ["int8"])
        by = {r.format: r for r in report.rows[1:]}
        failures += [(seed, f, by[f].status, by[f].error, by[f].failures) for f in ("onnx", "openvino")
                     if by[f].status != PASSED]
        tfl = by["tflite"]
        assert tfl.size_mb is not None and tfl.size_mb < 3.0  # real int8, not fake-quant floats (fp32: ~4 MB)
        assert tfl.psnr_db > 25.0
        assert tfl.status == PASSED or (tfl.status == FAILED_CHECK and "--min-psnr-int8" in tfl.failures[0])
    assert not failures, failures


def test_fp16_files_are_real_fp16(supernet, export_data, full_export, tmp_path):
    """fp16 ONNX (fp16 compute, fp32 I/O) and OpenVINO (fp16 weights): half-size files, lower but fp16-level PSNR.

    Both pass the 45 dB fp16 gate on every CPU: with real fp16 compute (AVX512-FP16 CPUs, ONNX Runtime's fp16
    kernels) this network measured 48.7-49.7 dB; OpenVINO on CPUs without FP16 compute checks fp16 weights
    with f32 inference (> 100 dB) and says so in the note.
    """
    _, fp32, _ = full_export
    ref = {r.format: r for r in fp32.rows[1:]}
    report = _export(_deployable(supernet, 100), tmp_path, export_data, ["fp16"],
                     formats=[FORMATS["onnx"], FORMATS["openvino"]])
    for row in report.rows[1:]:
        assert row.size_mb < 0.75 * ref[row.format].size_mb, row.format
        assert 40.0 < row.psnr_db < ref[row.format].psnr_db, row.format
        assert row.status == PASSED, (row.format, row.psnr_db, row.failures)
    assert report.rows[2].format == "openvino"
    assert "no FP16 compute" in report.rows[2].note or report.rows[2].note == ""


@pytest.mark.slow
def test_tflite_int8_and_fp16(supernet, export_data, tmp_path):
    """TFLite int8 (PT2E, NHWC) and fp16 (fp16 weights) pass their gates; int8 is a real int8 file."""
    report = _export(_deployable(supernet, 100), tmp_path, export_data, ["fp32", "fp16", "int8"],
                     formats=[FORMATS["tflite"]], nhwc=True)
    by = {r.precision: r for r in report.rows[1:]}
    assert all(r.status == PASSED for r in by.values()), [(r.precision, r.error, r.failures) for r in by.values()]
    assert by["int8"].size_mb < 0.5 * by["fp32"].size_mb and by["fp16"].size_mb < 0.75 * by["fp32"].size_mb
    assert "LiteRT forms failed" not in by["int8"].note  # quantized in its LiteRT forms, as the fp32 file
    assert _tflite_transposes(by["int8"].path) == []


# ---------------------------------------------------------------------------------------------
# broken exports and the CLI
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def checkpoint(tmp_path, supernet):
    from dcnas_deploy.model.checkpoint import save_model

    space, net = supernet
    path = tmp_path / "tiny.pt"
    save_model(path, net.materialize(space.sample(42)), {"norm": "lr", "scale": SCALE, "data": "synthetic"})
    return path


def test_cli_broken_export_fails_but_others_pass(checkpoint, tmp_path, monkeypatch):
    """Broken exports get failed rows and exit 1 while OpenVINO still passes:
    a truncated ONNX file → 'export failed' (unreadable); a file with wrong weights → 'failed check'.
    """
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.export import converters

    real = converters.CONVERTERS[("onnx", "fp32")]

    def truncating(job, precision):
        real(job, precision)
        data = job.path.read_bytes()
        job.path.write_bytes(data[: len(data) // 3])

    def wrong_weights(job, precision):
        import copy

        bad = copy.deepcopy(job.module)
        with torch.no_grad():
            for p in bad.parameters():
                p.mul_(1.5)
        real(converters.ConvertJob(bad, job.example_inputs, job.path), "fp32")

    monkeypatch.setitem(converters.CONVERTERS, ("onnx", "fp32"), truncating)
    monkeypatch.setitem(converters.CONVERTERS, ("onnx", "fp16"), wrong_weights)
    out = tmp_path / "out"
    args = ["export", "-m", str(checkpoint), "-t", "onnx,openvino", "-p", "fp32,fp16", "--hr", "32x32",
            "-o", str(out), "--data", _data_spec(), "--check-images", "2", "--no-latency"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    rows = {(r["format"], r["precision"]): r for r in json.loads((out / STATUS_FILE).read_text())["rows"]}
    assert rows[("onnx", "fp32")]["status"] == EXPORT_FAILED and rows[("onnx", "fp32")]["error"]
    assert rows[("onnx", "fp16")]["status"] == FAILED_CHECK
    assert "would pass with --min-psnr-fp16" in rows[("onnx", "fp16")]["failures"][0]
    for prec in ("fp32", "fp16"):
        assert rows[("openvino", prec)]["status"] == PASSED, rows[("openvino", prec)]
    assert "did not pass" in res.output


def test_cli_gate_failure_prints_tightest_threshold(checkpoint, tmp_path):
    """An impossible gate fails with exit 1 and prints the threshold that would have passed."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    args = ["export", "-m", str(checkpoint), "-t", "onnx", "--hr", "32x32", "-o", str(tmp_path / "o"),
            "--data", _data_spec(), "--check-images", "2", "--no-latency", "--min-psnr-fp32", "1000"]
    res = CliRunner().invoke(app, args, terminal_width=200)
    assert res.exit_code == 1
    assert "would pass with --min-psnr-fp32" in " ".join(res.output.split())


def test_a_failing_rerun_never_replaces_a_file_that_passed(checkpoint, tmp_path):
    """Data loss (issue 14): the new file is written beside the old one and only replaces it once it passes."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.export.metadata import sidecar_path

    out = tmp_path / "out"
    args = ["export", "-m", str(checkpoint), "-t", "onnx", "--hr", "32x32", "-o", str(out), "--data", _data_spec(),
            "--check-images", "2", "--no-latency"]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    final = out / f"{checkpoint.stem}_fp32.onnx"
    passed = (final.read_bytes(), sidecar_path(final).read_bytes())
    res = runner.invoke(app, args + ["--min-psnr-fp32", "1000"])
    assert res.exit_code == 1
    failed = out / f"{checkpoint.stem}_fp32.failed.onnx"
    assert (final.read_bytes(), sidecar_path(final).read_bytes()) == passed
    assert failed.is_file() and sidecar_path(failed).is_file()
    text = " ".join(res.output.split())
    assert f"kept as {failed}" in text and f"{final} from an earlier export is unchanged" in text
    assert not list(out.glob("*.new.*"))
    assert runner.invoke(app, args).exit_code == 0 and not failed.exists()


def test_cli_bad_input_is_a_clean_error(checkpoint, tmp_path):
    """Bad --hr / target / model give exit 2 with a message, before any conversion."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    runner = CliRunner()
    for extra, msg in ((["--hr", "33x32"], "multiples of 8"), (["--hr", "big"], "is not HxW"),
                       (["-t", "coreml"], "unknown export target")):
        res = runner.invoke(app, ["export", "-m", str(checkpoint), "-o", str(tmp_path), *extra], terminal_width=200)
        assert res.exit_code == 2 and msg in res.output, res.output
    res = runner.invoke(app, ["export", "-m", str(tmp_path / "missing.pt")], terminal_width=200)
    assert res.exit_code == 2 and "not found" in res.output


# ---------------------------------------------------------------------------------------------
# exported files as upsamplers (evaluate / upsample)
# ---------------------------------------------------------------------------------------------

def test_run_tiled_pads_and_tiles_a_local_function():
    """Padding and overlapping tiles reproduce a pixel-local function exactly."""
    from dcnas_deploy.export.loaders import run_tiled, tile_starts

    assert tile_starts(10, 4, 1) == [0, 3, 6]
    assert tile_starts(11, 4, 1) == [0, 3, 6, 7]
    assert tile_starts(3, 4, 1) == [0]

    def nearest(lr, guide):  # LR pixel repeated ×2, plus the guide's red channel
        return np.kron(lr, np.ones((2, 2), np.float32)) + guide[..., 0]

    rng = np.random.default_rng(0)
    for h, w in ((4, 4), (3, 2), (9, 13)):
        lr, guide = rng.random((h, w), np.float32), rng.random((2 * h, 2 * w, 3), np.float32)
        np.testing.assert_allclose(run_tiled(nearest, lr, guide, 2, (4, 4)), nearest(lr, guide), atol=1e-6)


def test_exported_files_load_as_upsamplers(full_export, export_data, supernet):
    """.onnx/.xml/.tflite (NHWC) files give the PyTorch output through `create_upsampler`; other sizes pad/tile."""
    import dcnas_deploy.export.loaders  # noqa: F401  registers the file loaders
    from dcnas_deploy.upsamplers import create_upsampler

    _, report, _ = full_export
    module = _deployable(supernet, 100)
    t = export_data.check[0]
    with torch.no_grad():
        want = module(*(torch.from_numpy(a) for a in graph_inputs(t))).numpy()[0, 0]
    for row in report.rows:
        if row.precision != "fp32" or row.status != PASSED:
            continue
        up = create_upsampler(row.path, SCALE)
        got = up(t.lr, t.guide)
        assert got.shape == HR and np.abs(got - want).max() < 1e-2, row.format
        small = up(t.lr[:2, :3], t.guide[:16, :24])  # padded to the graph's geometry
        big = up(np.tile(t.lr, (2, 3)), np.tile(t.guide, (2, 3, 1)))  # overlapping tiles
        assert small.shape == (16, 24) and big.shape == (2 * HR[0], 3 * HR[1])
        assert np.all(np.isfinite(big))
    with pytest.raises(ConfigError, match="×8"):
        create_upsampler(report.rows[1].path, 4)


def test_checkpoint_loads_as_upsampler(checkpoint, export_data):
    """A .pt checkpoint runs through the same Deployable wrapper, at any image size."""
    import dcnas_deploy.export.loaders  # noqa: F401
    from dcnas_deploy.export.deployable import deployable_from_checkpoint
    from dcnas_deploy.upsamplers import create_upsampler

    module, _ = deployable_from_checkpoint(checkpoint)
    t = export_data.check[0]
    with torch.no_grad():
        want = module(*(torch.from_numpy(a) for a in graph_inputs(t))).numpy()[0, 0]
    up = create_upsampler(str(checkpoint), SCALE)
    np.testing.assert_allclose(up(t.lr, t.guide), want, atol=1e-5)
    assert up(t.lr[:3, :2], t.guide[:24, :16]).shape == (24, 16)


def test_evaluate_and_upsample_accept_exported_files(full_export, tmp_path):
    """`evaluate` and `upsample` take an exported .onnx (tiles over larger real images)."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.data.io import write_depth
    from PIL import Image

    _, fp32, _ = full_export
    onnx_file = next(r.path for r in fp32.rows if r.format == "onnx")
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "-m", onnx_file, "-m", "bicubic", "--data", "synthetic:n=1,size=64",
                              "--scale", str(SCALE), "--limit", "1", "--out", str(tmp_path / "eval.json")],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert [r["model"] for r in results] == [onnx_file, "bicubic"]
    assert all(math.isfinite(r["mean"]["rmse"]) for r in results)
    rng = np.random.default_rng(0)
    write_depth(tmp_path / "lr.npy", (rng.random((6, 10)) * 50 + 100).astype(np.float32), None)
    Image.fromarray((rng.random((48, 80, 3)) * 255).astype(np.uint8)).save(tmp_path / "rgb.png")
    res = runner.invoke(app, ["upsample", "-m", onnx_file, "--depth", str(tmp_path / "lr.npy"), "--rgb",
                              str(tmp_path / "rgb.png"), "-o", str(tmp_path / "sr.npy")], terminal_width=200)
    assert res.exit_code == 0, res.output
    sr = np.load(tmp_path / "sr.npy")
    assert sr.shape == (48, 80) and np.all(np.isfinite(sr))


def test_benchmark_accepts_checkpoints_and_exported_files(checkpoint, full_export, tmp_path):
    """`benchmark` times a checkpoint through the Deployable wrapper, and an exported (NHWC) .tflite as is."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.export.bench_input import checkpoint_module, is_checkpoint

    assert is_checkpoint(checkpoint)
    scripted = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(scripted))
    assert not is_checkpoint(scripted)
    module, inputs = checkpoint_module(checkpoint, {"hr_size": (64, 32)})
    assert isinstance(module, Deployable) and tuple(inputs[1].shape) == (1, 3, 64, 32)
    with pytest.raises(ConfigError, match="width 8"):
        checkpoint_module(checkpoint, {"width": 16})
    _, fp32, _ = full_export
    tflite = next(r.path for r in fp32.rows if r.format == "tflite")
    runner = CliRunner()
    for args in (["benchmark", str(checkpoint), "-d", "cpu", "--hr", "32x32", "--json", str(tmp_path / "ck.json")],
                 ["benchmark", tflite, "-d", "cpu-tflite", "--json", str(tmp_path / "tfl.json")]):
        res = runner.invoke(app, args, terminal_width=200)
        assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ck.json").read_text())["input_kind"] == "checkpoint"
    assert json.loads((tmp_path / "tfl.json").read_text())["timing"]["median_ms"] > 0


def _fusions_arch(space, fusions: str, seed: int = 3):
    """A random arch whose four fusions (shallow to deep) are the given ones: dead branches by construction."""
    from dcnas_deploy import Arch
    from dcnas_deploy.space.genes import FUSIONS, N_BLOCK_GENES

    g = space.sample_genomes(1, seed)[0]
    g[N_BLOCK_GENES:] = [FUSIONS.index(f) for f in fusions.split(",")]
    return Arch(g)


@pytest.mark.parametrize("fusions,formats,precisions", [
    ("target,none,target,none", "onnx,openvino,tflite", "fp32"),  # guide-blind: every guide stage dead
    pytest.param("target,none,none,none", "onnx,openvino", "int8",  # guide-blind, quantized from the fp32 graph
                 marks=pytest.mark.slow),
    ("guide,none,none,none", "onnx,openvino", "fp32"),            # target encoder dead (LR only through the LR-up)
    ("none,none,none,none", "onnx,openvino", "fp32"),             # bicubic only: no network at all
    ("none,none,none,sum", "onnx,openvino", "fp32"),              # minimal: one fusion at the deepest level
])
def test_every_architecture_class_exports_with_both_inputs(supernet, export_data, tmp_path, fusions, formats,
                                                           precisions):
    """Networks that do not read an input still take (lr, guide) in every file and pass their checks (the ONNX
    exporter dropped the unused guide, so the file failed its reload with 'model has 1 inputs')."""
    import onnx

    space, net = supernet
    module = Deployable(net.materialize(_fusions_arch(space, fusions)).eval())
    report = _export(module, tmp_path, export_data, [precisions], formats=[FORMATS[f] for f in formats.split(",")])
    for row in report.rows[1:]:
        assert row.status == PASSED, (fusions, row.format, row.precision, row.error, row.failures)
        if row.format == "onnx":
            assert [i.name for i in onnx.load(row.path).graph.input] == ["lr", "guide"]


def test_failed_row_shows_its_reason_in_the_table():
    """A row that did not pass carries its reason in the status cell, not only in the JSON."""
    from rich.console import Console

    from dcnas_deploy.export.status import StatusRow, render_table

    rows = [StatusRow("onnx", "fp32", FAILED_CHECK, error="reload/run failed: ConfigError: model has 1 inputs ['lr']"),
            StatusRow("tflite", "int8", FAILED_CHECK, failures=["PSNR vs PyTorch 29.4 dB < 35 dB"]),
            StatusRow("openvino", "fp32", PASSED, psnr_db=140.0)]
    console = Console(width=200, record=True)
    console.print(render_table(rows, "t"))
    text = console.export_text()
    assert "model has 1 inputs ['lr']" in text and "29.4 dB < 35 dB" in text
    assert text.count("failed check") == 2
