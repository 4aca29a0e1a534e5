"""benchmark_model output parsing on samples of several versions' formats.

The samples in tests/data/benchmark_model/ are hand-written in the formats TFLite/LiteRT's
benchmark_model prints (tests/data/benchmark_model/README.md names the source of each format);
their numbers are parser fixtures, not measurements from a phone.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from dcnas_deploy.errors import DeviceError
from dcnas_deploy.runtimes.adb_output import (parse_adb_devices, parse_benchmark_output, parse_getprop,
                                              parse_stats_line, parse_thermal)

SAMPLES = Path(__file__).resolve().parent / "data" / "benchmark_model"


def _parse(name: str):
    return parse_benchmark_output((SAMPLES / name).read_text())


def test_current_format_tf2():
    r = _parse("tf2.x_current_xnnpack.txt")
    assert r.summary_format == "current"
    assert (r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us) == (21493, 4911, 2713.37, 2684.05)
    assert (r.inference.count, r.inference.avg_us, r.inference.std_us) == (372, 2684.05, 97)
    assert (r.inference.min_us, r.inference.max_us, r.inference.first_us) == (2571, 3522, 2662)
    assert r.warmup.count == 184 and r.inference.median_us is None
    t = r.timing()
    assert r.statistic == "mean" and t.median_ms == pytest.approx(2.68405) and t.count == 372
    assert math.isnan(t.p10_ms) and math.isnan(t.p90_ms)  # it prints no percentiles: none invented


def test_litert_percentiles_give_a_real_median():
    r = _parse("litert_percentiles.txt")
    assert (r.inference.median_us, r.inference.p5_us, r.inference.p95_us) == (2502, 2463, 2705)
    assert r.statistic == "median" and r.timing().median_ms == pytest.approx(2.502)
    assert r.warmup.median_us == 2511 and r.inference.count == 395


def test_older_average_format_tf2_1():
    r = _parse("tf2.1_average.txt")
    assert r.summary_format == "average"
    assert (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (24675.3, 1811050, 20391.6)
    assert r.warmup.count == 10 and r.inference.count == 50
    assert r.timing().median_ms == pytest.approx(20.3916)


def test_oldest_no_stats_format_tf1():
    r = _parse("tf1.13_no_stats.txt")
    assert r.summary_format == "average-no-stats"
    assert (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (2355.82, 3126, 2318.4)
    assert r.inference.count == 431 and r.timing().median_ms == pytest.approx(2.3184)


def test_scientific_notation_and_single_run_warmup():
    r = _parse("slow_model_all_same_warmup.txt")
    assert r.warmup.count == 1 and r.warmup.avg_us == 1412044 and r.warmup.std_us == 0.0
    assert r.inference.avg_us == pytest.approx(1.39851e6) and r.inference_avg_us == pytest.approx(1.39851e6)
    assert r.timing().median_ms == pytest.approx(1398.51)


def test_op_profiling_tables_both_layouts():
    new = _parse("tf2.x_op_profiling.txt")
    assert [(o.node_type, o.name, o.avg_ms) for o in new.ops] == [
        ("CONV_2D", "[conv_0]:0", 0.104), ("DEPTHWISE_CONV_2D", "[dwconv_1]:1", 0.039), ("ADD", "[add_2]:2", 0.021)]
    assert new.ops[0].first_ms == 0.112 and new.ops[0].percent == 63.415
    assert new.inference.count == 5822  # the profiler's own "Timings (microseconds): count=..." is not taken
    old = _parse("tf2.2_op_profiling_start_column.txt")
    assert [(o.node_type, o.avg_ms, o.percent) for o in old.ops] == [
        ("CONV_2D", 0.152, 61.538), ("DEPTHWISE_CONV_2D", 0.059, 23.887), ("ADD", 0.036, 14.575)]
    assert old.summary_format == "average" and old.inference_avg_us == 252.63


def test_failed_run_raises_with_the_tools_own_words():
    with pytest.raises(DeviceError, match="Failed to apply GPU delegate"):
        _parse("gpu_delegate_failure.txt")
    with pytest.raises(DeviceError, match="no inference timings"):
        parse_benchmark_output("CANNOT LINK EXECUTABLE \"benchmark_model\": library \"libc++_shared.so\" not found")


def test_stats_line_forms():
    assert parse_stats_line("count=5 curr=120(all same)").avg_us == 120
    assert parse_stats_line("count=0").count == 0 and parse_stats_line("count=0").avg_us is None
    s = parse_stats_line("count=9 first=5 curr=4 min=3 max=7 avg=4.5 std=1 p5=3 median=4 p95=7")
    assert (s.median_us, s.p5_us, s.p95_us, s.std_us) == (4, 3, 7, 1)
    assert parse_stats_line("Initialized session in 3ms") is None


def test_adb_device_and_phone_fact_parsers():
    text = "* daemon started successfully\nList of devices attached\nAAA111\tdevice\nBBB222\tunauthorized\n" \
           "CCC333\tno permissions (missing udev rules?); see [http://developer.android.com/tools/device.html]\n\n"
    assert parse_adb_devices(text) == [("AAA111", "device"), ("BBB222", "unauthorized"),
                                       ("CCC333", "no permissions (missing udev rules?); see "
                                                  "[http://developer.android.com/tools/device.html]")]
    assert parse_adb_devices("List of devices attached\n\n") == []
    props = parse_getprop("[ro.product.model]: [MI 9]\n[ro.soc.model]: [SM8150]\n[ro.empty]: []\n")
    assert props == {"ro.product.model": "MI 9", "ro.soc.model": "SM8150", "ro.empty": ""}
    assert parse_thermal("cpu-0-0-usr 41300\nbattery 29\ncpu-0-0-usr 40100\nbroken\nxo-therm abc\n") == {
        "cpu-0-0-usr": 41.3, "battery": 29.0, "cpu-0-0-usr#2": 40.1}
