"""Contract tests of `connection: adb` against a stand-in `adb` executable.

The stand-in (first on PATH) records each argv it gets and answers like adb would, printing the
benchmark_model samples of tests/data/benchmark_model/ for benchmark runs. These tests pin the
exact command lines the runner sends; they do not show that a real phone accepts them: nobody has
run this against a phone here.
"""
from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

import pytest

from dcnas_deploy.errors import ConfigError, DeviceError
from dcnas_deploy.runtimes.adb import AdbConnection
from dcnas_deploy.runtimes.connections import connect
from dcnas_deploy.runtimes.devices import profile_from_dict
from dcnas_deploy.runtimes.protocol import Protocol

SAMPLES = Path(__file__).resolve().parent / "data" / "benchmark_model"
BIN = "/data/local/tmp/benchmark_model"

STAND_IN = r'''#!{python}
"""Stand-in adb for tests: logs argv as JSON lines, answers from FAKE_ADB_* environment variables."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state = os.environ.get("FAKE_ADB_STATE", "device")
if args == ["devices"]:
    print("List of devices attached")
    if state == "two":
        print("FAKE123\tdevice\nFAKE456\tdevice")
    elif state != "none":
        print("FAKE123\t" + state)
    print()
    sys.exit(0)
if args[:2] == ["-s", "FAKE123"]:
    args = args[2:]
else:
    print("error: device not found", file=sys.stderr)
    sys.exit(1)
if args[0] == "push":
    size = os.path.getsize(args[1])
    print("%s: 1 file pushed, 0 skipped. 3.1 MB/s (%d bytes in 0.001s)" % (args[1], size))
    sys.exit(0)
cmd = args[1]
if cmd.startswith("test -x"):
    print("dcnas-missing" if os.environ.get("FAKE_ADB_NO_BINARY") else "dcnas-ok")
elif "--graph=" in cmd:
    sys.stdout.write(open(os.environ["FAKE_ADB_SAMPLE"]).read())
    sys.exit(int(os.environ.get("FAKE_ADB_BENCH_EXIT", "0")))
elif cmd == "getprop":
    print("[ro.build.version.release]: [11]\n[ro.build.version.sdk]: [30]\n[ro.product.manufacturer]: [Xiaomi]\n"
          "[ro.product.model]: [MI 9]\n[ro.board.platform]: [msmnile]\n[ro.product.cpu.abi]: [arm64-v8a]\n"
          "[persist.sys.locale]: [en-US]")
elif cmd == "cat /proc/cpuinfo":
    core = ("processor\t: %d\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
            "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x51\nCPU architecture: 8\n"
            "CPU variant\t: 0x7\nCPU part\t: 0x805\nCPU revision\t: 14\n\n")
    sys.stdout.write("".join(core % i for i in range(8)) + "Hardware\t: Qualcomm Technologies, Inc SM8150\n")
elif "scaling_governor" in cmd:
    print("\n".join(["schedutil"] * 8))
elif cmd.startswith("for z in /sys/class/thermal"):
    print("cpu-0-0-usr 41300\ncpu-1-0-usr 45800\nbattery 30100\nxo-therm 33000")
'''


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """Put the stand-in adb first on PATH; returns a function reading the argv log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "adb"
    exe.write_text(STAND_IN.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "adb-calls.jsonl"
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_SAMPLE", str(SAMPLES / "tf2.x_current_xnnpack.txt"))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def _profile(**kw):
    connection = {"kind": "adb", **kw.pop("connection", {})}
    d = {"name": "phone", "runtime": "litert", "runtime_device": "cpu", "precision": "fp32", "threads": 4,
         "options": {"xnnpack": True}, "connection": connection}
    d.update(kw)
    return profile_from_dict(d)


def _tflite(path: Path) -> Path:
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    return path


def test_adb_contract_cpu_run_command_lines(fake_adb, tmp_path):
    files = [_tflite(tmp_path / "conv a.tflite"), _tflite(tmp_path / "conv_b.tflite")]
    conn = connect(_profile(connection={"cpu_affinity": "f0"}))
    proto = Protocol()  # adaptive: benchmark_model gets the fixed floors, 10 warm-up runs / 0.5 s, 50 runs / 1 s
    timings = conn.measure(files, proto)
    calls = fake_adb()
    remote_dir = calls[2][3].split()[-1]
    assert remote_dir.startswith("/data/local/tmp/dcnas/") and len(remote_dir) == len("/data/local/tmp/dcnas/") + 8
    s = ["-s", "FAKE123"]
    bench = (f"taskset f0 {BIN} --graph={remote_dir}/%04d.tflite --num_threads=4 --use_xnnpack=true "
             "--use_gpu=false --use_nnapi=false --warmup_runs=10 --warmup_min_secs=0.5 --num_runs=50 "
             "--min_secs=1 --max_secs=150")
    assert calls == [
        ["devices"],
        s + ["shell", f"test -x {BIN} && echo dcnas-ok || echo dcnas-missing"],
        s + ["shell", f"mkdir -p {remote_dir}"],
        s + ["push", str(files[0]), f"{remote_dir}/0000.tflite"],
        s + ["shell", bench % 0],
        s + ["shell", f"rm -f {remote_dir}/0000.tflite"],
        s + ["push", str(files[1]), f"{remote_dir}/0001.tflite"],
        s + ["shell", bench % 1],
        s + ["shell", f"rm -f {remote_dir}/0001.tflite"],
        s + ["shell", f"rm -rf {remote_dir}"],
    ]
    assert [t.count for t in timings] == [372, 372]
    assert timings[0].median_ms == pytest.approx(2.68405) and math.isnan(timings[0].p10_ms)
    assert conn.last_results[0].statistic == "mean"


def test_adb_contract_gpu_nnapi_shapes_and_profiling(fake_adb, tmp_path, monkeypatch):
    f = _tflite(tmp_path / "m.tflite")
    proto = Protocol(warmup_runs=3, warmup_s=0.2, timed_runs=20, timed_s=0.5, target_ci_pct=0.0)
    gpu = connect(_profile(runtime_device="gpu", precision="fp16", threads=1,
                           connection={"serial": "FAKE123", "op_profiling": True, "max_secs": 60,
                                       "extra_args": ["--gpu_backend=cl"]}))
    monkeypatch.setenv("FAKE_ADB_SAMPLE", str(SAMPLES / "tf2.x_op_profiling.txt"))
    gpu.measure([f], proto, [{"input_1": (1, 32, 32, 3), "guide": [1, 64, 64, 3]}])
    bench = [c for c in fake_adb() if "--graph=" in " ".join(c)]
    assert bench[0][3].endswith(
        "--num_threads=1 --use_xnnpack=false --use_gpu=true --use_nnapi=false --gpu_precision_loss_allowed=true "
        "--warmup_runs=3 --warmup_min_secs=0.2 --num_runs=20 --min_secs=0.5 --max_secs=60 "
        "--input_layer=input_1,guide --input_layer_shape=1,32,32,3:1,64,64,3 --enable_op_profiling=true "
        "--gpu_backend=cl")
    assert not bench[0][3].startswith("taskset")
    assert [o.node_type for o in gpu.last_results[0].ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD"]

    nnapi = connect(_profile(runtime_device="nnapi", precision="fp32", options={"xnnpack": False}))
    nnapi.measure([f], proto)
    bench = [c for c in fake_adb() if "--graph=" in " ".join(c)]
    assert "--use_xnnpack=false --use_gpu=false --use_nnapi=true --nnapi_allow_fp16=false" in bench[-1][3]


def test_adb_contract_failed_benchmark_still_cleans_up(fake_adb, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_SAMPLE", str(SAMPLES / "gpu_delegate_failure.txt"))
    monkeypatch.setenv("FAKE_ADB_BENCH_EXIT", "1")
    conn = connect(_profile(runtime_device="gpu"))
    with pytest.raises(DeviceError, match="(?s)m.tflite on phone: .*Failed to apply GPU delegate"):
        conn.measure([_tflite(tmp_path / "m.tflite")])
    shells = [c[3] for c in fake_adb() if c[2:3] == ["shell"]]
    assert shells[-2].startswith("rm -f ") and shells[-1].startswith("rm -rf /data/local/tmp/dcnas/")


@pytest.mark.parametrize("state, message", [
    ("unauthorized", "accept the 'Allow USB debugging' prompt"),
    ("offline", "adb kill-server"),
    ("none", "no Android device attached"),
    ("two", "several phones attached"),
])
def test_adb_contract_device_states(fake_adb, tmp_path, monkeypatch, state, message):
    monkeypatch.setenv("FAKE_ADB_STATE", state)
    conn = connect(_profile())
    ok, why = conn.reachable()
    assert not ok and message in why
    with pytest.raises(DeviceError, match="not reachable"):
        conn.measure([_tflite(tmp_path / "m.tflite")])
    assert fake_adb() and all(c == ["devices"] for c in fake_adb())  # nothing pushed


def test_adb_contract_named_serial_missing_and_binary_missing(fake_adb, monkeypatch):
    ok, why = connect(_profile(connection={"serial": "OTHER999"})).reachable()
    assert not ok and "OTHER999 is not attached" in why
    monkeypatch.setenv("FAKE_ADB_NO_BINARY", "1")
    ok, why = connect(_profile()).reachable()
    assert not ok and "benchmark_model not found" in why and f"adb push benchmark_model {BIN}" in why


def test_adb_missing_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    ok, why = connect(_profile()).reachable()
    assert not ok and "adb not found" in why and "platform-tools" in why


def test_adb_contract_info_records_phone_facts(fake_adb):
    conn = connect(_profile())
    assert conn.reachable()[0]
    info = conn.info()
    assert info["hostname"] == "Xiaomi MI 9" and info["cpu"] == "msmnile"
    assert info["os"] == "Android 11 (SDK 30)" and info["cpu_governor"] == ["schedutil"]
    assert info["temperatures_c"]["cpu-1-0-usr"] == 45.8 and info["max_cpu_temperature_c"] == 45.8
    assert "persist.sys.locale" not in info["properties"]
    assert "NaN" in info["timing_statistic"]
    from dcnas_deploy.runtimes.fingerprint import device_fingerprint

    fp = device_fingerprint(conn.profile, info)  # what a LUT profiled over adb records and checks
    assert fp["cpu_vendor"] == "Qualcomm" and fp["cpu_part"] == "0x805" and fp["machine"] == "arm64-v8a"
    assert {"asimddp", "asimdhp"} <= set(fp["isa"]) and "i8mm" not in fp["isa"] and fp["cores"] == 8
    assert fp["threads"] == 4 and fp["runtime"] == "litert" and fp["governor"] == ["schedutil"]


def test_adb_config_is_checked():
    with pytest.raises(ConfigError, match="cpu_affinity"):
        _profile(connection={"cpu_affinity": "f0; reboot"})
    with pytest.raises(ConfigError, match="extra_args"):
        _profile(connection={"extra_args": ["--x=1 && reboot"]})
    with pytest.raises(ConfigError, match="benchmark_binary"):
        _profile(connection={"benchmark_binary": "benchmark_model"})
    with pytest.raises(ConfigError, match="must be litert"):
        AdbConnection(_profile(runtime="onnxruntime", options={}))
    import numpy as np

    conn = connect(_profile())
    with pytest.raises(ConfigError, match="not an array"):
        conn.measure([Path("x.tflite")], feeds_or_shapes=[{"x": np.zeros(3)}])
    with pytest.raises(ConfigError, match=".tflite files only"):
        conn.measure([Path("x.onnx")])
