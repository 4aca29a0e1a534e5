"""`profile_device`: measure every op of the space on a device, then calibrate on whole networks.

Speed drift is measured, not assumed away: a fixed reference network (lut.reference) is timed before
the first chunk of ops and after every chunk, and in alternating turns with every calibration network.
Each op keeps the reference's speed around its chunk, each network its paired ratio to the reference,
so the table can state everything at the profile's nominal speed.

Incremental and resumable: the LUT file is rewritten atomically after every chunk and network, and
a rerun measures only what is missing (on the same host: the fingerprint must match).
"""
from __future__ import annotations

import datetime as _dt
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy import __version__
from dcnas_deploy.errors import ConfigError, DcnasError, DeviceError
from dcnas_deploy.lut.calibration import (cross_validated, fit_affine, plot_calibration, prediction_errors,
                                          record_normalised_ms)
from dcnas_deploy.lut.reference import Reference, reference_arch
from dcnas_deploy.lut.table import LUT, Calibration, default_lut_path, geometry_of, safe_name
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.fingerprint import device_fingerprint
from dcnas_deploy.runtimes.protocol import CALIBRATION_NETWORKS, Protocol
from dcnas_deploy.space import Arch, SearchSpace

Progress = Callable[[str, int, int], None]
"""progress(stage, advance, total) — stage is 'ops' or 'calibration'."""

"""Calibration networks by default (see README: held-out accuracy vs number of calibration networks)."""


def _open_lut(profile: DeviceProfile, space: SearchSpace, out: Path, info: dict, fingerprint: dict,
              protocol: Protocol, force: bool) -> LUT:
    """Existing LUT to extend (same device, geometry, host fingerprint) or a fresh one."""
    fresh = LUT(device=profile.to_dict(), geometry=geometry_of(space), path=out,
                provenance={"runtime": profile.runtime, "runtime_version": info.get("runtime_version"),
                            "host": info, "fingerprint": fingerprint, "threads": profile.threads,
                            "measured_by": f"dcnas-deploy {__version__}", "protocol": protocol.to_dict()},
                reference=Reference(reference_arch().to_hex()))
    if fingerprint.get("emulation"):  # timings of an emulator: kept, but never mistaken for the device's (search refuses)
        fresh.provenance["emulated"] = fingerprint["emulation"]
    if force or not out.is_file():
        return fresh
    lut = LUT.load(out)
    if lut.geometry != fresh.geometry:
        diff = ", ".join(f"{k} {lut.geometry.get(k)} (this run: {v})" for k, v in fresh.geometry.items()
                         if lut.geometry.get(k) != v)
        raise ConfigError(f"{out} already holds a LUT of another geometry ({diff}): give another --out (for this "
                          f"geometry the default is {default_lut_path(safe_name(profile.name), space)}), or "
                          f"--force to replace that table")
    if lut.device.get("name") != profile.name or lut.provenance.get("runtime") != profile.runtime:
        raise ConfigError(f"{out} was measured for device {lut.device.get('name')!r} "
                          f"({lut.provenance.get('runtime')}), not {profile.name!r}: pick another --out or --force")
    if lut.reference is None:
        raise ConfigError(f"{out} predates reference networks and host fingerprints, so it cannot be extended: "
                          "re-measure it with --force (or give another --out)")
    lut.require_host(fingerprint, "extended on this host (mixing hosts would make a dishonest table)")
    return lut


def _runtime_info(profile: DeviceProfile) -> dict:
    from dcnas_deploy.runtimes.connections import connect

    conn = connect(profile)
    ok, why = conn.reachable()
    if not ok:
        raise DeviceError(f"device {profile.name} is not reachable: {why}")
    info = dict(conn.info())
    info.setdefault("runtime_version", (info.get("runtimes") or {}).get(profile.runtime))
    return info


def current_fingerprint(profile: DeviceProfile) -> dict:
    """The fingerprint of the host that measures `profile` now (it must be reachable)."""
    return device_fingerprint(profile, _runtime_info(profile))


def reusable_lut(path: Path, profile: DeviceProfile, space: SearchSpace) -> Tuple[Optional[LUT], str]:
    """(the LUT at `path`, "") when it may be reused here as it is, else (None, why not).

    Reuse needs the same device profile, geometry and every op, a calibration, a reference network, and a
    host fingerprint that matches this device's now on every field that decides speed.
    """
    if not Path(path).is_file():
        return None, f"no LUT at {path}"
    try:
        lut = LUT.load(path)
        lut.check_geometry(space)
        lut.check_ops(space)
        if lut.device_name != profile.name:
            return None, f"{path} is for device {lut.device_name!r}, not {profile.name!r}"
        if lut.calibration is None:
            return None, f"{path} has no calibration"
        if lut.reference is None:
            return None, f"{path} predates reference networks and host fingerprints"
        lut.require_host(current_fingerprint(profile.with_threads(lut.device.get("threads"))), "reused")
    except ConfigError as exc:
        return None, str(exc)
    return lut, ""


def measure_overhead(profile: DeviceProfile, protocol: Protocol) -> float:
    """Per-call overhead (ms): the median of a trivial one-add model on this device."""
    import torch

    from dcnas_deploy.model.op_models import Add
    from dcnas_deploy.runtimes.modules import measure_modules

    x = torch.zeros(1, 1, 1, 1)
    return measure_modules(profile, [(Add().eval(), (x, x))], protocol)[0].median_ms


def profile_device(profile: DeviceProfile, space: SearchSpace, out: Path, calibrate: int = CALIBRATION_NETWORKS,
                   force: bool = False, protocol: Protocol = Protocol(), chunk: int = 8, seed: int = 0,
                   progress: Optional[Progress] = None) -> LUT:
    """Measure missing ops and calibration networks of `space` on `profile`, saving `out` as it goes."""
    from dcnas_deploy.model.op_models import op_model
    from dcnas_deploy.model.subnet import timing_model
    from dcnas_deploy.runtimes.modules import Measurer

    progress = progress or (lambda stage, advance, total: None)
    started = time.perf_counter()
    info = _runtime_info(profile)
    lut = _open_lut(profile, space, Path(out), info, device_fingerprint(profile, info), protocol, force)
    already = float(lut.provenance.get("profiling_seconds", 0.0))
    ref = lut.reference
    assert ref is not None  # _open_lut refuses a table without a reference network

    def at_s() -> float:
        return already + time.perf_counter() - started

    def stamp() -> None:
        lut.provenance["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        lut.provenance["profiling_seconds"] = round(at_s(), 1)
        lut.provenance["protocol"] = protocol.to_dict()

    if "per_call_overhead_ms" not in lut.provenance:
        lut.provenance["per_call_overhead_ms"] = round(measure_overhead(profile, protocol), 6)

    with Measurer(profile, protocol, timing_model(space, ref.arch())) as m:
        todo = lut.missing(space.unique_ops())
        before = ref.add("before ops" if not ref.measurements else "resumed", m.reference(), at_s()) if todo else None
        for i in range(0, len(todo), chunk):
            ops = todo[i:i + chunk]
            timings = m.modules([op_model(op) for op in ops], progress=lambda n: progress("ops", n, len(todo)))
            after = ref.add(f"after ops {i + 1}-{i + len(ops)}", m.reference(), at_s())
            assert before is not None  # set above whenever there is a chunk to measure
            local = (before + after) / 2.0  # the host's speed while this chunk ran
            for op, t in zip(ops, timings):
                lut.ops[op.key] = t
                lut.op_reference_ms[op.key] = local
            before = after
            stamp()
            _save(lut)

        records = lut.calibration.records if lut.calibration else []
        done = {r["genome"] for r in records}
        # `calibrate` is the number of networks wanted: a rerun with the same or a smaller N measures none.
        todo_archs = [a for a in space.sample_sequence(calibrate + len(records), seed)
                      if a.to_hex() not in done][:max(0, calibrate - len(records))]
        count = space.cost_tables(lambda op: 1)
        for arch in todo_archs:
            paired = m.paired([timing_model(space, arch)],
                              progress=lambda n: progress("calibration", n, len(todo_archs)))[0]
            ref.add(f"paired with network {len(records) + 1}", paired.reference, at_s())
            records.append({"genome": arch.to_hex(), "n_ops": int(count(arch)), "measured": paired.candidate.to_dict(),
                            "paired": {"ratio": round(paired.ratio, 6), "reference_ms": round(paired.reference.median_ms, 6),
                                       "ratio_ci_pct": None if paired.ratio_ci_pct is None else round(paired.ratio_ci_pct, 3),
                                       "rounds": paired.rounds}})
            lut.calibration = refit(lut, space, records)
            stamp()
            _save(lut)
    if lut.calibration is not None and todo_archs:
        lut.calibration = refit(lut, space, lut.calibration.records)  # the nominal speed moved as it was measured
        _save(lut)
    if lut.calibration is not None and (todo_archs or not calibration_plot_path(lut).is_file()):
        plot(lut)
    return lut


def _save(lut: LUT) -> None:
    """lut.save(); a full disk is a DcnasError saying what the file keeps and that a rerun resumes."""
    from dcnas_deploy.fileio import disk_full

    assert lut.path is not None  # a profiled table has its --out
    existed = lut.path.is_file()
    try:
        lut.save()
    except OSError as exc:
        if not disk_full(exc):
            raise
        kept = ("it still holds everything measured up to the previous save (the table is rewritten whole after "
                "every chunk, never half-written)" if existed else "nothing had been saved yet")
        raise DcnasError(f"no space left on the device to write the LUT {lut.path}: {kept}; free some space and rerun "
                         f"the same command: it resumes, measuring only what is missing") from None


def refit(lut: LUT, space: SearchSpace, records: List[dict]) -> Calibration:
    """Affine correction over all records at the nominal speed, errors from 5-fold out-of-fold predictions."""
    nominal = lut.reference.nominal_ms if lut.reference and lut.reference.measurements else None
    raw = lut.raw_tables(space)
    genomes = np.stack([Arch.from_hex(r["genome"]).array() for r in records])
    sums = raw.batch(genomes)
    for r, s in zip(records, sums):
        r["lut_sum_ms"] = round(float(s), 6)
    x = lut.net_tables(space).batch(genomes)
    y = np.array([record_normalised_ms(r, nominal) for r in records])
    a, b = fit_affine(x, y)
    errors: Dict[str, Any] = prediction_errors(cross_validated(x, y), y)
    errors["method"] = "5-fold cross-validation" if len(x) >= 3 else "in-sample (fewer than 3 networks)"
    errors["raw_sum_mape_pct"] = prediction_errors(sums, y)["mape_pct"]
    errors["target"] = "latency at the nominal speed (paired with the reference)" if nominal else "raw latency"
    return Calibration(a, b, dict(errors), records)


def calibration_plot_path(lut: LUT) -> Path:
    """Scatter PNG saved next to the LUT."""
    assert lut.path is not None  # a profiled table has been saved
    return lut.path.with_suffix(".calibration.png")


def plot(lut: LUT) -> Path:
    """Calibration scatter (and, with a reference, its drift during profiling) next to the LUT."""
    assert lut.calibration is not None  # called only for a calibrated table
    recs = lut.calibration.records
    nominal = lut.reference.nominal_ms if lut.reference and lut.reference.measurements else None
    x = lut.net_tables(lut.space()).batch(np.stack([Arch.from_hex(r["genome"]).array() for r in recs]))
    y = np.array([record_normalised_ms(r, nominal) for r in recs])
    errs = {k: v for k, v in lut.calibration.errors.items() if isinstance(v, float)}
    drift = None
    if lut.reference is not None and lut.reference.measurements:
        drift = ([m["at_s"] for m in lut.reference.measurements],
                 [m["median_ms"] / nominal for m in lut.reference.measurements])
    return plot_calibration(np.array([r["lut_sum_ms"] for r in recs]), cross_validated(x, y), y, errs,
                            f"{lut.device['name']} ({lut.provenance['runtime']}), {len(recs)} networks",
                            calibration_plot_path(lut), drift=drift)


def reference_summary(lut: LUT) -> str:
    """One line on the reference network's spread while profiling."""
    if lut.reference is None or not lut.reference.measurements:
        return "no reference network (older table)"
    med = [m["median_ms"] for m in lut.reference.measurements]
    nominal = lut.reference.nominal_ms
    return (f"reference network {nominal:.3f} ms nominal, {len(med)} timings while profiling: "
            f"{min(med) / nominal:.3f}–{max(med) / nominal:.3f}× nominal "
            f"(median |deviation| {100 * statistics.median(abs(v / nominal - 1) for v in med):.1f} %)")
