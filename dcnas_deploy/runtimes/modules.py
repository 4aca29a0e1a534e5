"""Time torch modules on a device profile: convert each to the device's format, then measure it there.

The one path from an nn.Module to a device timing (LUT ops, calibration networks, benchmark of an
ARCH.yaml). Local PyTorch profiles are timed eagerly (a .pt2 wrapper adds ~45 µs per call).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from dcnas_deploy.runtimes.backends import get_backend, time_module
from dcnas_deploy.runtimes.connections import connect
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.protocol import Protocol, Timing
from dcnas_deploy.space import Arch, SearchSpace

ModuleAndInputs = Tuple[torch.nn.Module, Tuple[torch.Tensor, ...]]


def is_eager(profile: DeviceProfile) -> bool:
    """Whether this profile's timings are taken on eager PyTorch in this process."""
    return profile.runtime == "torch" and profile.connection_kind == "local"


def measure_modules(profile: DeviceProfile, items: Sequence[ModuleAndInputs], protocol: Protocol = Protocol(),
                    workdir: Optional[Path] = None, progress: Optional[Callable[[int], None]] = None
                    ) -> List[Timing]:
    """One Timing per (module, example_inputs), measured on `profile` the way it deploys."""
    if is_eager(profile):
        opts = {"threads": profile.threads, "device": profile.runtime_device, "precision": profile.precision}
        out = []
        for module, inputs in items:
            out.append(time_module(module, inputs, opts, protocol))
            if progress:
                progress(1)
        return out
    backend = get_backend(profile.runtime)
    precision = profile.precision if profile.precision in backend.precisions else "fp32"
    with tempfile.TemporaryDirectory(dir=workdir, prefix="dcnas-models-") as tmp:
        files = [backend.convert(module, inputs, Path(tmp) / f"m{i}{backend.file_suffix}", precision)
                 for i, (module, inputs) in enumerate(items)]
        # random feeds from each file's own static input shapes: an exporter may drop an input the
        # network ignores (e.g. the guide of an architecture whose fusions never use it)
        done = [0]

        def tick(n_done: int, total: int, path: Path) -> None:
            if progress:
                progress(n_done - done[0])
            done[0] = n_done

        return connect(profile).measure(files, protocol, None, progress=tick)


def measure_arch(space: SearchSpace, arch: Arch, profile: DeviceProfile, protocol: Protocol = Protocol(),
                 progress: Optional[Callable[[int], None]] = None) -> Timing:
    """End-to-end Timing of an architecture of `space` on `profile`: the seeded timing model, as LUTs calibrate."""
    from dcnas_deploy.model.subnet import timing_model

    return measure_modules(profile, [timing_model(space, arch)], protocol, progress=progress)[0]
