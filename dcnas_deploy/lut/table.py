"""`LUT`: a device's measured per-op latencies for one geometry, its provenance and its calibration."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError, warn
from dcnas_deploy.fileio import atomic_write_text, load_yaml_file
from dcnas_deploy.lut.commands import profile_command
from dcnas_deploy.lut.reference import Reference
from dcnas_deploy.runtimes.fingerprint import Mismatch, compare, explain
from dcnas_deploy.runtimes.protocol import Timing
from dcnas_deploy.space import Arch, CostTables, Op, SearchSpace

FORMAT = "dcnas-lut/1"


def lut_dir() -> Path:
    """Where new LUTs are written: $DCNAS_LUTS, else a writable checkout's luts/, else the user folder (datadirs)."""
    from dcnas_deploy.datadirs import new_files_dir

    return new_files_dir("luts")


def lut_dirs() -> List[Path]:
    """Folders searched for LUTs, first match winning ($DCNAS_LUTS, new-LUT folder, user folder, shipped luts/)."""
    from dcnas_deploy.datadirs import search_dirs

    return search_dirs("luts")


def lut_file(name_or_path: os.PathLike | str) -> Path:
    """A LUT file: the path as given when it exists, else a bare name (with or without .yaml) in the LUT folders."""
    text = str(name_or_path)
    given = Path(text).expanduser()
    if given.exists() or os.sep in text or "/" in text:
        return given
    folders = lut_dirs()
    for folder in folders:
        for name in (text, f"{text}.yaml"):
            if (folder / name).is_file():
                return folder / name
    raise ConfigError(f"LUT not found: {text} is neither a file here nor a LUT in {', '.join(map(str, folders))} "
                      f"(`dcnas-deploy paths` lists the folders)")


def geometry_of(space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """The geometry a LUT is valid for."""
    hr = space.check_hr(hr_size or space.hr_size)
    return {"width": space.width, "hr": [int(hr[0]), int(hr[1])], "scale": space.scale,
            "target_channels": space.target_channels, "guide_channels": space.guide_channels}


def default_lut_path(device: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None,
                     folder: Optional[Path] = None) -> Path:
    """<folder>/<device>-c<C>[-t<T>g<G>]-<H>x<W>-x<s>.yaml; folder defaults to where new LUTs go (lut_dir).

    The band counts appear when they differ from the RGB-guided one-band default (t1g3), so a 4-band
    pan-sharpening table never shadows a depth one; depth, thermal and saliency share tables (same ops).
    """
    g = geometry_of(space, hr_size)
    bands = (g["target_channels"], g["guide_channels"])
    tag = "" if bands == (1, 3) else f"-t{bands[0]}g{bands[1]}"
    return (folder or lut_dir()) / f"{device}-c{g['width']}{tag}-{g['hr'][0]}x{g['hr'][1]}-x{g['scale']}.yaml"


@dataclass
class Calibration:
    """measured ≈ scale · Σ(op − per-call overhead) + offset, with its cross-validated errors."""

    scale: float
    offset_ms: float
    errors: Dict[str, Any]
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
    """Per-op latency table of one device profile at one geometry (loaded from / saved to YAML).

    Ops keep their raw timings and the reference network's speed when they were measured
    (`op_reference_ms`); costs use them at the profile's nominal speed (see lut.reference).
    """

    device: Dict[str, Any]
    geometry: Dict[str, Any]
    provenance: Dict[str, Any]
    ops: Dict[str, Timing] = field(default_factory=dict)
    calibration: Optional[Calibration] = None
    path: Optional[Path] = None
    reference: Optional[Reference] = None
    op_reference_ms: Dict[str, float] = field(default_factory=dict)

    # ---- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | str) -> "LUT":
        """Read and validate a LUT file: unusable values are refused naming the op; old formats warn."""
        p = Path(path)
        d = load_yaml_file(p, "LUT")
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ConfigError(f"{p}: not a dcnas LUT (expected 'format: {FORMAT}')")
        missing = [k for k in ("device", "geometry", "provenance", "ops") if k not in d]
        if missing:
            raise ConfigError(f"{p}: LUT is missing section(s) {missing}")
        for key in ("device", "geometry", "provenance"):
            if not isinstance(d[key], dict):
                raise ConfigError(f"{p}: LUT section '{key}' must be a mapping, got {type(d[key]).__name__}")
        ops_section = d["ops"] or {}
        if not isinstance(ops_section, dict):
            raise ConfigError(f"{p}: LUT section 'ops' must be a mapping of op key -> timing")
        try:
            ops = {str(k): _valid_timing(v, f"{p}: op '{k}'") for k, v in ops_section.items()}
            refs = {str(k): _positive(v["ref_ms"], f"{p}: op '{k}' ref_ms") for k, v in ops_section.items()
                    if isinstance(v, dict) and "ref_ms" in v}
            cal = Calibration.from_dict(d["calibration"]) if d.get("calibration") else None
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{p}: malformed LUT entry ({type(exc).__name__}: {exc})") from None
        if cal is not None and not (math.isfinite(cal.scale) and cal.scale > 0 and math.isfinite(cal.offset_ms)):
            raise ConfigError(f"{p}: calibration scale {cal.scale} / offset {cal.offset_ms} ms are not usable; "
                              f"re-profile: {profile_command(d['device'].get('name', 'DEVICE'), d['geometry'], True)}")
        reference = Reference.from_dict(d["reference"], str(p)) if d.get("reference") else None
        lut = cls(d["device"], d["geometry"], d["provenance"], ops, cal, p, reference, refs)
        from dcnas_deploy.lut.plausibility import check_plausible

        check_plausible(lut)
        if reference is None and ops:
            warn(f"{p} was profiled before LUTs recorded a reference network and a host fingerprint: its latencies "
                 f"cannot be corrected for a busier or different host; upgrade it with: "
                 f"{profile_command(lut.device_name, lut.geometry, True)}")
        return lut

    def save(self, path: Optional[Path | str] = None) -> Path:
        """Write atomically (profiling saves after every chunk, so Ctrl-C loses at most one chunk)."""
        import yaml

        p = Path(path or self.path)  # type: ignore[arg-type]  # a loaded or profiled table has a path
        ops = {}
        for k, t in sorted(self.ops.items()):
            ops[k] = t.to_dict()
            if k in self.op_reference_ms:
                ops[k]["ref_ms"] = round(self.op_reference_ms[k], 6)
        d = {"format": FORMAT, "device": self.device, "geometry": self.geometry, "provenance": self.provenance}
        if self.reference is not None:
            d["reference"] = self.reference.to_dict()
        d["ops"] = ops
        if self.calibration is not None:
            d["calibration"] = self.calibration.to_dict()
        header = ("# Latency lookup table measured by dcnas-deploy (never edit by hand).\n"
                  f"# Re-measure: {profile_command(self.device_name, self.geometry, True)}\n")
        self.path = atomic_write_text(p, header + yaml.safe_dump(d, sort_keys=False, width=120))
        return self.path

    @property
    def device_name(self) -> str:
        """The device profile's name."""
        return str(self.device.get("name", "DEVICE"))

    # ---- checks ------------------------------------------------------------------------------
    def check_geometry(self, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> None:
        """ConfigError when this LUT was measured for another width / HR size / scale."""
        want = geometry_of(space, hr_size)
        if want != self.geometry:
            diff = ", ".join(f"{k} {self.geometry.get(k)} (needed {v})" for k, v in want.items()
                             if self.geometry.get(k) != v)
            raise ConfigError(f"LUT {self.path} is for another geometry: {diff}; profile it with: "
                              f"{profile_command(self.device_name, want)}")

    def check_ops(self, space: SearchSpace) -> None:
        """ConfigError naming ops this geometry needs but the LUT lacks, or ops of another geometry it holds."""
        want = {op.key for op in space.unique_ops(tuple(self.geometry["hr"]))}
        foreign = sorted(set(self.ops) - want)
        if foreign:
            raise ConfigError(f"LUT {self.path} holds {len(foreign)} op(s) that are not ops of its geometry "
                              f"(width {self.geometry['width']}, HR {self.geometry['hr'][0]}x{self.geometry['hr'][1]},"
                              f" x{self.geometry['scale']}), e.g. '{foreign[0]}': was it edited or merged by hand? "
                              f"Re-profile: {profile_command(self.device_name, self.geometry, True)}")
        absent = sorted(want - set(self.ops))
        if absent:
            more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
            raise ConfigError(f"op '{absent[0]}' is missing from LUT {self.path}{more}; fill it with: "
                              f"{profile_command(self.device_name, self.geometry)}")

    def missing(self, ops: List[Op]) -> List[Op]:
        """Ops not yet measured."""
        return [op for op in ops if op.key not in self.ops]

    @property
    def file(self) -> Path:
        """The table's file (a loaded or profiled table has one)."""
        if self.path is None:
            raise ConfigError("this LUT was never saved: it has no file")
        return Path(self.path)

    @property
    def fingerprint(self) -> Optional[Dict[str, Any]]:
        """What decided the measured speed (runtimes.fingerprint), or None for tables that predate it."""
        return self.provenance.get("fingerprint")

    @property
    def emulation(self) -> Optional[str]:
        """How the measuring host was emulated (provenance `emulated`, or its fingerprint's `emulation`), else None:
        such a table times the emulator, not the device (runtimes.fingerprint.emulation)."""
        return self.provenance.get("emulated") or (self.fingerprint or {}).get("emulation") or None

    def host_mismatches(self, current: Dict[str, Any]) -> Optional[List[Mismatch]]:
        """How `current` (a fingerprint) differs from the measuring host; None when this LUT has no fingerprint."""
        return None if self.fingerprint is None else compare(self.fingerprint, current)

    def require_host(self, current: Dict[str, Any], what: str) -> List[Mismatch]:
        """ConfigError naming the differing field(s) and the fixing command unless `current` matches on every
        hard field; returns the soft differences. `what` says what the table was about to be used for."""
        mismatches = self.host_mismatches(current)
        if mismatches is None:
            raise ConfigError(f"{self.path} has no host fingerprint (profiled by an older dcnas-deploy), so it "
                              f"cannot be {what} safely; re-profile: {profile_command(self.device_name, self.geometry, True)}")
        hard = [m for m in mismatches if m.hard]
        if hard:
            raise ConfigError(f"{self.path} was measured on a different host or runtime ({explain(hard)}), so it "
                              f"cannot be {what}; profile this one: "
                              f"{profile_command(self.device_name, self.geometry, True)} (or give --out for a new file)")
        return [m for m in mismatches if not m.hard]

    # ---- costs -------------------------------------------------------------------------------
    def op_ms(self, op: Op) -> float:
        """Latency of one op at the profile's nominal speed; a missing op names itself and the command that fills it."""
        return self.key_ms(op.key)

    def key_ms(self, key: str) -> float:
        """Latency of the op called KEY at the profile's nominal speed (see op_ms)."""
        try:
            raw = self.ops[key].median_ms
        except KeyError:
            raise ConfigError(f"op '{key}' is missing from LUT {self.path}; fill it with: "
                              f"{profile_command(self.device_name, self.geometry)}") from None
        ref = self.op_reference_ms.get(key)
        if ref is None or self.reference is None or not self.reference.measurements:
            return raw
        return raw * self.reference.nominal_ms / ref

    @property
    def overhead_ms(self) -> float:
        """Per-call overhead of the runtime, measured with a trivial model."""
        return float(self.provenance.get("per_call_overhead_ms", 0.0))

    def kernel_ratios(self) -> Dict[str, float]:
        """Median ratio of mbconv k7/k5 and k5/k3 latency over matching (channels, expand, resolution)."""
        import statistics

        by = {}
        for key, t in self.ops.items():
            m = re.fullmatch(r"mbconv k(\d)e(\d) (c\d+ \d+x\d+)", key)
            if m:
                by[(int(m.group(1)), m.group(2), m.group(3))] = t.median_ms
        out = {}
        for big, small in ((7, 5), (5, 3)):
            r = [by[(big, e, rest)] / by[(small, e, rest)] for (k, e, rest) in by if k == big and (small, e, rest) in by]
            if r:
                out[f"k{big}/k{small}"] = statistics.median(r)
        return out

    def raw_tables(self, space: SearchSpace) -> CostTables:
        """Uncorrected Σ op latencies (at the nominal speed) as cost tables."""
        self.check_geometry(space, tuple(self.geometry["hr"]))
        self.check_ops(space)
        return space.cost_tables(self.op_ms, tuple(self.geometry["hr"]))

    def net_tables(self, space: SearchSpace) -> CostTables:
        """Σ max(op − per-call overhead, 0): the quantity the calibration scales (never negative)."""
        self.check_geometry(space, tuple(self.geometry["hr"]))
        self.check_ops(space)
        o = self.overhead_ms
        return space.cost_tables(lambda op: max(self.op_ms(op) - o, 0.0), tuple(self.geometry["hr"]))

    def cost_tables(self, space: SearchSpace) -> CostTables:
        """Calibrated latency (ms) as additive tables: scale·max(op − overhead, 0) per op, offset on lr_up.

        Never negative: no network is predicted faster than the in-graph LR-up alone (which every
        network runs), whatever the fitted offset.
        """
        raw = self.raw_tables(space)
        if self.calibration is None:
            return raw
        a, o = self.calibration.scale, self.overhead_ms
        tables = space.cost_tables(lambda op: a * max(self.op_ms(op) - o, 0.0), tuple(self.geometry["hr"]))
        tables.lr_up += self.calibration.offset_ms
        tables.floor = raw.lr_up
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


def _positive(value: Any, what: str) -> float:
    """A finite positive float, or ConfigError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} is {value!r}: expected a positive number of milliseconds (a LUT is only ever "
                          "written by `dcnas-deploy profile`; re-profile with --force)")
    return float(value)


def _valid_timing(d: Any, what: str) -> Timing:
    """A Timing from its dict, refusing NaN, infinite, zero or negative times and inverted percentiles."""
    if not isinstance(d, dict):
        raise ConfigError(f"{what}: expected a mapping with median_ms, p10_ms, p90_ms, count; got {d!r}")
    for key in ("median_ms", "p10_ms", "p90_ms", "count"):
        if key not in d:
            raise ConfigError(f"{what} has no '{key}' (re-profile with --force)")
    t = Timing(_positive(d["median_ms"], f"{what} median_ms"), _positive(d["p10_ms"], f"{what} p10_ms"),
               _positive(d["p90_ms"], f"{what} p90_ms"), int(_positive(d["count"], f"{what} count")),
               None if d.get("ci_pct") is None else float(d["ci_pct"]))
    if not t.p10_ms <= t.median_ms <= t.p90_ms:
        raise ConfigError(f"{what}: p10 {t.p10_ms} ≤ median {t.median_ms} ≤ p90 {t.p90_ms} does not hold")
    return t


def locate_lut(device: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> Optional[Path]:
    """The device's LUT file for this geometry in the LUT folders (first found), or None."""
    name = default_lut_path(device, space, hr_size).name
    return next((d / name for d in lut_dirs() if (d / name).is_file()), None)


def find_lut(device_or_path: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> LUT:
    """A LUT from a file path, or the device's LUT for this geometry in the LUT folders (error says how to make it)."""
    if device_or_path.endswith((".yaml", ".yml")) or "/" in device_or_path:
        lut = LUT.load(device_or_path)
    else:
        path = locate_lut(device_or_path, space, hr_size)
        if path is None:
            name = default_lut_path(device_or_path, space, hr_size).name
            folders = lut_dirs()
            others = sorted({p.name for d in folders if d.is_dir() for p in d.glob(f"{device_or_path}-*.yaml")})
            raise ConfigError(f"no LUT for device '{device_or_path}' at this geometry ({name}; looked in "
                              f"{', '.join(str(d) for d in folders)}); "
                              f"measure it with: {profile_command(device_or_path, geometry_of(space, hr_size))}"
                              + (f" (LUTs of other geometries: {others})" if others else ""))
        lut = LUT.load(path)
    lut.check_geometry(space, hr_size)
    return lut


def latency_cost_tables(device: str, space: SearchSpace, hr_size: Optional[Tuple[int, int]] = None) -> CostTables:
    """The `latency:DEVICE` cost: the calibrated LUT of DEVICE (name or LUT path) at this geometry."""
    if not device.endswith((".yaml", ".yml")) and "/" not in device:
        from dcnas_deploy.runtimes.devices import load_device

        load_device(device)  # an unknown device is named with the known ones, not sent to `profile`
    return find_lut(device, space, hr_size).cost_tables(space)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of a device name."""
    return _SAFE.sub("-", text).strip("-") or "device"
