"""End-to-end benchmark of one input (a model file, a checkpoint, an architecture) on one device profile.

What `benchmark` accepts is a registry of input kinds: each turns its input into a model file the
profile's runtime loads. Adding an input kind (e.g. ARCH.yaml: build, convert, then time) is one
entry in INPUT_KINDS.
"""
from __future__ import annotations

import datetime as _dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from dcnas_deploy.errors import ConfigError, DcnasError, DeviceError
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.table import RUNTIMES, model_suffixes, runtimes_loading
from dcnas_deploy.runtimes.protocol import Protocol, Timing


@dataclass(frozen=True)
class InputKind:
    """One kind of thing `benchmark` can time."""

    name: str
    matches: Callable[[Path], bool]
    prepare: Optional[Callable[[Path, DeviceProfile, Path], Path]]
    """(input, profile, scratch dir) -> a model file the profile's runtime loads."""
    description: str
    build: Optional[Callable[[Path, Dict[str, Any]], Tuple[Any, tuple]]] = None
    """(input, options) -> (torch module, example inputs), timed with runtimes.modules.measure_modules."""


_ALL_SUFFIXES = model_suffixes()


def _prepare_model_file(path: Path, profile: DeviceProfile, workdir: Path) -> Path:
    """A model file is timed as is, if the profile's runtime loads its format (runtimes.table)."""
    loads = RUNTIMES[profile.runtime].loads
    if path.suffix not in loads:
        runtimes = runtimes_loading(path.suffix)
        raise ConfigError(f"device {profile.name} runs {profile.runtime}, which loads {list(loads)} files; "
                          f"{path.name} is for {runtimes} (pick a device with that runtime, see `dcnas-deploy devices`)")
    return path


def _is_checkpoint(path: Path) -> bool:
    from dcnas_deploy.export.bench_input import is_checkpoint

    return is_checkpoint(path)


def _build_checkpoint(path: Path, options: Dict[str, Any]):
    """A training checkpoint, wrapped as `export` wraps it (export.deployable.Deployable)."""
    from dcnas_deploy.export.bench_input import checkpoint_module

    return checkpoint_module(path, options)


INPUT_KINDS: Dict[str, InputKind] = {
    "checkpoint": InputKind("checkpoint", _is_checkpoint, None,
                            "a trained model checkpoint (.pt from `dcnas-deploy train`; timed at --hr)",
                            build=_build_checkpoint),
    "model-file": InputKind("model-file", lambda p: p.suffix in _ALL_SUFFIXES, _prepare_model_file,
                            f"a model file ({', '.join(_ALL_SUFFIXES)})"),
}
"""input kind name -> InputKind; the first whose `matches` accepts the input handles it."""


def input_kind_for(path: Path) -> InputKind:
    """The input kind that handles `path`, or ConfigError listing what is accepted."""
    for kind in INPUT_KINDS.values():
        if kind.matches(path):
            return kind
    accepted = "; ".join(k.description for k in INPUT_KINDS.values())
    raise ConfigError(f"don't know how to benchmark {path.name}: expected {accepted}")


@dataclass(frozen=True)
class BenchmarkResult:
    """One end-to-end timing with its provenance."""

    input: str
    input_kind: str
    device: DeviceProfile
    timing: Timing
    protocol: Protocol
    host: Dict[str, Any]
    date: str
    host_speed: Optional[Dict[str, Any]] = None
    """With a reference LUT: raw, host speed factor and latency at the LUT's nominal speed (lut.reference)."""
    reference_lut: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for JSON."""
        return {"input": self.input, "input_kind": self.input_kind, "device": self.device.to_dict(),
                "timing": self.timing.to_dict(), "protocol": self.protocol.to_dict(), "host": self.host,
                "date": self.date, "host_speed": self.host_speed, "reference_lut": self.reference_lut}


def _build_arch(path: Path, options: Dict[str, Any]):
    """An ARCH.yaml as a randomly initialised SubNet at the requested geometry (latency needs no weights)."""
    from dcnas_deploy.model.subnet import timing_model
    from dcnas_deploy.space import Arch, SearchSpace

    arch = Arch.from_yaml(path)
    geometry = dict((arch.meta.get("space") or {}))
    geometry.update({k: v for k, v in options.items() if v is not None})
    space = SearchSpace.from_dict(geometry) if geometry else SearchSpace()
    return timing_model(space, arch)


INPUT_KINDS["arch"] = InputKind("arch", lambda p: p.suffix in (".yaml", ".yml"), None,
                                "an architecture YAML (timed at --hr/--width/--scale)", build=_build_arch)


def benchmark(path, profile: DeviceProfile, protocol: Protocol = Protocol(),
              options: Optional[Dict[str, Any]] = None, reference_lut: Optional[Path] = None) -> BenchmarkResult:
    """Time `path` end to end on `profile` (through its connection) under `protocol`.

    `options` are geometry settings for inputs that are built (ARCH.yaml): width, scale, hr_size.
    `reference_lut`: time the input in alternating turns with that LUT's reference network (the LUT must be
    this device's, measured on a host with the same fingerprint) and report the host speed too.
    """
    from dcnas_deploy.runtimes.connections import connect

    path = Path(path)
    if not path.exists():
        raise DcnasError(f"input not found: {path}")
    kind = input_kind_for(path)
    conn = connect(profile)
    ok, why = conn.reachable()
    if not ok:
        raise DeviceError(f"device {profile.name} is not reachable: {why}")
    lut = _reference_lut(reference_lut, profile) if reference_lut is not None else None
    host_speed = None
    if lut is not None:
        from dcnas_deploy.model.subnet import timing_model
        from dcnas_deploy.runtimes.modules import Measurer

        with Measurer(profile, protocol, timing_model(lut.space(), lut.reference.arch())) as m:
            if kind.build is not None:
                paired = m.paired([kind.build(path, dict(options or {}))])[0]
            else:
                assert kind.prepare is not None  # a kind without build has prepare
                with tempfile.TemporaryDirectory(prefix="dcnas-bench-") as tmp:
                    paired = m.paired_files([kind.prepare(path, profile, Path(tmp))])[0]
        timing, host_speed = paired.candidate, lut.reference.speed(paired).to_dict()
    elif kind.build is not None:
        from dcnas_deploy.runtimes.modules import measure_modules

        timing = measure_modules(profile, [kind.build(path, dict(options or {}))], protocol)[0]
    else:
        assert kind.prepare is not None  # a kind without build has prepare
        with tempfile.TemporaryDirectory(prefix="dcnas-bench-") as tmp:
            model_file = kind.prepare(path, profile, Path(tmp))
            timing = conn.measure([model_file], protocol)[0]
    return BenchmarkResult(input=str(path), input_kind=kind.name, device=profile, timing=timing,
                           protocol=protocol, host=conn.info(),
                           date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                           host_speed=host_speed, reference_lut=str(reference_lut) if reference_lut else None)


def _reference_lut(path: Path, profile: DeviceProfile):
    """The LUT whose reference network a benchmark is paired with: this device's, from this host."""
    from dcnas_deploy.lut.profiler import current_fingerprint
    from dcnas_deploy.lut.table import LUT

    lut = LUT.load(path)
    if lut.device_name != profile.name:
        raise ConfigError(f"{path} is a LUT of device {lut.device_name!r}, not {profile.name!r}: its reference "
                          "network's speed says nothing about this device")
    if lut.reference is None:
        raise ConfigError(f"{path} has no reference network (an older table): re-profile it with --force")
    lut.require_host(current_fingerprint(profile), "used as this benchmark's reference")
    return lut
