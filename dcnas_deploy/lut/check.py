"""Re-measure architectures now and compare with a LUT's predictions (drift check, accuracy bench)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from dcnas_deploy.lut.calibration import prediction_errors
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.space import Arch


def measure_archs(lut: LUT, archs: List[Arch], protocol: Protocol = Protocol(),
                  progress: Optional[Callable[[str, int, int], None]] = None) -> np.ndarray:
    """End-to-end medians (ms) of architectures on the LUT's device, measured now."""
    from dcnas_deploy.model.subnet import timing_model
    from dcnas_deploy.runtimes.devices import profile_from_dict
    from dcnas_deploy.runtimes.modules import measure_modules

    profile = profile_from_dict(lut.device, source=str(lut.path))
    space = lut.space()
    out = []
    for arch in archs:
        out.append(measure_modules(profile, [timing_model(space, arch)], protocol)[0].median_ms)
        if progress:
            progress("measuring", 1, len(archs))
    return np.array(out)


def check_lut(path: Path | str, n: int, seed: int, protocol: Protocol = Protocol(),
              progress: Optional[Callable[[str, int, int], None]] = None) -> Dict:
    """Predicted vs measured-now latencies of n random architectures, with error figures."""
    lut = LUT.load(path)
    space = lut.space()
    archs = [Arch(g) for g in space.sample_genomes(n, seed)]
    predicted = lut.batch_latency(np.stack([a.array() for a in archs]), space)
    measured = measure_archs(lut, archs, protocol, progress)
    return {"genomes": [a.to_hex() for a in archs], "raw_sum_ms": lut.raw_tables(space).batch(
                np.stack([a.array() for a in archs])), "predicted_ms": predicted, "measured_ms": measured, "errors": prediction_errors(predicted, measured),
            "median_ratio": float(np.median(measured / predicted))}
