"""Runtime layer: backends convert and match PyTorch, files load/time, device profiles, connections, CLI."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dcnas_deploy.errors import ConfigError, DeviceError, MissingDependencyError
from dcnas_deploy.runtimes.backends import BACKENDS, get_backend, input_names, time_module
from dcnas_deploy.runtimes.connections import LocalConnection, check_reachable, connect
from dcnas_deploy.runtimes.devices import known_devices, list_devices, load_device, profile_from_dict
from dcnas_deploy.runtimes.sessions import load_session, make_feeds, time_file
from dcnas_deploy.runtimes.protocol import QUICK, Protocol, Timing

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"cpu", "cpu-torch", "cpu-openvino", "cpu-tflite", "cuda", "rtx3090", "ncs2", "mi9"}


class ConvPixelShuffle(torch.nn.Module):
    """conv3x3 -> ReLU -> conv3x3 -> PixelShuffle(2), plus a guidance input at the output size."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 4 * 4, 3, padding=1)
        self.ps = torch.nn.PixelShuffle(2)

    def forward(self, lr, guide):
        return self.ps(self.b(torch.relu(self.a(lr)))) + guide


@pytest.fixture(scope="module")
def model():
    """The tiny model, its example inputs and its PyTorch output."""
    torch.manual_seed(0)
    m = ConvPixelShuffle().eval()
    inputs = (torch.rand(1, 4, 16, 16), torch.rand(1, 4, 32, 32))
    with torch.no_grad():
        ref = m(*inputs).numpy()
    return m, inputs, ref


@pytest.fixture(scope="module")
def converted(model, tmp_path_factory):
    """One file per backend (default options)."""
    m, inputs, _ = model
    folder = tmp_path_factory.mktemp("converted")
    return {name: b.convert(m, inputs, folder / f"tiny{b.file_suffix}") for name, b in BACKENDS.items()}


def _run(path, runtime, inputs, options=None):
    session = load_session(path, runtime, options or {"threads": 1})
    return session.run(make_feeds(session.inputs, [t.numpy() for t in inputs]))[0]


# ---------------------------------------------------------------- backends match PyTorch

@pytest.mark.parametrize("runtime", sorted(BACKENDS))
def test_backend_matches_torch_fp32(runtime, model, converted):
    _, inputs, ref = model
    out = _run(converted[runtime], runtime, inputs)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-5, runtime


@pytest.mark.parametrize("runtime,options,name", [
    ("onnxruntime", {"exporter": "dynamo"}, "dyn.onnx"),
    ("openvino", {"frontend": "pytorch"}, "pt.xml"),
    ("torch", {}, "ts.pt"),
])
def test_alternative_converters_match_torch(runtime, options, name, model, tmp_path):
    m, inputs, ref = model
    path = get_backend(runtime).convert(m, inputs, tmp_path / name, options=options)
    assert np.abs(_run(path, runtime, inputs) - ref).max() < 1e-5


def test_litert_xnnpack_off_matches_torch(model, converted):
    _, inputs, ref = model
    out = _run(converted["litert"], "litert", inputs, {"threads": 1, "xnnpack": False})
    assert np.abs(out - ref).max() < 1e-5


def test_xnnpack_switch_takes_effect(tmp_path):
    """XNNPACK runs a depthwise 7x7 conv far slower than a 5x5 (spec §5); builtin kernels don't."""
    from dcnas_deploy.runtimes.protocol import Protocol

    x = (torch.rand(1, 16, 64, 64),)
    files = {k: get_backend("litert").convert(torch.nn.Conv2d(16, 16, k, padding=k // 2, groups=16), x,
                                              tmp_path / f"dw{k}.tflite") for k in (5, 7)}
    proto = Protocol(warmup_runs=3, warmup_s=0.0, timed_runs=15, timed_s=0.0)

    def ratio(xnnpack: bool) -> float:
        t = {k: time_file(f, "litert", {"threads": 1, "xnnpack": xnnpack}, proto).median_ms for k, f in files.items()}
        return t[7] / t[5]

    on, off = ratio(True), ratio(False)
    assert on > 3 and on > 2 * off, (on, off)


def test_openvino_fp16_and_explicit_precision(model, converted, tmp_path):
    m, inputs, ref = model
    fp16 = get_backend("openvino").convert(m, inputs, tmp_path / "h.xml", precision="fp16")
    assert fp16.with_suffix(".bin").stat().st_size < converted["openvino"].with_suffix(".bin").stat().st_size
    s16 = load_session(fp16, "openvino", {"threads": 1, "precision": "fp16"})
    out = s16.run(make_feeds(s16.inputs, [t.numpy() for t in inputs]))[0]
    err = np.abs(out - ref).max()
    assert 1e-5 < err < 5e-2  # really ran in reduced precision, still close
    s32 = load_session(converted["openvino"], "openvino", {"threads": 1, "precision": "fp32"})
    assert s32.config["INFERENCE_PRECISION_HINT"] == "f32"
    assert s32.effective_precision() == "f32"


def test_convert_rejects_bad_requests(model, tmp_path):
    m, inputs, _ = model
    with pytest.raises(ConfigError, match="int8"):
        get_backend("onnxruntime").convert(m, inputs, tmp_path / "a.onnx", precision="int8")
    with pytest.raises(ConfigError, match=r"\.xml"):
        get_backend("openvino").convert(m, inputs, tmp_path / "a.onnx")
    with pytest.raises(ConfigError, match="opset"):
        get_backend("onnxruntime").convert(m, inputs, tmp_path / "a.onnx", options={"opsett": 17})
    with pytest.raises(ConfigError, match="known"):
        get_backend("tensorrt")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_input_names_follow_forward_signature(model, converted):
    m, inputs, _ = model
    assert input_names(m, inputs) == ["lr", "guide"]
    for runtime in ("onnxruntime", "openvino", "torch"):
        assert [s.name for s in load_session(converted[runtime], runtime).inputs] == ["lr", "guide"]


# ---------------------------------------------------------------- files: feeds, timing, options

def test_time_file_quick(converted):
    for runtime, path in converted.items():
        t = time_file(path, runtime, {"threads": 1}, QUICK)
        assert isinstance(t, Timing) and t.count >= QUICK.timed_runs
        assert 0 < t.p10_ms <= t.median_ms <= t.p90_ms < 1e3, runtime


def test_time_module_quick(model):
    m, inputs, _ = model
    t = time_module(m, inputs, {"threads": 1}, QUICK)
    assert t.count >= QUICK.timed_runs and 0 < t.p10_ms <= t.median_ms <= t.p90_ms
    with pytest.raises(ConfigError, match="unknown torch option"):
        time_module(m, inputs, {"xnnpack": True}, QUICK)


def test_make_feeds_forms(converted):
    session = load_session(converted["onnxruntime"], "onnxruntime")
    by_shape = make_feeds(session.inputs)
    assert by_shape["lr"].shape == (1, 4, 16, 16) and by_shape["lr"].dtype == np.float32
    given = np.ones((1, 4, 16, 16), np.float32)
    mixed = make_feeds(session.inputs, {"lr": given, "guide": (1, 4, 32, 32)})
    assert mixed["lr"] is given or np.array_equal(mixed["lr"], given)
    with pytest.raises(ConfigError, match="unknown input"):
        make_feeds(session.inputs, {"depth": (1, 1, 8, 8)})
    with pytest.raises(ConfigError, match="positional"):
        make_feeds(session.inputs, [(1, 4, 16, 16)])


def test_session_options_are_strict(converted):
    with pytest.raises(ConfigError, match="unknown onnxruntime option"):
        load_session(converted["onnxruntime"], "onnxruntime", {"xnnpack": True})
    with pytest.raises(ConfigError, match="threads"):
        load_session(converted["litert"], "litert", {"threads": 0})
    with pytest.raises(ConfigError, match="precision"):
        load_session(converted["openvino"], "openvino", {"precision": "fp8"})
    with pytest.raises(ConfigError, match="loads"):
        load_session(converted["litert"], "onnxruntime")
    with pytest.raises(ConfigError, match="unknown runtime"):
        load_session(converted["litert"], "tensorrt")


def test_missing_runtime_names_the_extra(converted, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"dcnas-deploy\[onnx\]"):
        load_session(converted["onnxruntime"], "onnxruntime")
    ok, why = check_reachable(load_device("cpu"))
    assert not ok and "dcnas-deploy[onnx]" in why


def test_missing_converter_names_the_extra(model, monkeypatch, tmp_path):
    m, inputs, _ = model
    monkeypatch.setitem(sys.modules, "litert_torch", None)
    with pytest.raises(MissingDependencyError, match=r"dcnas-deploy\[tflite\]"):
        get_backend("litert").convert(m, inputs, tmp_path / "a.tflite")


# ---------------------------------------------------------------- device profiles

def test_shipped_profiles_load():
    assert SHIPPED <= set(known_devices())
    profiles = {p.name: p for p in list_devices()}
    assert profiles["cpu"].runtime == "onnxruntime" and profiles["cpu"].connection_kind == "local"
    assert profiles["ncs2"].runtime_device == "MYRIAD" and profiles["ncs2"].precision == "fp16"
    assert profiles["ncs2"].connection_kind == "agent" and profiles["mi9"].connection_kind == "adb"
    assert profiles["cpu-tflite"].session_options()["xnnpack"] is True
    assert all(isinstance(p.threads, int) and p.threads >= 1 for p in profiles.values())


def _write(tmp_path: Path, text: str, name: str = "dev.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "name: dev\nruntime: onnxruntime\nruntime_device: cpu\nprecision: fp32\nthreads: 1\nconnection: {kind: local}\n"


def test_profile_validation_errors(tmp_path):
    assert load_device(str(_write(tmp_path, GOOD))).threads == 1
    with pytest.raises(ConfigError) as exc:
        load_device(str(_write(tmp_path, GOOD + "thread: 2\n")))
    assert "thread" in str(exc.value) and "dev.yaml" in str(exc.value)
    with pytest.raises(ConfigError, match="precision 'fp64'"):
        load_device(str(_write(tmp_path, GOOD.replace("fp32", "fp64"))))
    with pytest.raises(ConfigError, match="runtime_device 'MYRIAD' is not valid for onnxruntime"):
        load_device(str(_write(tmp_path, GOOD.replace("runtime_device: cpu", "runtime_device: MYRIAD"))))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_device(str(_write(tmp_path, "name: [unclosed\n")))
    with pytest.raises(ConfigError, match="missing key"):
        load_device(str(_write(tmp_path, GOOD.replace("threads: 1\n", ""))))
    with pytest.raises(ConfigError, match="unknown connection kind 'ssh'"):
        load_device(str(_write(tmp_path, GOOD.replace("kind: local", "kind: ssh"))))
    with pytest.raises(ConfigError, match="unknown connection key"):
        load_device(str(_write(tmp_path, GOOD.replace("{kind: local}", "{kind: local, url: x}"))))
    with pytest.raises(ConfigError, match="unknown onnxruntime option"):
        load_device(str(_write(tmp_path, GOOD + "options: {xnnpack: false}\n")))
    with pytest.raises(ConfigError, match="top-level"):
        load_device(str(_write(tmp_path, GOOD + "options: {threads: 4}\n")))


def test_unknown_device_lists_known():
    with pytest.raises(DeviceError) as exc:
        load_device("tpu-v9")
    assert "tpu-v9" in str(exc.value)
    for name in ("cpu", "cpu-openvino", "ncs2", "mi9"):
        assert name in str(exc.value)
    with pytest.raises(DeviceError, match="not found"):
        load_device("no/such/profile.yaml")


def test_extra_device_dir_from_env(tmp_path, monkeypatch):
    _write(tmp_path, GOOD, "dev.yaml")
    monkeypatch.setenv("DCNAS_DEVICES", str(tmp_path))
    assert "dev" in known_devices() and load_device("dev").source == tmp_path / "dev.yaml"
    _write(tmp_path, GOOD, "other.yaml")
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_device("other")


def test_with_threads_override():
    p = load_device("cpu")
    assert p.with_threads(3).threads == 3 and p.with_threads(None) is p
    with pytest.raises(ConfigError):
        p.with_threads(0)


# ---------------------------------------------------------------- connections

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_unreachable_says_why():
    for name in ("cuda", "rtx3090"):
        ok, why = check_reachable(load_device(name))
        assert not ok and "torch.cuda.is_available() is False" in why


def test_rtx3090_checks_the_gpu_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA A100-SXM4-40GB")
    ok, why = check_reachable(load_device("rtx3090"))
    assert not ok and "RTX 3090" in why and "A100" in why
    assert check_reachable(load_device("cuda"))[0]


def test_myriad_not_local():
    p = profile_from_dict({"name": "x", "runtime": "openvino", "runtime_device": "MYRIAD", "precision": "fp16",
                           "threads": 1, "connection": {"kind": "local"}})
    ok, why = LocalConnection(p).reachable()
    assert not ok and "MYRIAD" in why and "agent" in why


def test_local_connection_measures_many_files(converted):
    conn = connect(load_device("cpu").with_threads(1))
    assert conn.reachable()[0]
    seen = []
    timings = conn.measure([converted["onnxruntime"]] * 2, QUICK, progress=lambda i, n, p: seen.append((i, n)))
    assert len(timings) == 2 and all(t.count >= QUICK.timed_runs for t in timings)
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(ConfigError, match="2 files"):
        conn.measure([converted["onnxruntime"]] * 2, QUICK, feeds_or_shapes=[None])
    info = conn.info()
    assert info["threads"] == 1 and info["cpu"] and "onnxruntime" in info["runtimes"]


# ---------------------------------------------------------------- CLI

def test_cli_devices():
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    result = CliRunner().invoke(app, ["devices"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in SHIPPED:
        assert name in result.output
    assert "yes" in result.output and "no" in result.output


def test_cli_benchmark(converted, tmp_path):
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    runner = CliRunner(env={"COLUMNS": "300"})
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["benchmark", "--device", "cpu", "--threads", "1", str(converted["onnxruntime"]),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "median" in result.output
    data = json.loads(out.read_text())
    assert data["device"]["name"] == "cpu" and data["device"]["threads"] == 1
    proto = Protocol()
    assert data["timing"]["count"] >= proto.timed_runs and data["timing"]["p10_ms"] <= data["timing"]["median_ms"]
    assert data["protocol"]["target_ci_pct"] == proto.target_ci_pct and data["host"]["cpu"]
    assert data["timing"]["ci_pct"] > 0 and data["host_speed"] is None  # adaptive: the achieved interval is recorded

    bad = runner.invoke(app, ["benchmark", "--device", "nope", str(converted["onnxruntime"])])
    assert bad.exit_code == 2 and "cpu-openvino" in bad.output
    wrong = runner.invoke(app, ["benchmark", "--device", "cpu-tflite", str(converted["onnxruntime"])])
    assert wrong.exit_code == 2 and "loads ['.tflite']" in wrong.output
    if not torch.cuda.is_available():
        gone = runner.invoke(app, ["benchmark", "--device", "cuda", str(converted["torch"])])
        assert gone.exit_code == 2 and "not reachable" in gone.output and "cuda" in gone.output
    corrupt = _write(tmp_path, "name: [x\n", "broken.yaml")
    bad_yaml = runner.invoke(app, ["benchmark", "--device", str(corrupt), str(converted["onnxruntime"])])
    assert bad_yaml.exit_code == 2 and "not valid YAML" in bad_yaml.output


_HEAP_CHURN = """
import resource, sys
import numpy as np
from dcnas_deploy.runtimes.protocol import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def churn():
    arrays = [np.ones(1 << 21, np.float32) for _ in range(4)]  # 4 x 8 MiB live, then all freed
    del arrays
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_keep_freed_memory_stops_page_faults_from_heap_churn():
    """Timed runs that free and re-allocate large buffers must not page-fault afresh (eager torch did: 2x slower)."""
    import subprocess

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _HEAP_CHURN, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    default, kept = faults("default"), faults("keep")
    assert default > 64, f"scenario no longer churns the heap here ({default} faults): test means nothing"
    assert kept <= 64, f"{kept} page faults over 20 runs with freed memory kept (default: {default})"


def test_paired_measurement_keeps_its_rounds_floor_on_slow_models():
    """A model slower than the protocol's ceiling still gets `rounds` rounds, so its ratio has an interval."""
    import time as _time

    from dcnas_deploy.runtimes.protocol import measure_paired

    proto = Protocol(warmup_runs=1, warmup_s=0.0, timed_runs=1, timed_s=0.0, max_s=0.01, rounds=6, turn_s=0.001)
    paired = measure_paired(lambda: _time.sleep(0.01), lambda: _time.sleep(0.002), proto)
    assert paired.rounds == 6 and paired.ratio_ci_pct is not None
    assert 2.0 < paired.ratio < 10.0


def test_quiet_captures_native_output_and_shows_it_only_on_failure(capfd, monkeypatch):
    """Writes to fds 1/2 (what C++ converters do) vanish under `quiet`, are replayed when it raises, and
    DCNAS_VERBOSE=1 lets them through."""
    import os

    from dcnas_deploy.runtimes.backends import VERBOSE_ENV, quiet

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with quiet():
        os.write(2, b"native chatter\n")
        print("python chatter")
    out, err = capfd.readouterr()
    assert "chatter" not in out + err
    with pytest.raises(RuntimeError, match="boom"):
        with quiet():
            os.write(1, b"native clue\n")
            print("python clue")
            raise RuntimeError("boom")
    out, err = capfd.readouterr()
    assert "native clue" in err and "python clue" in err and "converter log" in err
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with quiet():
        os.write(2, b"verbose chatter\n")
    assert "verbose chatter" in capfd.readouterr().err
