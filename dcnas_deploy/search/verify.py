"""Closed loop: measure the best candidates on every constrained device; keep the first that meets all.

Each candidate is timed in alternating turns with its LUT's reference network, so a busy or slower
host is seen for what it is: the decision uses the latency at the LUT's nominal speed (paired ratio ×
nominal reference), and the raw time and the host speed factor are recorded next to it. Before any
candidate, a host check times the reference alone: a host more than `MAX_FACTOR`× off, or one whose
fingerprint differs from the LUT's, is refused (the CLI profiles this host first instead:
`lut.host_tables.ensure_host_lut`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from dcnas_deploy.errors import DcnasError
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.search.constraints import Constraint
from dcnas_deploy.space import Arch, SearchSpace

NOTICE_BAND = (0.85, 1.15)
"""A host speed factor outside this band is reported (one line per device), and the search carries on."""
MAX_MISFIT = 2.0
"""A candidate measured beyond this many times its LUT prediction (or below its inverse) stops the closed loop:
the table, which states errors of a few per cent, does not describe this device. A table stating larger errors
(quick protocol, tiny geometry) gets 1 + its allowed MAPE (lut.plausibility) when that is wider."""


@dataclass
class Verification:
    """Per candidate tried: LUT prediction and end-to-end measurement on each latency-constrained device."""

    chosen: Optional[Arch]
    tried: List[Dict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class DeviceCheck:
    """One latency constraint ready for the closed loop: its LUT's reference, or raw timing for old LUTs."""

    constraint: Constraint
    paired: bool
    factor: Optional[float] = None
    """Host speed factor of the host check (the reference timed alone before any candidate)."""


def check_devices(constraints: List[Constraint], note: Callable[[str], None]) -> List[DeviceCheck]:
    """Refuse LUTs whose host fingerprint differs from the device's now; say what cannot be checked.

    Called before the search starts, so a wrong table fails in seconds, not after the search.
    """
    from dcnas_deploy.lut.profiler import current_fingerprint

    checks = []
    for c in constraints:
        if not c.device:
            continue
        lut = c.lut
        if lut is None or lut.reference is None or lut.fingerprint is None:
            note(f"{c.name}: {getattr(lut, 'path', 'the LUT')} predates reference networks and host fingerprints: "
                 "the closed loop compares raw timings and cannot tell a busy or different host")
            checks.append(DeviceCheck(c, False))
            continue
        try:
            current = current_fingerprint(c.device)
        except DcnasError as exc:
            raise DcnasError(f"closed-loop check on {c.name}: {exc} (use --no-verify to skip it, at the cost "
                             "of an unverified budget)") from None
        for m in lut.require_host(current, f"used to hold {c.device.name} to a latency budget"):
            note(f"{c.name}: {m} (informational: does not change the kernels)")
        checks.append(DeviceCheck(c, True))
    return checks


def host_check(check: DeviceCheck, space: SearchSpace, protocol: Protocol, note: Callable[[str], None]) -> None:
    """Time the LUT's reference alone on the device: the host speed factor, said when outside NOTICE_BAND and
    refused beyond host_tables.MAX_FACTOR. (A candidate's own paired turns are a shorter snapshot: recorded, never refused.)"""
    import statistics

    from dcnas_deploy.lut.host_tables import reference_speed_factors, speed_line, stale_factor

    c = check.constraint
    try:
        factors = reference_speed_factors(c.lut, c.device, space, protocol)
    except DcnasError as exc:
        raise DcnasError(f"closed-loop check on {c.name} failed: {exc} "
                         f"(use --no-verify to skip it, at the cost of an unverified budget)") from None
    check.factor = statistics.median(factors)
    stale = stale_factor(factors)
    if stale is not None:
        check_factor(c, stale)
    if not NOTICE_BAND[0] <= check.factor <= NOTICE_BAND[1]:
        note(speed_line(c.lut, check.factor) + ": budgets are held against the latency at the table's nominal "
             "speed (--strict-raw holds the raw time to them instead)")


def measure_on_device(space: SearchSpace, arch: Arch, check: DeviceCheck, protocol: Protocol, strict_raw: bool
                      ) -> Dict[str, Any]:
    """One candidate on one device: raw timing, host speed and the value the budget is held against."""
    from dcnas_deploy.runtimes.modules import measure_arch, measure_arch_paired

    c = check.constraint
    predicted = float(c.tables(arch))
    try:
        if check.paired:
            paired = measure_arch_paired(space, arch, c.lut.reference.arch(), c.device, protocol)
            speed, timing = c.lut.reference.speed(paired), paired.candidate
        else:
            speed, timing = None, measure_arch(space, arch, c.device, protocol)
    except DcnasError as exc:
        raise DcnasError(f"closed-loop check on {c.name} failed: {exc} "
                         f"(use --no-verify to skip it, at the cost of an unverified budget)") from None
    if speed is None or strict_raw:
        decided, ci = timing.median_ms, timing.ci_pct
        how = "raw (--strict-raw)" if speed is not None else "raw (no reference in the LUT)"
    else:
        decided, ci, how = speed.normalised_ms, speed.ratio_ci_pct, "normalised"
    # Held at the upper end of the measurement's 95 % interval: a candidate whose median sits just under
    # the budget within its own noise is re-measured over it about half the time.
    held = decided * (1.0 + (ci or 0.0) / 100.0)
    return {"budget_ms": c.budget, "lut_ms": round(predicted, 4), "measured": timing.to_dict(),
            "host_speed": speed.to_dict() if speed else None, "decided_on": how, "decided_ms": round(decided, 4),
            "ci_pct": None if ci is None else round(ci, 3), "held_ms": round(held, 4),
            "within_budget": held <= c.budget}


def check_factor(c: Constraint, factor: float) -> None:
    """StaleTable (a DcnasError) when the host's speed is beyond MAX_FACTOR of the LUT's nominal speed."""
    from dcnas_deploy.lut import host_tables
    from dcnas_deploy.lut.commands import profile_command

    if not 1 / host_tables.MAX_FACTOR <= factor <= host_tables.MAX_FACTOR:
        raise host_tables.StaleTable(
            f"{c.name}: {host_tables.speed_line(c.lut, factor)}; beyond {host_tables.MAX_FACTOR:g}× the table no "
            f"longer describes this host: re-profile with {profile_command(c.lut.device_name, c.lut.geometry, True)}",
            c.name.split(":", 1)[-1])


def check_misfit(c: Constraint, measured: Dict[str, Any]) -> None:
    """DcnasError when a candidate's decided time is beyond MAX_MISFIT× its LUT prediction (either way; wider for a
    table that states larger errors)."""
    from dcnas_deploy.lut.plausibility import allowed_mape_pct
    from dcnas_deploy.lut.commands import profile_command

    ratio = measured["decided_ms"] / max(measured["lut_ms"], 1e-9)
    lut = c.lut
    limit = MAX_MISFIT if lut is None else max(MAX_MISFIT, 1 + allowed_mape_pct(lut) / 100)
    if lut is None or 1 / limit <= ratio <= limit:
        return
    stated = lut.calibration.errors.get("mape_pct") if lut.calibration is not None else None
    states = f"a MAPE of {stated} %" if stated is not None else "no error"
    raise DcnasError(f"{c.name}: a candidate measured {measured['decided_ms']:.4g} ms where {lut.path} predicts "
                     f"{measured['lut_ms']:.4g} ms ({ratio:.3g}× the prediction, beyond {limit:.3g}×; the table "
                     f"states {states}): the table does not describe this device; re-profile it with "
                     f"{profile_command(lut.device_name, lut.geometry, True)} and search again")


def verify_candidates(space: SearchSpace, ranked: List[Arch], constraints: List[Constraint], max_candidates: int = 10,
                      protocol: Protocol = Protocol(), on_try: Optional[Callable[[Dict], None]] = None,
                      strict_raw: bool = False, checks: Optional[List[DeviceCheck]] = None,
                      note: Optional[Callable[[str], None]] = None) -> Verification:
    """Walk `ranked` (best first); drop any candidate measured over a latency budget on any device.

    Each failure tightens the effective budget by the decided/predicted ratio it showed, so the next
    candidate tried is one the LUT, corrected by what the device just said, expects to fit.
    """
    result = Verification(None)

    def say(line: str) -> None:
        result.notes.append(line)
        if note:
            note(line)

    if checks is None:
        checks = check_devices(constraints, say)
    if not checks:
        result.chosen = ranked[0] if ranked else None
        return result
    for ch in checks:
        if ch.paired:
            host_check(ch, space, protocol, say)
    # After a device measures a candidate over budget, LUT predictions near the budget are not trusted
    # as they are: candidates are skipped unless prediction × (worst decided/predicted ratio so far) fits.
    worst = {ch.constraint.name: 1.0 for ch in checks}
    for arch in ranked:
        if len(result.tried) >= max_candidates:
            break
        if any(float(ch.constraint.tables(arch)) * worst[ch.constraint.name] > ch.constraint.budget for ch in checks):
            continue
        entry: Dict = {"genome": arch.to_hex(), "devices": {}}
        ok = True
        for ch in checks:
            d = measure_on_device(space, arch, ch, protocol, strict_raw)
            if ch.factor is not None:
                d["host_check_factor"] = round(ch.factor, 4)
            entry["devices"][ch.constraint.name.split(":", 1)[1]] = d
            check_misfit(ch.constraint, d)
            ok &= d["within_budget"]
            worst[ch.constraint.name] = max(worst[ch.constraint.name], d["decided_ms"] / max(d["lut_ms"], 1e-9))
        entry["accepted"] = ok
        result.tried.append(entry)
        if on_try:
            on_try(entry)
        if ok:
            result.chosen = arch
            break
    return result
