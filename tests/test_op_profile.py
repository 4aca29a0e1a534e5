"""runtimes.op_profile (per-op times per runtime, sgemm rate), protocol.measure_interleaved, and the
runtime-efficiency bench's --quick path (bench/runtime_efficiency.py)."""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import torch

from dcnas_deploy.runtimes.backends import get_backend
from dcnas_deploy.runtimes.sessions import load_session, time_session
from dcnas_deploy.runtimes.op_profile import (OpTime, by_type, op_profile, parse_ort_trace, profile_ops, sgemm_gflops,
                                              total_ms)
from dcnas_deploy.runtimes.protocol import QUICK, Protocol, measure_interleaved

REPO = Path(__file__).resolve().parents[1]


class ConvStack(torch.nn.Module):
    """Three 3x3 convs with ReLUs: enough work per op (1x4x64x64) for the profilers' times to mean something."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(4, 16, 3, padding=1)
        self.b = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.c = torch.nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch.manual_seed(0)
    module, x = ConvStack().eval(), (torch.rand(1, 4, 64, 64),)
    folder = tmp_path_factory.mktemp("op_profile")
    return {rt: get_backend(rt).convert(module, x, folder / f"stack{get_backend(rt).file_suffix}")
            for rt in ("onnxruntime", "openvino")}


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_op_times_are_positive_and_add_up_to_about_the_end_to_end_time(files, runtime):
    ops = op_profile(files[runtime], runtime, runs=10, threads=1)
    assert ops and all(isinstance(o, OpTime) and o.ms > 0 and o.name and o.op_type for o in ops)
    types = by_type(ops)
    assert any("conv" in t.lower() for t in types), types  # the convolutions are seen as such
    assert list(types.values()) == sorted(types.values(), reverse=True)
    assert total_ms(ops) == pytest.approx(sum(types.values()))
    e2e = time_session(load_session(files[runtime], runtime, {"threads": 1}),
                       Protocol(warmup_runs=3, warmup_s=0.0, timed_runs=10, timed_s=0.0, max_s=0.5,
                                target_ci_pct=0.0)).median_ms
    assert 0.2 < total_ms(ops) / e2e < 5.0, (total_ms(ops), e2e)  # a loaded machine: a wide band
    prof = profile_ops(files[runtime], runtime, runs=10, threads=1)  # the whole model timed alongside
    assert prof.run_ms > 0 and 0.3 < total_ms(prof.ops) / prof.run_ms < 2.0, (total_ms(prof.ops), prof.run_ms)


def test_parse_ort_trace_drops_each_nodes_warmup_and_takes_medians():
    def ev(node, dur, op="Conv"):
        return {"cat": "Node", "name": f"{node}_kernel_time", "dur": dur, "args": {"op_name": op}}

    events = [{"cat": "Session", "name": "model_run", "dur": 999}]
    for durs in ([1000, 50], [10, 20], [30, 40], [20, 60]):  # µs per run: first run is warm-up
        events += [ev("conv_a", durs[0]), ev("relu_b", durs[1], "Relu"),
                   {"cat": "Node", "name": "conv_a_fence_before", "dur": 1}]
    ops = parse_ort_trace(events, skip=1)
    assert ops == [OpTime("conv_a", "Conv", 0.02), OpTime("relu_b", "Relu", 0.04)]


def test_op_profile_rejects_what_it_cannot_profile(files):
    from dcnas_deploy.errors import ConfigError

    with pytest.raises(ConfigError, match="op_profile covers"):
        op_profile(files["onnxruntime"], "torch")
    with pytest.raises(ConfigError, match="runs >= 1"):
        op_profile(files["onnxruntime"], "onnxruntime", runs=0)


def test_sgemm_rate_is_positive_and_per_size():
    quick = Protocol(warmup_runs=1, warmup_s=0.0, timed_runs=3, timed_s=0.0, max_s=0.05, target_ci_pct=0.0)
    before = torch.get_num_threads()
    rate = sgemm_gflops(1, sizes=(64, 128), protocol=quick)
    assert rate["gflops"] > 0 and rate["n"] in (64, 128) and set(rate["per_size"]) == {64, 128}
    assert rate["gflops"] == max(rate["per_size"].values()) and torch.get_num_threads() == before


def test_measure_interleaved_gives_each_runner_its_turns_and_ratios():
    order = []

    def runner(name, seconds):
        def run():
            order.append(name)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                pass
        return run

    timing = measure_interleaved({"fast": runner("fast", 0.0002), "slow": runner("slow", 0.0008)}, QUICK)
    assert timing.rounds >= QUICK.rounds and set(timing.timings) == {"fast", "slow"}
    assert timing.ratio("slow", "fast") > 1.5 and timing.ratio("fast", "fast") == 1.0
    assert order.index("slow") > order.index("fast")  # in the given order, turn after turn
    assert "slow" in order[order.index("slow") + 1:] and json.dumps(timing.to_dict())
    with pytest.raises(ValueError):
        measure_interleaved({}, QUICK)


@pytest.mark.slow
def test_litert_sliced_op_times(tmp_path):
    torch.manual_seed(0)
    path = get_backend("litert").convert(ConvStack().eval(), (torch.rand(1, 4, 64, 64),), tmp_path / "s.tflite")
    ops = op_profile(path, "litert", runs=5, threads=1)
    assert ops and all(o.ms > 0 for o in ops) and "CONV_2D" in by_type(ops)


@pytest.mark.slow
def test_runtime_efficiency_quick_writes_json_and_png(tmp_path):
    """Minutes under load: the litert-torch conversion of one network dominates."""
    spec = importlib.util.spec_from_file_location("bench_runtime_efficiency", REPO / "bench" / "runtime_efficiency.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "runtime_efficiency.json").read_text())
    (row,) = summary["models"]
    assert set(row["runtimes"]) == {"torch", "onnxruntime", "openvino", "litert"}
    assert all(v["median_ms"] > 0 and v["gflops"] > 0 for v in row["runtimes"].values())
    assert set(row["ops"]) == {"onnxruntime", "openvino", "litert"} and summary["sgemm"]["peak_gflops"] > 0
    assert summary["host"]["cpu_name"] is not None or summary["host"]["machine"]
    assert (tmp_path / "runtime_efficiency.png").stat().st_size > 0 and (tmp_path / "runtime_efficiency.md").exists()


def test_by_type_can_split_convolutions_by_kernel():
    ops = [OpTime("1:DEPTHWISE_CONV_2D:a[7x7]", "DEPTHWISE_CONV_2D", 3.0),
           OpTime("2:DEPTHWISE_CONV_2D:b[3x3]", "DEPTHWISE_CONV_2D", 1.0), OpTime("3:ADD:c", "ADD", 0.5)]
    assert by_type(ops) == {"DEPTHWISE_CONV_2D": 4.0, "ADD": 0.5}
    assert by_type(ops, kernels=True) == {"DEPTHWISE_CONV_2D[7x7]": 3.0, "DEPTHWISE_CONV_2D[3x3]": 1.0, "ADD": 0.5}
