"""Named additive costs of architectures (params, MACs, latency on a device) as vectorised tables.

`make_cost("params" | "macs" | "latency:DEVICE", space)` → CostTables. Latency comes from the
device's measured LUT (dcnas_deploy.lut, imported only for a latency cost); params and MACs are exact.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.space import CostTables, SearchSpace


def make_cost(name: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> CostTables:
    """Cost tables for 'params', 'macs' or 'latency:DEVICE' (LUT of that device at the space's geometry)."""
    kind, _, arg = name.partition(":")
    if kind == "params":
        return space.cost_tables(lambda op: op.params, hr_size)
    if kind == "macs":
        return space.cost_tables(lambda op: op.macs, hr_size)
    if kind != "latency":
        raise ConfigError(f"unknown cost '{name}'; known: params, macs, latency:DEVICE")
    if not arg:
        raise ConfigError("latency cost needs a device: latency:DEVICE (e.g. latency:cpu)")
    from dcnas_deploy.lut.table import latency_cost_tables

    return latency_cost_tables(arg, space, hr_size)


_TIME_UNITS = {"ms": 1.0, "s": 1e3, "us": 1e-3, "µs": 1e-3}
_COUNT_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_latency(text: str) -> float:
    """'40ms', '40 ms', '0.04s', '40000us' or a bare number (ms) → milliseconds."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(ms|s|us|µs)?\s*", str(text).lower())
    if not m:
        raise ConfigError(f"latency budget '{text}' not understood; use e.g. 40ms, '40 ms', 0.04s, 40000us or 40")
    value = float(m.group(1)) * _TIME_UNITS[m.group(2) or "ms"]
    if not math.isfinite(value):
        raise ConfigError(f"latency budget '{text}' is not a finite number; use e.g. 40ms")
    if value <= 0:
        raise ConfigError(f"latency budget must be positive, got '{text}'; use e.g. 40ms")
    return value


def parse_count(text: str) -> float:
    """'0.6M', '600k', '2G', '1.5e6' or a bare number → a count (params or MACs)."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([kmg]?)\s*", str(text).lower())
    if not m:
        raise ConfigError(f"budget '{text}' not understood; use e.g. 0.6M, 600k, 2G or 600000")
    value = float(m.group(1)) * _COUNT_UNITS[m.group(2)]
    if not math.isfinite(value):
        raise ConfigError(f"budget '{text}' is not a finite number; use e.g. 0.6M, 600k or 2G")
    if value <= 0:
        raise ConfigError(f"budget must be positive, got '{text}'; use e.g. 0.6M, 600k or 2G")
    return value
