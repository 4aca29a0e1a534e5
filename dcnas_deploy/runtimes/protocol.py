"""The one latency measurement protocol every backend and the device agent share.

Torch-free and Python 3.8 compatible: the device agent imports it on hosts that have
only numpy and one runtime.
"""
from __future__ import annotations

import ctypes
import gc
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional


@dataclass(frozen=True)
class Protocol:
    """How one latency is measured: warm-up and timed-run floors (counts and seconds)."""

    warmup_runs: int = 10
    warmup_s: float = 0.5
    timed_runs: int = 50
    timed_s: float = 1.0
    max_runs: int = 100_000
    keep_freed_memory: bool = True
    """Keep freed heap memory in this process while timing (see `keep_freed_memory`)."""

    def to_dict(self) -> Dict[str, float]:
        """Plain dict for YAML/JSON provenance."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[Dict]) -> "Protocol":
        """Build from a dict, rejecting unknown keys."""
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown protocol keys: {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


QUICK = Protocol(warmup_runs=2, warmup_s=0.0, timed_runs=5, timed_s=0.0)
"""For tests only: too few repeats for real numbers."""


@dataclass(frozen=True)
class Timing:
    """Summary of one measurement, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    count: int

    def to_dict(self) -> Dict[str, float]:
        """Plain dict with rounded values for files."""
        return {"median_ms": round(self.median_ms, 6), "p10_ms": round(self.p10_ms, 6),
                "p90_ms": round(self.p90_ms, 6), "count": int(self.count)}

    @classmethod
    def from_dict(cls, d: Dict) -> "Timing":
        """Inverse of to_dict."""
        return cls(float(d["median_ms"]), float(d["p10_ms"]), float(d["p90_ms"]), int(d["count"]))

    @classmethod
    def from_samples(cls, samples_ms: List[float]) -> "Timing":
        """Median, 10th and 90th percentile of raw samples."""
        if not samples_ms:
            raise ValueError("no timing samples")
        s = sorted(samples_ms)
        return cls(statistics.median(s), _percentile(s, 10), _percentile(s, 90), len(s))


def _percentile(sorted_values: List[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
_KEEP_BYTES = 1 << 30
_heap_kept: Optional[bool] = None


def keep_freed_memory() -> bool:
    """Stop glibc from unmapping or trimming freed memory below 1 GiB in this process; False where not glibc.

    Without it a run's large activations (eager torch at 256x256: several MB each) are mmap-ed and
    page-faulted afresh on some runs and not others, depending on glibc's adaptive thresholds: the same
    network measured 470 ms in one fresh process and 227 ms in another. Idempotent and process-wide.
    """
    global _heap_kept
    if _heap_kept is None:
        try:
            libc = ctypes.CDLL(None)
            _heap_kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and \
                bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
        except (OSError, AttributeError, TypeError):  # no libc symbol table (Windows) or no mallopt (macOS)
            _heap_kept = False
    return _heap_kept


def measure(run_once: Callable[[], object], protocol: Protocol = Protocol(),
            sync: Optional[Callable[[], None]] = None) -> Timing:
    """Time `run_once` under `protocol`: warm-up, then timed runs with the GC off.

    `sync` (e.g. torch.cuda.synchronize) is called after every run, inside the timed span.
    """
    if protocol.keep_freed_memory:
        keep_freed_memory()
    clock = time.perf_counter
    start = clock()
    n = 0
    while n < protocol.warmup_runs or clock() - start < protocol.warmup_s:
        run_once()
        if sync is not None:
            sync()
        n += 1
    samples: List[float] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start = clock()
        while (len(samples) < protocol.timed_runs or clock() - start < protocol.timed_s) \
                and len(samples) < protocol.max_runs:
            t0 = clock()
            run_once()
            if sync is not None:
                sync()
            samples.append((clock() - t0) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing.from_samples(samples)
