"""Re-measure architectures now and compare with a LUT's predictions (drift check, accuracy bench)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import numpy as np

from dcnas_deploy.lut.calibration import prediction_errors
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.protocol import Protocol


def check_lut(path: Path | str, n: int, seed: int, protocol: Protocol = Protocol(),
              progress: Optional[Callable[[str, int, int], None]] = None,
              known_ms: Optional[Mapping[str, float]] = None,
              on_measured: Optional[Callable[[str, float], None]] = None) -> Dict:
    """Predicted vs measured-now latencies of the first n architectures of a seeded sequence, with error figures.

    `known_ms` (genome hex -> ms, from an interrupted run) are not measured again; `on_measured(hex, ms)`
    is called after each new measurement so a caller can save it.
    """
    from dcnas_deploy.runtimes.devices import profile_from_dict
    from dcnas_deploy.runtimes.modules import measure_arch

    lut = LUT.load(path)
    space = lut.space()
    profile = profile_from_dict(lut.device, source=str(lut.path))
    archs = space.sample_sequence(n, seed)
    genomes = np.stack([a.array() for a in archs])
    measured = []
    for arch in archs:
        key = arch.to_hex()
        if known_ms is not None and key in known_ms:
            ms = float(known_ms[key])
        else:
            ms = measure_arch(space, arch, profile, protocol).median_ms
            if on_measured:
                on_measured(key, ms)
        measured.append(ms)
        if progress:
            progress("measuring", 1, n)
    predicted = lut.batch_latency(genomes, space)
    measured = np.array(measured)
    return {"genomes": [a.to_hex() for a in archs], "raw_sum_ms": lut.raw_tables(space).batch(genomes),
            "predicted_ms": predicted, "measured_ms": measured, "errors": prediction_errors(predicted, measured),
            "median_ratio": float(np.median(measured / predicted))}
