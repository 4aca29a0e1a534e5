"""`LUT`: a device's measured per-op latencies for one geometry, its provenance and its calibration."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_text, load_yaml_file
from dcnas_deploy.runtimes.protocol import Timing
from dcnas_deploy.space import Arch, CostTables, Op, SearchSpace

FORMAT = "dcnas-lut/1"
REPO_LUTS = Path(__file__).resolve().parents[2] / "luts"
LUTS_ENV = "DCNAS_LUTS"


def lut_dir() -> Path:
    """Where LUTs are written and found: $DCNAS_LUTS if set, else the repository's luts/."""
    import os

    return Path(os.environ[LUTS_ENV]) if os.environ.get(LUTS_ENV) else REPO_LUTS


def geometry_of(space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """The geometry a LUT is valid for."""
    hr = space.check_hr(hr_size or space.hr_size)
    return {"width": space.width, "hr": [int(hr[0]), int(hr[1])], "scale": space.scale,
            "target_channels": space.target_channels, "guide_channels": space.guide_channels}


def default_lut_path(device: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None,
                     folder: Optional[Path] = None) -> Path:
    """luts/<device>-c<C>-<H>x<W>-x<s>.yaml (in $DCNAS_LUTS when set)"""
    g = geometry_of(space, hr_size)
    return (folder or lut_dir()) / f"{device}-c{g['width']}-{g['hr'][0]}x{g['hr'][1]}-x{g['scale']}.yaml"


def profile_command(device: str, geometry: Dict[str, Any]) -> str:
    """The command that (re)fills a LUT of this device and geometry."""
    return (f"dcnas-deploy profile --device {device} --width {geometry['width']} "
            f"--hr {geometry['hr'][0]}x{geometry['hr'][1]} --scale {geometry['scale']}")


@dataclass
class Calibration:
    """measured ≈ scale · Σ(op − per-call overhead) + offset, with its cross-validated errors."""

    scale: float
    offset_ms: float
    errors: Dict[str, float]
    records: List[Dict[str, Any]] = field(default_factory=list)
    """One per measured architecture: genome hex, raw LUT sum, live-op count, end-to-end Timing."""

    def to_dict(self) -> Dict[str, Any]:
        """YAML form."""
        return {"model": "measured_ms = scale * sum(op_ms - per_call_overhead_ms) + offset_ms",
                "scale": round(self.scale, 6), "offset_ms": round(self.offset_ms, 6),
                "errors": {k: round(float(v), 4) if isinstance(v, (int, float)) else v
                           for k, v in self.errors.items()}, "records": self.records}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Calibration":
        """Inverse of to_dict."""
        return cls(float(d["scale"]), float(d["offset_ms"]), dict(d.get("errors", {})), list(d.get("records", [])))


@dataclass
class LUT:
    """Per-op latency table of one device profile at one geometry (loaded from / saved to YAML)."""

    device: Dict[str, Any]
    geometry: Dict[str, Any]
    provenance: Dict[str, Any]
    ops: Dict[str, Timing] = field(default_factory=dict)
    calibration: Optional[Calibration] = None
    path: Optional[Path] = None

    # ---- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | str) -> "LUT":
        """Read and validate a LUT file."""
        p = Path(path)
        d = load_yaml_file(p, "LUT")
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ConfigError(f"{p}: not a dcnas LUT (expected 'format: {FORMAT}')")
        missing = [k for k in ("device", "geometry", "provenance", "ops") if k not in d]
        if missing:
            raise ConfigError(f"{p}: LUT is missing section(s) {missing}")
        try:
            ops = {str(k): Timing.from_dict(v) for k, v in (d["ops"] or {}).items()}
            cal = Calibration.from_dict(d["calibration"]) if d.get("calibration") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{p}: malformed LUT entry ({type(exc).__name__}: {exc})") from None
        return cls(d["device"], d["geometry"], d["provenance"], ops, cal, p)

    def save(self, path: Optional[Path | str] = None) -> Path:
        """Write atomically (profiling saves after every chunk, so Ctrl-C loses at most one chunk)."""
        import yaml

        p = Path(path or self.path)
        d = {"format": FORMAT, "device": self.device, "geometry": self.geometry, "provenance": self.provenance,
             "ops": {k: t.to_dict() for k, t in sorted(self.ops.items())}}
        if self.calibration is not None:
            d["calibration"] = self.calibration.to_dict()
        header = ("# Latency lookup table measured by dcnas-deploy (never edit by hand).\n"
                  f"# Re-measure: {profile_command(self.device['name'], self.geometry)} --force\n")
        self.path = atomic_write_text(p, header + yaml.safe_dump(d, sort_keys=False, width=120))
        return self.path

    # ---- checks ------------------------------------------------------------------------------
    def check_geometry(self, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> None:
        """ConfigError when this LUT was measured for another width / HR size / scale."""
        want = geometry_of(space, hr_size)
        if want != self.geometry:
            diff = ", ".join(f"{k} {self.geometry.get(k)} (needed {v})" for k, v in want.items()
                             if self.geometry.get(k) != v)
            raise ConfigError(f"LUT {self.path} is for another geometry: {diff}; profile it with: "
                              f"{profile_command(self.device['name'], want)}")

    def missing(self, ops: List[Op]) -> List[Op]:
        """Ops not yet measured."""
        return [op for op in ops if op.key not in self.ops]

    def op_ms(self, op: Op) -> float:
        """Median latency of one op; a missing op names itself and the command that fills it."""
        try:
            return self.ops[op.key].median_ms
        except KeyError:
            raise ConfigError(f"op '{op.key}' is missing from LUT {self.path}; fill it with: "
                              f"{profile_command(self.device['name'], self.geometry)}") from None

    # ---- costs -------------------------------------------------------------------------------
    @property
    def overhead_ms(self) -> float:
        """Per-call overhead of the runtime, measured with a trivial model."""
        return float(self.provenance.get("per_call_overhead_ms", 0.0))

    def raw_tables(self, space: SearchSpace) -> CostTables:
        """Uncorrected Σ op medians as cost tables."""
        self.check_geometry(space, tuple(self.geometry["hr"]))
        return space.cost_tables(self.op_ms, tuple(self.geometry["hr"]))

    def cost_tables(self, space: SearchSpace) -> CostTables:
        """Calibrated latency (ms) as additive tables: scale·(op − overhead) per op, offset on lr_up."""
        self.check_geometry(space, tuple(self.geometry["hr"]))
        if self.calibration is None:
            return self.raw_tables(space)
        a, o = self.calibration.scale, self.overhead_ms
        tables = space.cost_tables(lambda op: a * (self.op_ms(op) - o), tuple(self.geometry["hr"]))
        tables.lr_up += self.calibration.offset_ms
        return tables

    def latency(self, arch: Arch, space: Optional[SearchSpace] = None) -> float:
        """Calibrated end-to-end latency (ms) of an architecture from its live ops."""
        return self.cost_tables(space or self.space())(arch)

    def batch_latency(self, genomes: np.ndarray, space: Optional[SearchSpace] = None) -> np.ndarray:
        """Calibrated latency (ms) of (N, 52) genomes, vectorised."""
        return self.cost_tables(space or self.space()).batch(genomes)

    def space(self) -> SearchSpace:
        """The search space at this LUT's geometry."""
        g = self.geometry
        return SearchSpace(width=g["width"], scale=g["scale"], hr_size=tuple(g["hr"]),
                           target_channels=g["target_channels"], guide_channels=g["guide_channels"])


def find_lut(device_or_path: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> LUT:
    """A LUT from a file path, or the device's LUT for this geometry in luts/ (error says how to make it)."""
    if device_or_path.endswith((".yaml", ".yml")) or "/" in device_or_path:
        lut = LUT.load(device_or_path)
    else:
        path = default_lut_path(device_or_path, space, hr_size)
        if not path.is_file():
            others = sorted(p.name for p in path.parent.glob(f"{device_or_path}-*.yaml"))
            raise ConfigError(f"no LUT for device '{device_or_path}' at this geometry ({path.name}); "
                              f"measure it with: {profile_command(device_or_path, geometry_of(space, hr_size))}"
                              + (f" (LUTs of other geometries: {others})" if others else ""))
        lut = LUT.load(path)
    lut.check_geometry(space, hr_size)
    return lut


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of a device name."""
    return _SAFE.sub("-", text).strip("-") or "device"
