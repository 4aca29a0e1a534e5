"""This host's latency table for a device and geometry: found among the tables of every host, or measured.

Tables of several hosts live side by side in each LUT folder: the flat `<device>-c8-…-x8.yaml` files (the
committed ones, or a first `profile` of a device) and `hosts/<host key>/<same name>` for tables measured for
one host when a flat one of that name describes another. A table serves a device only when its host
fingerprint matches the device's now on every field that decides speed (`runtimes.fingerprint.HARD_FIELDS`),
and, when budgets are held against it, only while the host runs its reference network within
`MAX_FACTOR` of the table's nominal speed. Otherwise this host is profiled (with a notice and progress)
into its own folder; committed tables are never overwritten.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.lut.profiler import current_fingerprint, profile_device, reusable_lut
from dcnas_deploy.lut.commands import profile_command
from dcnas_deploy.lut.table import LUT, default_lut_path, geometry_of, lut_dir, lut_dirs, safe_name
from dcnas_deploy.runtimes.devices import DeviceProfile, load_device
from dcnas_deploy.runtimes.fingerprint import HARD_FIELDS, short_key
from dcnas_deploy.runtimes.protocol import CALIBRATION_NETWORKS, Protocol
from dcnas_deploy.space import SearchSpace

HOSTS = "hosts"
"""Sub-folder of a LUT folder holding one folder per host key."""

MAX_FACTOR = 2.0
"""Beyond this (or below its inverse) a table is stale: the host is not the one it describes any more."""
SPEED_TIMINGS = 3
"""The reference is timed this many times: a VM's speed can swing ~2x within seconds, so a host is stale only
when even its fastest timing is beyond MAX_FACTOR."""
SPEED_MAX_TIMINGS = 12
"""When all of the first timings are beyond MAX_FACTOR, it keeps timing up to this many: a slow spell of a few
seconds (CI once saw 2.11x on a table profiled a minute before) is waited out."""

Say = Callable[[str], None]


class StaleTable(DcnasError):
    """A table this host runs beyond MAX_FACTOR of its nominal speed: `device` needs profiling again."""

    def __init__(self, message: str, device: str):
        super().__init__(message)
        self.device = device


def host_key(fp: dict) -> str:
    """Folder name of a host: its readable short key plus a digest of every speed-deciding field."""
    hard = {k: sorted(fp.get(k) or []) if k == "isa" else fp.get(k) for k in HARD_FIELDS}
    if not hard.get("emulation"):
        hard.pop("emulation", None)  # real hardware keeps the folder names it had before emulation was recorded
    digest = hashlib.sha1(json.dumps(hard, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{short_key(fp)}-{digest}"


def host_lut_path(device_name: str, space: SearchSpace, fp: dict) -> Path:
    """Where this host's table of a device and geometry goes: <new-LUT folder>/hosts/<host key>/<name>."""
    name = default_lut_path(safe_name(device_name), space).name
    return lut_dir() / HOSTS / host_key(fp) / name


def candidate_paths(device_name: str, space: SearchSpace) -> List[Path]:
    """Every table of this device and geometry in the LUT folders: per-host ones first, then the flat ones."""
    name = default_lut_path(safe_name(device_name), space).name
    seen, out = set(), []
    for folder in lut_dirs():
        hosted = sorted((folder / HOSTS).glob(f"*/{name}")) if (folder / HOSTS).is_dir() else []
        for p in hosted + [folder / name]:
            if p.is_file() and p.resolve() not in seen:
                seen.add(p.resolve())
                out.append(p)
    return out


def find_host_lut(profile: DeviceProfile, space: SearchSpace) -> Tuple[Optional[LUT], List[str]]:
    """(the first complete table measured on this device's host for this geometry, why each other one was passed over)."""
    passed: List[str] = []
    for path in candidate_paths(profile.name, space):
        lut, why = reusable_lut(path, profile, space)
        if lut is not None:
            return lut, passed
        try:  # the short reason when it is another host's table
            why = foreign_host(LUT.load(path), profile) or why
        except ConfigError:
            pass
        passed.append(why)
    return None, passed


def within_speed_guard(factors: List[float]) -> bool:
    """Some timing within MAX_FACTOR on each side: the table still describes this host."""
    return stale_factor(sorted(factors)) is None


def reference_speed_factors(lut: LUT, profile: DeviceProfile, space: SearchSpace, protocol: Protocol) -> List[float]:
    """The table's reference timed alone on the device, as factors of its nominal time (sorted), waiting out a
    slow spell: SPEED_TIMINGS timings, up to SPEED_MAX_TIMINGS while none is within MAX_FACTOR."""
    from dcnas_deploy.model.subnet import timing_model
    from dcnas_deploy.runtimes.modules import Measurer

    if lut.reference is None:
        raise ConfigError(f"{lut.path} has no reference network: its host speed cannot be checked")
    nominal = lut.reference.nominal_ms
    with Measurer(profile, protocol, timing_model(space, lut.reference.arch())) as m:
        factors = [m.reference().median_ms / nominal for _ in range(SPEED_TIMINGS)]
        while len(factors) < SPEED_MAX_TIMINGS and not within_speed_guard(factors):
            factors.append(m.reference().median_ms / nominal)
    return sorted(factors)


def speed_line(lut: LUT, factor: float) -> str:
    """'this host runs 2.40× faster than when X was profiled (…)'."""
    direction = "slower" if factor > 1 else "faster"
    return (f"this host runs {max(factor, 1 / factor):.2f}× {direction} than when {lut.path} was profiled "
            "(other processes, throttling or another CPU?)")


def stale_factor(factors: List[float]) -> Optional[float]:
    """The factor that makes a table stale, of sorted factors (the fastest timing when all are slow, the slowest
    when all are fast), else None. MAX_FACTOR is read at call time (tests raise it)."""
    limit = MAX_FACTOR
    if factors[0] > limit:
        return factors[0]
    if factors[-1] < 1 / limit:
        return factors[-1]
    return None


def ensure_host_lut(device: Union[str, DeviceProfile], space: SearchSpace, protocol: Protocol = Protocol(), *, allow_profile: bool = True,
                    check_speed: bool = False, reprofile: bool = False, calibrate: int = CALIBRATION_NETWORKS,
                    say: Optional[Say] = None, progress=None) -> LUT:
    """This host's table of DEVICE at this geometry: found (matching fingerprint, and with `check_speed` within the
    speed guard), else measured into hosts/<host key>/ with a notice; `allow_profile=False` refuses instead.
    `reprofile`: the caller found the table stale (StaleTable): measure it again into this host's folder.
    `space` is at the deployment geometry (its hr_size)."""
    profile = load_device(device) if isinstance(device, str) else device
    lut, passed = find_host_lut(profile, space)
    force, why = False, ""
    if lut is not None and reprofile:
        why = f"{lut.path} no longer describes this host's speed"
        lut, force = None, True
    if lut is not None and check_speed and lut.reference is not None:
        timed = profile.with_threads(int(lut.device.get("threads", profile.threads)))
        try:
            stale = stale_factor(reference_speed_factors(lut, timed, space, protocol))
        except DcnasError as exc:
            raise DcnasError(f"checking {lut.path} against this host: {exc}") from None
        if stale is not None:
            why = speed_line(lut, stale) + f"; beyond {MAX_FACTOR:g}× the table no longer describes this host"
            lut, force = None, True
    if lut is not None:
        return lut
    geometry = geometry_of(space)
    if not why:
        why = ("; ".join(passed) if passed else
               f"no LUT for device '{profile.name}' at this geometry in {', '.join(str(d) for d in lut_dirs())}")
    if not allow_profile:
        raise ConfigError(f"{why}; measure this host with: {profile_command(safe_name(profile.name), geometry, force)} "
                          "(or drop --no-profile to have it measured now)")
    out = host_lut_path(profile.name, space, current_fingerprint(profile)) if force else profile_out_path(profile, space)
    if say:
        say(f"{why}: profiling this host first → {out} (a few minutes; `dcnas-deploy profile` does the same; "
            "--no-profile refuses instead)")
    return profile_device(profile, space, out, calibrate=calibrate, protocol=protocol, progress=progress, force=force)


def profile_out_path(profile: DeviceProfile, space: SearchSpace) -> Path:
    """Where `dcnas-deploy profile` writes by default: the flat name when it is free or holds this host's table,
    else this host's folder (a table of another host, e.g. a committed one, is never overwritten)."""
    flat = default_lut_path(safe_name(profile.name), space)
    if not flat.is_file():
        return flat
    fp = current_fingerprint(profile)
    try:
        recorded = LUT.load(flat)
        mismatches = recorded.host_mismatches(fp)
    except ConfigError:
        mismatches = None
    if mismatches is not None and not any(m.hard for m in mismatches):
        return flat
    return host_lut_path(profile.name, space, fp)


def foreign_host(lut: LUT, profile: DeviceProfile) -> Optional[str]:
    """Why LUT was measured on another host than the device's now (its hard mismatches), else None."""
    from dcnas_deploy.runtimes.fingerprint import explain

    fp = current_fingerprint(profile.with_threads(int(lut.device.get("threads", profile.threads))))
    mismatches = lut.host_mismatches(fp)
    if mismatches is None:
        return f"{lut.path} has no host fingerprint (profiled by an older dcnas-deploy)"
    hard = [m for m in mismatches if m.hard]
    return f"{lut.path} was measured on a different host or runtime ({explain(hard)})" if hard else None
