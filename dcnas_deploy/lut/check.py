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
    import torch

    from dcnas_deploy.model.subnet import SubNet
    from dcnas_deploy.runtimes.devices import profile_from_dict
    from dcnas_deploy.runtimes.modules import measure_modules

    profile = profile_from_dict(lut.device, source=str(lut.path))
    space = lut.space()
    h, w = space.hr_size
    out = []
    for arch in archs:
        torch.manual_seed(0)
        item = (SubNet(space, arch).eval(), (torch.rand(1, space.target_channels, h // space.scale, w // space.scale),
                                             torch.rand(1, space.guide_channels, h, w)))
        out.append(measure_modules(profile, [item], protocol)[0].median_ms)
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
    return {"predicted_ms": predicted, "measured_ms": measured, "errors": prediction_errors(predicted, measured),
            "median_ratio": float(np.median(measured / predicted))}
