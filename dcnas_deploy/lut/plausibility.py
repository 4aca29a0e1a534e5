"""Whether a loaded LUT can describe any device at all: checks of its numbers against each other.

A fingerprint says which host measured a table, not that its numbers are still the measured ones (a
hand edit, a bad merge or a unit slip keeps it intact). Every op is timed next to the table's reference
network, so op times, the reference and the calibration networks' end-to-end times must agree.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from dcnas_deploy.errors import ConfigError

if TYPE_CHECKING:
    from dcnas_deploy.lut.table import LUT

MAX_OP_OVER_REFERENCE = 10.0
"""One op may cost at most this many times the whole reference network (the worst measured: LiteRT's
mbconv k7e6 at 256x256 runs 4x the reference; CPU runtimes stay below 0.35x)."""
REFERENCE_SUM_BAND = (0.1, 10.0)
"""Σ ops of the reference network ÷ its timed nominal must lie in this band (measured: 0.82-1.70 on the shipped
tables, 0.34 on a quick eager-PyTorch table of a tiny geometry, where the whole network's own overhead dominates)."""
MIN_ALLOWED_MAPE_PCT = 15.0
"""A table's calibration networks may miss their predictions by max(3 × stated MAPE, this) on average."""


def allowed_mape_pct(lut: "LUT") -> float:
    """The MAPE (%) beyond which this table's predictions are refused: max(3 × its stated CV MAPE, 15 %)."""
    stated = lut.calibration.errors.get("mape_pct") if lut.calibration is not None else None
    if not isinstance(stated, (int, float)) or not np.isfinite(stated):
        return MIN_ALLOWED_MAPE_PCT
    return max(3.0 * float(stated), MIN_ALLOWED_MAPE_PCT)


def check_plausible(lut: "LUT") -> None:
    """ConfigError naming the LUT, the implausible number and the re-profiling command; silent when it holds up."""
    from dcnas_deploy.lut.commands import profile_command

    if lut.reference is None or not lut.reference.measurements:
        return  # older tables: nothing to hold the ops against (load warns about them)
    fix = f"re-profile: {profile_command(lut.device_name, lut.geometry, True)}"
    nominal = lut.reference.nominal_ms
    worst = max(lut.ops, key=lut.key_ms, default=None)
    if worst is not None and lut.key_ms(worst) > MAX_OP_OVER_REFERENCE * nominal:
        raise ConfigError(f"{lut.path}: op '{worst}' costs {lut.key_ms(worst):.4g} ms, "
                          f"{lut.key_ms(worst) / nominal:.0f}× the whole reference network ({nominal:.4g} ms) it "
                          f"was timed next to: the table was edited or is corrupt and cannot describe a device; {fix}")
    try:
        space = lut.space()
        hr = tuple(lut.geometry["hr"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{lut.path}: malformed geometry section ({type(exc).__name__}: {exc}); {fix}") from None
    if not {op.key for op in space.unique_ops(hr)} <= set(lut.ops):
        return  # still being profiled: the whole-network checks wait for every op
    ref_sum = float(lut.raw_tables(space)(lut.reference.arch()))
    lo, hi = REFERENCE_SUM_BAND
    if not lo <= ref_sum / nominal <= hi:
        raise ConfigError(f"{lut.path}: the reference network's ops add up to {ref_sum:.4g} ms but the network itself "
                          f"was timed at {nominal:.4g} ms ({ref_sum / nominal:.3g}×, expected {lo:g}-{hi:g}×): "
                          f"the op times were edited or are corrupt; {fix}")
    mape = calibration_mape_pct(lut)
    if mape is not None and mape > allowed_mape_pct(lut):
        stated = lut.calibration.errors.get("mape_pct") if lut.calibration is not None else None
        raise ConfigError(f"{lut.path}: its own calibration networks are predicted {mape:,.0f} % off their measured "
                          f"times (MAPE; the table states {stated} %, at most {allowed_mape_pct(lut):g} % is "
                          f"accepted): the op times or the calibration were edited or are corrupt; {fix}")


def calibration_mape_pct(lut: "LUT") -> Optional[float]:
    """MAPE (%) of the table's current predictions for its calibration networks vs their measured times."""
    from dcnas_deploy.lut.calibration import prediction_errors, record_normalised_ms
    from dcnas_deploy.space import Arch

    if lut.calibration is None or not lut.calibration.records:
        return None
    records = lut.calibration.records
    nominal = lut.reference.nominal_ms if lut.reference and lut.reference.measurements else None
    try:
        genomes = np.stack([Arch.from_hex(r["genome"]).array() for r in records])
        measured = np.array([record_normalised_ms(r, nominal) for r in records])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{lut.path}: malformed calibration record ({type(exc).__name__}: {exc}); re-profile "
                          f"with --force") from None
    if not (np.all(np.isfinite(measured)) and np.all(measured > 0)):
        raise ConfigError(f"{lut.path}: a calibration record has a measured time that is not a positive number; "
                          f"re-profile with --force")
    return float(prediction_errors(lut.cost_tables(lut.space()).batch(genomes), measured)["mape_pct"])

