"""What TFLite's `benchmark_model` and adb print, parsed (no subprocess, no phone): the transport is runtimes.adb.

Parsed output formats (see tests/data/benchmark_model/README.md for where each comes from):

- run statistics, one line per phase after "Running benchmark for ...":
  ``count=50 first=... curr=... min=... max=... avg=... std=...``, ``count=1 curr=352``
  (all runs equal), and LiteRT's newer form with `` p5=... median=... p95=...`` appended;
- the summary, current: ``Inference timings in us: Init: X, First inference: Y, Warmup (avg): Z,
  Inference (avg): W``; older: ``Average inference timings in us: Warmup: X, Init: Y, Inference: Z``
  and ``... Warmup: X, Init: Y, no stats: Z``;
- optional per-op profiling (``--enable_op_profiling=true``): the "Run Order" table of the regular
  runs (with or without the ``[start]`` column).

What a Timing holds here: benchmark_model prints a mean and a standard deviation, and only newer
LiteRT builds print a median (with p5/p95, not p10/p90). So `median_ms` is the printed median where
there is one and the mean otherwise, and `p10_ms`/`p90_ms` are NaN: nothing is invented. The full
parse (statistic used, std, min/max, p5/p95, per-op rows) is kept in `AdbConnection.last_results`.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from dcnas_deploy.errors import DeviceError
from dcnas_deploy.runtimes.protocol import Timing

# --------------------------------------------------------------------------------------------
# benchmark_model output
# --------------------------------------------------------------------------------------------

_RUN_HEADER = re.compile(r"Running benchmark for (?:at least )?(\d+) iterations")
_STATS = re.compile(r"count=(?P<count>\d+)(?P<rest>.*)$")
_KV = re.compile(r"(\w+)=(-?[0-9.eE+-]+|nan|inf)")
_SUMMARY = re.compile(r"(?:Average )?[Ii]nference timings in us:\s*(?P<body>.*)$")
_ERRORS = re.compile(r"(ERROR:|Benchmarking failed|Failed to |Aborted|Segmentation fault|not found|"
                     r"Unsupported|unrecognized|CANNOT LINK EXECUTABLE)")


@dataclass
class RunStats:
    """One phase's statistics line (microseconds)."""

    count: int
    avg_us: Optional[float] = None
    std_us: Optional[float] = None
    min_us: Optional[float] = None
    max_us: Optional[float] = None
    first_us: Optional[float] = None
    median_us: Optional[float] = None
    p5_us: Optional[float] = None
    p95_us: Optional[float] = None


@dataclass
class OpProfile:
    """One row of the per-op profile (regular runs): node type, name, first and average ms, share."""

    node_type: str
    name: str
    first_ms: float
    avg_ms: float
    percent: float


@dataclass
class BenchmarkModelResult:
    """Everything parsed from one benchmark_model run."""

    summary_format: str
    """'current' (Inference timings in us: Init, First inference, Warmup (avg), Inference (avg)),
    'average' (Average inference timings in us: Warmup, Init, Inference) or 'average-no-stats'."""
    inference: RunStats
    warmup: Optional[RunStats] = None
    init_us: Optional[float] = None
    first_inference_us: Optional[float] = None
    warmup_avg_us: Optional[float] = None
    inference_avg_us: Optional[float] = None
    ops: List[OpProfile] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def statistic(self) -> str:
        """'median' when the tool printed a median (newer LiteRT), else 'mean'."""
        return "median" if self.inference.median_us is not None else "mean"

    def timing(self) -> Timing:
        """As a Timing: median_ms is the printed median, or the mean where no median is printed;
        p10/p90 are NaN because benchmark_model prints neither (its p5/p95/std stay in `to_dict`)."""
        stats = self.inference
        centre = stats.median_us if stats.median_us is not None else stats.avg_us
        if centre is None:
            raise DeviceError("benchmark_model printed no inference time")
        return Timing(centre / 1e3, math.nan, math.nan, stats.count)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (provenance: statistic used, std, min/max, p5/p95, ops)."""
        d = asdict(self)
        d["statistic"] = self.statistic
        return d


def _float(text: str) -> Optional[float]:
    try:
        return float(text.rstrip(","))
    except ValueError:
        return None


def parse_stats_line(line: str) -> Optional[RunStats]:
    """A ``count=...`` statistics line, or None if `line` is not one."""
    m = _STATS.search(line)
    if not m:
        return None
    values = {k: _float(v) for k, v in _KV.findall(m.group("rest"))}
    stats = RunStats(count=int(m.group("count")))
    if "avg" in values:
        stats.avg_us, stats.std_us = values.get("avg"), values.get("std")
        stats.min_us, stats.max_us, stats.first_us = values.get("min"), values.get("max"), values.get("first")
    elif "curr" in values:  # "count=N curr=X" or "count=N curr=X(all same)": every run took X
        x = values["curr"]
        stats.avg_us = stats.min_us = stats.max_us = stats.first_us = stats.median_us = x
        stats.std_us = 0.0
    stats.median_us = values.get("median", stats.median_us)
    stats.p5_us, stats.p95_us = values.get("p5"), values.get("p95")
    return stats


def _parse_summary(body: str) -> Dict[str, float]:
    """'Init: 1, First inference: 2, Warmup (avg): 3, Inference (avg): 4' -> {key: value}."""
    out: Dict[str, float] = {}
    for part in body.split(","):
        key, sep, value = part.partition(":")
        number = re.match(r"\s*(-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)", value) if sep else None
        if number:
            out[key.strip().lower()] = float(number.group(1))
    return out


def _parse_ops(lines: List[str]) -> List[OpProfile]:
    """Rows of the first 'Run Order' table after 'Profiling Info for Regular Benchmark Runs'."""
    start = next((i for i, line in enumerate(lines) if "Profiling Info for Regular Benchmark Runs" in line), None)
    if start is None:
        return []
    ops: List[OpProfile] = []
    header: Optional[List[str]] = None
    for line in lines[start + 1:]:
        if "[node type]" in line:
            header = [c.strip() for c in line.split("\t") if c.strip()]
            continue
        if header is None:
            continue
        if not line.strip() or line.strip().startswith("="):
            if ops:
                break
            continue
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) != len(header):
            continue
        row = dict(zip(header, cells))
        try:
            ops.append(OpProfile(row["[node type]"], row["[Name]"], float(row["[first]"]), float(row["[avg ms]"]),
                                 float(row["[%]"].rstrip("%"))))
        except (KeyError, ValueError):
            continue
    return ops


def parse_benchmark_output(text: str) -> BenchmarkModelResult:
    """Parse benchmark_model's stdout+stderr; DeviceError (with the tool's own error lines) if it failed."""
    lines = [re.sub(r"^\s*(?:INFO|WARNING|WARN):\s*", "", raw.rstrip("\r")) for raw in text.splitlines()]
    phases: List[RunStats] = []
    expect_stats = False
    summary: Dict[str, float] = {}
    summary_format = ""
    for line in lines:
        if _RUN_HEADER.search(line):
            expect_stats = True
            continue
        if expect_stats:
            stats = parse_stats_line(line)
            if stats is not None:
                phases.append(stats)
                expect_stats = False
                continue
        m = _SUMMARY.search(line)
        if m and not summary:
            summary = _parse_summary(m.group("body"))
            if "Average" in line:
                summary_format = "average-no-stats" if "no stats" in summary else "average"
            else:
                summary_format = "current"
    errors = [line.strip() for line in lines if _ERRORS.search(line)]
    if not phases or not summary:
        tail = "\n".join(line for line in lines if line.strip())[-1500:]
        raise DeviceError("benchmark_model gave no inference timings"
                          + ("; it said: " + " | ".join(errors[-8:]) if errors else "")
                          + "\n--- output tail ---\n" + tail)
    result = BenchmarkModelResult(summary_format=summary_format, inference=phases[-1],
                                  warmup=phases[-2] if len(phases) >= 2 else None,
                                  init_us=summary.get("init"), warnings=errors)
    if summary_format == "current":
        result.first_inference_us = summary.get("first inference")
        result.warmup_avg_us = summary.get("warmup (avg)")
        result.inference_avg_us = summary.get("inference (avg)")
    else:
        result.warmup_avg_us = summary.get("warmup")
        result.inference_avg_us = summary.get("inference", summary.get("no stats"))
    if result.inference.avg_us is None:
        result.inference.avg_us = result.inference_avg_us
    result.ops = _parse_ops(lines)
    return result


# --------------------------------------------------------------------------------------------
# adb devices, getprop, thermal zones
# --------------------------------------------------------------------------------------------

def parse_adb_devices(text: str) -> List[Tuple[str, str]]:
    """(serial, state) pairs from `adb devices` output (state: device, unauthorized, offline, ...)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*", "adb server", "daemon")):
            continue
        serial, _, state = line.partition("\t") if "\t" in line else line.partition(" ")
        if serial and state:
            out.append((serial.strip(), state.strip()))
    return out


def parse_getprop(text: str) -> Dict[str, str]:
    """`adb shell getprop` lines ``[key]: [value]`` -> dict."""
    out = {}
    for m in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.M):
        out[m.group(1)] = m.group(2)
    return out


def parse_thermal(text: str) -> Dict[str, float]:
    """Lines ``<zone type> <temp>`` -> {type: degrees C} (millidegrees converted; unreadable skipped)."""
    out: Dict[str, float] = {}
    for line in text.splitlines():
        parts = line.strip().rsplit(" ", 1)
        if len(parts) != 2:
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        celsius = value / 1000.0 if abs(value) >= 200 else value
        key, n = parts[0] or "zone", 1
        while key in out:
            n += 1
            key = "%s#%d" % (parts[0], n)
        out[key] = round(celsius, 1)
    return out
