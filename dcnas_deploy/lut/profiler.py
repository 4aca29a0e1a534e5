"""`profile_device`: measure every op of the space on a device, then calibrate on whole networks.

Incremental and resumable: the LUT file is rewritten atomically after every chunk, and a rerun
measures only what is missing (ops and calibration networks).
"""
from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from dcnas_deploy import __version__
from dcnas_deploy.errors import ConfigError, DeviceError
from dcnas_deploy.lut.calibration import cross_validated, fit_affine, plot_calibration, prediction_errors
from dcnas_deploy.lut.table import LUT, Calibration, default_lut_path, geometry_of, safe_name
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.space import SearchSpace

Progress = Callable[[str, int, int], None]
"""progress(stage, advance, total) — stage is 'ops' or 'calibration'."""


def host_fingerprint(info: dict) -> dict:
    """The provenance fields that must match for measurements to be mixed in one LUT."""
    return {k: info.get(k) for k in ("cpu", "gpu", "runtime_version")}


def _open_lut(profile: DeviceProfile, space: SearchSpace, out: Path, info: dict, protocol: Protocol,
              force: bool) -> LUT:
    """Existing LUT to extend (same device, geometry, host) or a fresh one."""
    fresh = LUT(device=profile.to_dict(), geometry=geometry_of(space), path=out,
                provenance={"runtime": profile.runtime, "runtime_version": info.get("runtime_version"),
                            "host": info, "threads": profile.threads, "measured_by": f"dcnas-deploy {__version__}",
                            "protocol": protocol.to_dict()})
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
    old, new = host_fingerprint(lut.provenance.get("host", {})), host_fingerprint(info)
    if old != new:
        raise ConfigError(f"{out} was measured on another host/runtime ({old}) than this one ({new}); "
                          f"mixing them would make a dishonest table: use --force to re-measure, or another --out")
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


def measure_overhead(profile: DeviceProfile, protocol: Protocol) -> float:
    """Per-call overhead (ms): the median of a trivial one-add model on this device."""
    import torch

    from dcnas_deploy.model.op_models import Add
    from dcnas_deploy.runtimes.modules import measure_modules

    x = torch.zeros(1, 1, 1, 1)
    return measure_modules(profile, [(Add().eval(), (x, x))], protocol)[0].median_ms


def profile_device(profile: DeviceProfile, space: SearchSpace, out: Path, calibrate: int = 50,
                   force: bool = False, protocol: Protocol = Protocol(), chunk: int = 8, seed: int = 0,
                   progress: Optional[Progress] = None) -> LUT:
    """Measure missing ops and calibration networks of `space` on `profile`, saving `out` as it goes."""
    from dcnas_deploy.model.op_models import op_model
    from dcnas_deploy.runtimes.modules import measure_arch, measure_modules

    progress = progress or (lambda stage, advance, total: None)
    started = time.perf_counter()
    info = _runtime_info(profile)
    lut = _open_lut(profile, space, Path(out), info, protocol, force)
    already = float(lut.provenance.get("profiling_seconds", 0.0))

    def stamp() -> None:
        lut.provenance["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        lut.provenance["profiling_seconds"] = round(already + time.perf_counter() - started, 1)
    if "per_call_overhead_ms" not in lut.provenance:
        lut.provenance["per_call_overhead_ms"] = round(measure_overhead(profile, protocol), 6)

    todo = lut.missing(space.unique_ops())
    for i in range(0, len(todo), chunk):
        ops = todo[i:i + chunk]
        timings = measure_modules(profile, [op_model(op) for op in ops], protocol,
                                  progress=lambda n: progress("ops", n, len(todo)))
        lut.ops.update({op.key: t for op, t in zip(ops, timings)})
        stamp()
        lut.save()

    records = lut.calibration.records if lut.calibration else []
    done = {r["genome"] for r in records}
    # `calibrate` is the number of networks wanted: a rerun with the same or a smaller N measures none.
    todo_archs = [a for a in space.sample_sequence(calibrate + len(records), seed)
                  if a.to_hex() not in done][:max(0, calibrate - len(records))]
    raw = lut.raw_tables(space)
    count = space.cost_tables(lambda op: 1)
    for arch in todo_archs:
        timing = measure_arch(space, arch, profile, protocol,
                              progress=lambda n: progress("calibration", n, len(todo_archs)))
        records.append({"genome": arch.to_hex(), "lut_sum_ms": round(raw(arch), 6), "n_ops": int(count(arch)),
                        "measured": timing.to_dict()})
        lut.calibration = _fit(records, lut.overhead_ms)
        stamp()
        lut.save()
    if lut.calibration is not None and (todo_archs or not calibration_plot_path(lut).is_file()):
        _plot(lut)
    return lut


def _fit(records: List[dict], overhead_ms: float) -> Calibration:
    """Affine correction over all records, errors from 5-fold out-of-fold predictions."""
    x = np.array([r["lut_sum_ms"] - r["n_ops"] * overhead_ms for r in records])
    y = np.array([r["measured"]["median_ms"] for r in records])
    a, b = fit_affine(x, y)
    errors = prediction_errors(cross_validated(x, y), y)
    errors["method"] = "5-fold cross-validation" if len(x) >= 3 else "in-sample (fewer than 3 networks)"
    errors["raw_sum_mape_pct"] = prediction_errors(np.array([r["lut_sum_ms"] for r in records]), y)["mape_pct"]
    return Calibration(a, b, {k: v for k, v in errors.items()}, records)


def calibration_plot_path(lut: LUT) -> Path:
    """Scatter PNG saved next to the LUT."""
    return lut.path.with_suffix(".calibration.png")


def _plot(lut: LUT) -> Path:
    recs = lut.calibration.records
    x = np.array([r["lut_sum_ms"] - r["n_ops"] * lut.overhead_ms for r in recs])
    y = np.array([r["measured"]["median_ms"] for r in recs])
    errs = {k: v for k, v in lut.calibration.errors.items() if isinstance(v, float)}
    return plot_calibration(np.array([r["lut_sum_ms"] for r in recs]), cross_validated(x, y), y, errs,
                            f"{lut.device['name']} ({lut.provenance['runtime']}), {len(recs)} networks",
                            calibration_plot_path(lut))
