"""The one latency measurement protocol every backend and the device agent share.

Two ways to measure, one set of rules:
- `measure(run)`: warm-up, then timed runs until the 95 % confidence interval of the median is
  within ±`target_ci_pct` (order statistics), between a floor and a ceiling of runs and seconds.
- `measure_paired(run, run_reference)`: the same, in alternating turns with a fixed reference model,
  so a host that runs slower or faster for a while (other processes, a VM changing speed, a phone
  throttling) changes both alike; the paired ratio carries the candidate's cost.

Torch-free and Python 3.8 compatible: the device agent imports it on hosts that have
only numpy and one runtime.
"""
from __future__ import annotations

import ctypes
import gc
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Protocol:
    """How one latency is measured: warm-up floors, run floors/ceilings and the precision to stop at."""

    warmup_runs: int = 3
    warmup_s: float = 0.2
    timed_runs: int = 10
    """At least this many timed runs (per model, over all turns when paired) ..."""
    timed_s: float = 0.3
    """... and at least this many seconds of them."""
    max_runs: int = 2000
    max_s: float = 3.0
    """Stop at this many runs / seconds of timed runs even if the interval is wider than the target."""
    target_ci_pct: float = 1.0
    """Stop once the 95 % CI of the median (paired: of the per-round ratio) is within ±this %; 0: floors only."""
    rounds: int = 6
    """Paired measurement: at least this many rounds (reference turn + candidate turn)."""
    turn_s: float = 0.05
    """Paired measurement: each turn runs at least this long (and at least one run)."""
    keep_freed_memory: bool = True
    """Keep freed heap memory in this process while timing (see `keep_freed_memory`)."""

    def to_dict(self) -> Dict[str, float]:
        """Plain dict for YAML/JSON provenance."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[Dict]) -> "Protocol":
        """Build from a dict, rejecting unknown keys (missing keys take today's defaults)."""
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown protocol keys: {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


CALIBRATION_NETWORKS = 10
"""Whole networks a new LUT's calibration measures by default. bench/calibration_size.py: 10 networks
predicted 40 held-out networks as well as 30 did (ONNX Runtime 3.6 vs 3.7 % MAPE, OpenVINO 2.8 vs
2.5 %, eager torch 3.5 vs 3.1 %, 98–100 % within ±10 %) and keep a 256×256 ×8 table within 5 min."""

FIXED_LEGACY = Protocol(warmup_runs=10, warmup_s=0.5, timed_runs=50, timed_s=1.0, max_runs=100_000, max_s=1e9,
                        target_ci_pct=0.0)
"""The fixed protocol of LUTs measured before adaptive stopping (≥ 10 warm-up runs/0.5 s, ≥ 50 runs/1 s)."""

QUICK = Protocol(warmup_runs=2, warmup_s=0.0, timed_runs=5, timed_s=0.0, max_s=0.5, target_ci_pct=0.0,
                 rounds=3, turn_s=0.005)
"""For tests only: too few repeats for real numbers."""


@dataclass(frozen=True)
class Timing:
    """Summary of one measurement, in milliseconds (ci_pct: achieved 95 % CI half-width of the median)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    count: int
    ci_pct: Optional[float] = None

    def to_dict(self) -> Dict[str, float]:
        """Plain dict with rounded values for files."""
        d = {"median_ms": round(self.median_ms, 6), "p10_ms": round(self.p10_ms, 6),
             "p90_ms": round(self.p90_ms, 6), "count": int(self.count)}
        if self.ci_pct is not None and math.isfinite(self.ci_pct):
            d["ci_pct"] = round(self.ci_pct, 3)
        return d

    @classmethod
    def from_dict(cls, d: Dict) -> "Timing":
        """Inverse of to_dict."""
        ci = d.get("ci_pct")
        return cls(float(d["median_ms"]), float(d["p10_ms"]), float(d["p90_ms"]), int(d["count"]),
                   None if ci is None else float(ci))

    @classmethod
    def from_samples(cls, samples_ms: List[float]) -> "Timing":
        """Median, 10th and 90th percentile and the median's 95 % CI half-width of raw samples."""
        if not samples_ms:
            raise ValueError("no timing samples")
        s = sorted(samples_ms)
        return cls(statistics.median(s), _percentile(s, 10), _percentile(s, 90), len(s), median_ci_pct(s))


@dataclass(frozen=True)
class PairedTiming:
    """A candidate timed in alternating turns with a reference model.

    `ratio` is the median over rounds of (candidate turn median ÷ reference turn median); its 95 % CI
    half-width is `ratio_ci_pct`. `candidate`/`reference` summarise all their runs (raw).
    """

    candidate: Timing
    reference: Timing
    ratio: float
    ratio_ci_pct: Optional[float]
    rounds: int

    def to_dict(self) -> Dict:
        """Plain dict for files."""
        d = {"candidate": self.candidate.to_dict(), "reference": self.reference.to_dict(),
             "ratio": round(self.ratio, 6), "rounds": int(self.rounds)}
        if self.ratio_ci_pct is not None and math.isfinite(self.ratio_ci_pct):
            d["ratio_ci_pct"] = round(self.ratio_ci_pct, 3)
        return d

    @classmethod
    def from_dict(cls, d: Dict) -> "PairedTiming":
        """Inverse of to_dict."""
        ci = d.get("ratio_ci_pct")
        return cls(Timing.from_dict(d["candidate"]), Timing.from_dict(d["reference"]), float(d["ratio"]),
                   None if ci is None else float(ci), int(d["rounds"]))


def _percentile(sorted_values: List[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median_ci(sorted_values: List[float]) -> Optional[Tuple[float, float]]:
    """Distribution-free 95 % confidence interval of the median (order statistics); None below 6 values.

    The ranks are n/2 ∓ 1.96·√n/2 (normal approximation of the binomial(n, ½) count below the median),
    widened to whole ranks; for n = 6..8 that is the minimum and maximum (coverage ≥ 96.9 %).
    """
    n = len(sorted_values)
    if n < 6:
        return None
    half = 1.96 * math.sqrt(n) / 2.0
    lo = max(0, int(math.floor(n / 2.0 - half)) - 1)
    hi = min(n - 1, int(math.ceil(n / 2.0 + half)))
    return sorted_values[lo], sorted_values[hi]


def median_ci_pct(sorted_values: List[float]) -> float:
    """Half-width of `median_ci` in % of the median (inf when it cannot be computed)."""
    ci = median_ci(sorted_values)
    med = statistics.median(sorted_values) if sorted_values else 0.0
    if ci is None or med <= 0:
        return math.inf
    return 100.0 * (ci[1] - ci[0]) / 2.0 / med


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


class _GcOff:
    """Collect the young generations once, then keep the garbage collector off inside the block.

    Not a full collection: its cost grows with everything the process holds (36 ms per measurement in a
    bare profiling process, far more in a large one: a profiling test took 49 s inside the test suite and
    13 s alone, 3.7 s with this) and a measurement gains nothing from it, since nothing is collected while
    the collector is off.
    """

    def __enter__(self):
        self.was = gc.isenabled()
        gc.collect(1)
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def _runner(run_once: Callable[[], object], sync: Optional[Callable[[], None]]) -> Callable[[], float]:
    """A function that runs once and returns the run's wall time in ms (sync inside the timed span)."""
    clock = time.perf_counter

    def timed() -> float:
        t0 = clock()
        run_once()
        if sync is not None:
            sync()
        return (clock() - t0) * 1e3

    return timed


def _warm_up(timed: Callable[[], float], protocol: Protocol) -> List[float]:
    """Warm-up runs (floors: count and seconds); returns their times."""
    out: List[float] = []
    start = time.perf_counter()
    while len(out) < protocol.warmup_runs or time.perf_counter() - start < protocol.warmup_s:
        out.append(timed())
        if len(out) >= protocol.max_runs:
            break
    return out


def _check_every(n: int) -> int:
    """How many more runs before the interval is recomputed (sorting is cheap, but not free)."""
    return max(5, n // 8)


def measure(run_once: Callable[[], object], protocol: Protocol = Protocol(),
            sync: Optional[Callable[[], None]] = None) -> Timing:
    """Time `run_once` under `protocol`: warm-up, then timed runs with the GC off until precise enough.

    `sync` (e.g. torch.cuda.synchronize) is called after every run, inside the timed span. The garbage
    collector runs once *before* the warm-up: a collection walks every Python object and evicts the caches
    the warm-up filled (measured: 5-run medians of a 3 ms network 1.6-2.2x slow when it ran in between).
    """
    if protocol.keep_freed_memory:
        keep_freed_memory()
    timed = _runner(run_once, sync)
    samples: List[float] = []
    with _GcOff():
        _warm_up(timed, protocol)
        start = time.perf_counter()
        next_check = protocol.timed_runs
        while len(samples) < protocol.max_runs:
            samples.append(timed())
            n, elapsed = len(samples), time.perf_counter() - start
            if n < protocol.timed_runs or elapsed < protocol.timed_s:
                continue
            if elapsed >= protocol.max_s or protocol.target_ci_pct <= 0:
                break
            if n >= next_check:
                if median_ci_pct(sorted(samples)) <= protocol.target_ci_pct:
                    break
                next_check = n + _check_every(n)
    return Timing.from_samples(samples)


def _turn(timed: Callable[[], float], k: int) -> List[float]:
    """k timed runs; when a turn holds several, one untimed run first refills the caches the other model used
    (so the turn matches a model timed alone; a run long enough to fill a turn by itself needs no such run)."""
    if k > 1:
        timed()
    return [timed() for _ in range(k)]


def measure_paired(run_once: Callable[[], object], run_reference: Callable[[], object],
                   protocol: Protocol = Protocol(), sync: Optional[Callable[[], None]] = None) -> PairedTiming:
    """Time `run_once` and `run_reference` in alternating turns (reference first in each round).

    Each turn lasts ≥ `turn_s` (the run count per turn is set from the warm-up and kept fixed, so both
    models see the same kind of interval; see `_turn` for its first run). Stops after ≥ `rounds` rounds once both models have their
    floors and the per-round ratio's 95 % CI is within ±`target_ci_pct`, or at the ceilings.
    """
    if protocol.keep_freed_memory:
        keep_freed_memory()
    cand, ref = _runner(run_once, sync), _runner(run_reference, sync)

    def per_turn(warm: List[float]) -> int:
        typical = statistics.median(warm[len(warm) // 2:]) if warm else 0.0
        return max(1, int(math.ceil(protocol.turn_s * 1e3 / typical))) if typical > 0 else 1

    c_all: List[float] = []
    r_all: List[float] = []
    ratios: List[float] = []
    with _GcOff():  # collected before the warm-up (see `measure`)
        k_ref, k_cand = per_turn(_warm_up(ref, protocol)), per_turn(_warm_up(cand, protocol))
        start = time.perf_counter()
        while True:
            r_turn = _turn(ref, k_ref)
            c_turn = _turn(cand, k_cand)
            r_all.extend(r_turn)
            c_all.extend(c_turn)
            ratios.append(statistics.median(c_turn) / max(statistics.median(r_turn), 1e-12))
            elapsed = time.perf_counter() - start
            if len(ratios) >= protocol.rounds and (len(c_all) >= protocol.max_runs or elapsed >= 2 * protocol.max_s):
                break  # the ceilings never cut below the rounds floor: a 1 s network still gets its interval
            if len(ratios) < protocol.rounds or len(c_all) < protocol.timed_runs or elapsed < 2 * protocol.timed_s:
                continue
            if protocol.target_ci_pct <= 0 or median_ci_pct(sorted(ratios)) <= protocol.target_ci_pct:
                break
    ci = median_ci_pct(sorted(ratios))
    return PairedTiming(Timing.from_samples(c_all), Timing.from_samples(r_all), statistics.median(ratios),
                        ci if math.isfinite(ci) else None, len(ratios))


@dataclass(frozen=True)
class InterleavedTiming:
    """Several runners timed in interleaved rounds (A B C … A B C …): each one's summary and turn medians."""

    timings: Dict[str, Timing]
    turn_medians: Dict[str, List[float]]
    """name -> the median of its turn in each round (round order)."""

    @property
    def rounds(self) -> int:
        """Rounds run."""
        return min((len(v) for v in self.turn_medians.values()), default=0)

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of (`name`'s turn median ÷ `reference`'s in the same round)."""
        a, b = self.turn_medians[name], self.turn_medians[reference]
        return statistics.median(x / max(y, 1e-12) for x, y in zip(a, b))

    def to_dict(self) -> Dict:
        """Plain dict for files."""
        return {"rounds": self.rounds, "timings": {k: t.to_dict() for k, t in self.timings.items()},
                "turn_medians_ms": {k: [round(v, 6) for v in vs] for k, vs in self.turn_medians.items()}}


def measure_interleaved(runners: Dict[str, Callable[[], object]], protocol: Protocol = Protocol(),
                        syncs: Optional[Dict[str, Optional[Callable[[], None]]]] = None) -> InterleavedTiming:
    """Time several runners in interleaved rounds: each round gives every runner one turn, in the given order.

    The generalisation of `measure_paired` to N runners (e.g. one network in every runtime): a host that
    runs slower for a while slows every runner of that round alike. Each turn lasts ≥ `turn_s` (its run count
    fixed from the warm-up); stops after ≥ `rounds` rounds once every runner has its floors (`timed_runs`,
    `timed_s` per runner), or at `max_s` per runner (never below the rounds floor).
    """
    if not runners:
        raise ValueError("no runners to time")
    if protocol.keep_freed_memory:
        keep_freed_memory()
    timed = {k: _runner(fn, (syncs or {}).get(k)) for k, fn in runners.items()}
    samples: Dict[str, List[float]] = {k: [] for k in timed}
    turns: Dict[str, List[float]] = {k: [] for k in timed}
    with _GcOff():  # collected before the warm-up (see `measure`)
        per_turn = {}
        for k, fn in timed.items():
            warm = _warm_up(fn, protocol)
            typical = statistics.median(warm[len(warm) // 2:]) if warm else 0.0
            per_turn[k] = max(1, int(math.ceil(protocol.turn_s * 1e3 / typical))) if typical > 0 else 1
        start = time.perf_counter()
        n_rounds = 0
        while True:
            for k, fn in timed.items():
                turn = _turn(fn, per_turn[k])
                samples[k].extend(turn)
                turns[k].append(statistics.median(turn))
            n_rounds += 1
            elapsed = time.perf_counter() - start
            if n_rounds < protocol.rounds:
                continue
            if elapsed >= len(timed) * protocol.max_s or min(len(s) for s in samples.values()) >= protocol.max_runs:
                break
            if min(len(s) for s in samples.values()) >= protocol.timed_runs and elapsed >= len(timed) * protocol.timed_s:
                break
    return InterleavedTiming({k: Timing.from_samples(s) for k, s in samples.items()}, turns)
