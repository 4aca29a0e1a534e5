"""The reference network a LUT records and times alongside everything it measures.

A host's speed moves (other processes, a VM changing speed, a phone throttling). Timing a fixed
network around every chunk of ops and in alternating turns with every whole network lets each
measurement be expressed at the profile's *nominal* speed: the median of the reference's timings
while the table was profiled. Later, a network timed in turns with the same reference gives
  host speed factor = reference now ÷ nominal reference,
  normalised latency = (network ÷ reference, paired per round) × nominal reference,
which is what the LUT predicts and what budgets are held against.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.runtimes.protocol import PairedTiming, Timing
from dcnas_deploy.space import Arch

REFERENCE_DESIGN = ("k5e3", 1, "concat_pw")
"""Every stage of every branch one k5e3 block, concat_pw fusions: each op family but k7 at ~15-25 % of a
median network's cost (ONNX Runtime, LiteRT, 256x256 x8), valid at every geometry."""


def reference_arch() -> Arch:
    """The fixed reference architecture new LUTs record."""
    block, depth, fusion = REFERENCE_DESIGN
    return Arch.uniform(block, depth, fusion)


@dataclass(frozen=True)
class HostSpeed:
    """A network held against a LUT: raw time, host speed factor and the latency at the LUT's nominal speed."""

    raw_ms: float
    reference_ms: float
    factor: float
    """Reference now ÷ nominal reference: > 1 means this host runs slower than when the LUT was profiled."""
    normalised_ms: float
    ratio: float
    ratio_ci_pct: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for arch.yaml, CSVs and reports."""
        return {"raw_ms": round(self.raw_ms, 4), "reference_ms": round(self.reference_ms, 4),
                "factor": round(self.factor, 4), "normalised_ms": round(self.normalised_ms, 4),
                "ratio": round(self.ratio, 6),
                "ratio_ci_pct": None if self.ratio_ci_pct is None else round(self.ratio_ci_pct, 3)}


@dataclass
class Reference:
    """The reference architecture of a LUT and every timing of it taken while profiling."""

    genome: str
    measurements: List[Dict[str, Any]] = field(default_factory=list)
    """{"stage": what came before/after it, "at_s": profiling seconds so far, **Timing.to_dict()}."""

    def arch(self) -> Arch:
        """The reference as an Arch."""
        return Arch.from_hex(self.genome)

    @property
    def nominal_ms(self) -> float:
        """The profile's nominal speed: median of the reference's medians while profiling."""
        if not self.measurements:
            raise ConfigError("the LUT's reference network has no measurements yet")
        return float(statistics.median(m["median_ms"] for m in self.measurements))

    def add(self, stage: str, timing: Timing, at_s: float) -> float:
        """Record one timing of the reference; returns its median."""
        self.measurements.append({"stage": stage, "at_s": round(at_s, 1), **timing.to_dict()})
        return timing.median_ms

    def speed(self, paired: PairedTiming) -> HostSpeed:
        """A paired measurement (candidate vs this reference) at the nominal speed."""
        nominal = self.nominal_ms
        return HostSpeed(raw_ms=paired.candidate.median_ms, reference_ms=paired.reference.median_ms,
                         factor=paired.reference.median_ms / nominal, normalised_ms=paired.ratio * nominal,
                         ratio=paired.ratio, ratio_ci_pct=paired.ratio_ci_pct)

    def to_dict(self) -> Dict[str, Any]:
        """YAML form."""
        block, depth, fusion = REFERENCE_DESIGN
        return {"genome": self.genome, "design": f"{block} x{depth}, {fusion}" if self.genome ==
                reference_arch().to_hex() else "custom",
                "nominal_ms": round(self.nominal_ms, 6) if self.measurements else None,
                "measurements": self.measurements}

    @classmethod
    def from_dict(cls, d: Dict[str, Any], source: str) -> "Reference":
        """Inverse of to_dict, refusing unusable timings."""
        if not isinstance(d, dict) or not isinstance(d.get("genome"), str):
            raise ConfigError(f"{source}: the reference section needs a 'genome'")
        try:
            Arch.from_hex(d["genome"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: reference genome: {exc}") from None
        ms = list(d.get("measurements") or [])
        for i, m in enumerate(ms):
            v = m.get("median_ms") if isinstance(m, dict) else None
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{source}: reference measurement {i} has median_ms {v!r}; "
                                  "expected a positive number (re-profile with --force)")
        return cls(d["genome"], ms)
