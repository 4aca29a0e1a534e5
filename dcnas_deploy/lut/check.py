"""Re-measure architectures now and compare with a LUT's predictions (drift check, accuracy bench).

With a reference network in the LUT every architecture is timed in alternating turns with it, and
both figures are reported: raw (what the host does now) and normalised (at the table's nominal speed,
what the LUT predicts); their difference is the host speed factor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import numpy as np

from dcnas_deploy.lut.calibration import prediction_errors
from dcnas_deploy.lut.plausibility import allowed_mape_pct
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.protocol import Protocol

Measured = Dict[str, float]
"""One architecture measured now: raw_ms, normalised_ms (= raw_ms without a reference), factor (1.0 without)."""


def check_lut(path: Path | str, n: int, seed: int, protocol: Protocol = Protocol(),
              progress: Optional[Callable[[str, int, int], None]] = None,
              known: Optional[Mapping[str, Measured]] = None,
              on_measured: Optional[Callable[[str, Measured], None]] = None) -> Dict:
    """Predicted vs measured-now latencies of the first n architectures of a seeded sequence, with error figures
    and the MAPE beyond which the table fails the check (allowed_mape_pct).

    `known` (genome hex -> Measured, from an interrupted run) are not measured again; `on_measured(hex, m)`
    is called after each new measurement so a caller can save it.
    """
    from dcnas_deploy.runtimes.devices import profile_from_dict
    from dcnas_deploy.runtimes.modules import measure_arch, measure_arch_paired

    lut = LUT.load(path)
    space = lut.space()
    profile = profile_from_dict(lut.device, source=str(lut.path))
    archs = space.sample_sequence(n, seed)
    genomes = np.stack([a.array() for a in archs])
    predicted = lut.batch_latency(genomes, space)  # validates the table before any measurement
    rows = []
    for arch in archs:
        key = arch.to_hex()
        if known is not None and key in known:
            m = dict(known[key])
        else:
            if lut.reference is not None:
                s = lut.reference.speed(measure_arch_paired(space, arch, lut.reference.arch(), profile, protocol))
                m = {"raw_ms": s.raw_ms, "normalised_ms": s.normalised_ms, "factor": s.factor}
            else:
                raw_ms = measure_arch(space, arch, profile, protocol).median_ms
                m = {"raw_ms": raw_ms, "normalised_ms": raw_ms, "factor": 1.0}
            if on_measured:
                on_measured(key, m)
        rows.append(m)
        if progress:
            progress("measuring", 1, n)
    raw = np.array([m["raw_ms"] for m in rows])
    normalised = np.array([m["normalised_ms"] for m in rows])
    factor = np.array([m["factor"] for m in rows])
    return {"genomes": [a.to_hex() for a in archs], "raw_sum_ms": lut.raw_tables(space).batch(genomes),
            "predicted_ms": predicted, "measured_ms": raw, "normalised_ms": normalised, "factor": factor,
            "paired": lut.reference is not None,
            "errors": prediction_errors(predicted, normalised), "raw_errors": prediction_errors(predicted, raw),
            "median_ratio": float(np.median(normalised / predicted)),
            "median_raw_ratio": float(np.median(raw / predicted)), "median_factor": float(np.median(factor)),
            "allowed_mape_pct": allowed_mape_pct(lut)}
