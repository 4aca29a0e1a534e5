"""Time torch modules on a device profile: convert each to the device's format, then measure it there.

The one path from an nn.Module to a device timing (LUT ops, calibration networks, the closed loop,
benchmark of an ARCH.yaml). Local PyTorch profiles are timed eagerly (a .pt2 wrapper adds ~45 µs per
call). `Measurer` keeps a reference model converted once, to time it alone (around chunks of ops) or in
alternating turns with each module (paired measurement, see runtimes.protocol.measure_paired).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from dcnas_deploy.runtimes.backends import get_backend, time_module, time_modules_paired
from dcnas_deploy.runtimes.connections import connect
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.protocol import PairedTiming, Protocol, Timing
from dcnas_deploy.space import Arch, SearchSpace

ModuleAndInputs = Tuple[torch.nn.Module, Tuple[torch.Tensor, ...]]


def is_eager(profile: DeviceProfile) -> bool:
    """Whether this profile's timings are taken on eager PyTorch in this process."""
    return profile.runtime == "torch" and profile.connection_kind == "local"


class Measurer:
    """Times modules on one device profile, optionally next to a reference model converted once.

    Use as a context manager: converted files live in a temporary folder until it exits.
    """

    def __init__(self, profile: DeviceProfile, protocol: Protocol = Protocol(),
                 reference: Optional[ModuleAndInputs] = None, workdir: Optional[Path] = None):
        self.profile, self.protocol, self._reference = profile, protocol, reference
        self._workdir = workdir
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._ref_file: Optional[Path] = None
        self._count = 0

    def __enter__(self) -> "Measurer":
        self._tmp = tempfile.TemporaryDirectory(dir=self._workdir, prefix="dcnas-models-")
        return self

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def _eager_options(self) -> dict:
        p = self.profile
        return {"threads": p.threads, "device": p.runtime_device, "precision": p.precision}

    def _convert(self, module: torch.nn.Module, inputs: Tuple[torch.Tensor, ...], name: str) -> Path:
        if self._tmp is None:
            raise RuntimeError("Measurer used outside its `with` block")
        backend = get_backend(self.profile.runtime)
        precision = self.profile.precision if self.profile.precision in backend.precisions else "fp32"
        return backend.convert(module, inputs, Path(self._tmp.name) / f"{name}{backend.file_suffix}", precision)

    def _files(self, items: Sequence[ModuleAndInputs]) -> List[Path]:
        files = []
        for module, inputs in items:
            self._count += 1
            files.append(self._convert(module, inputs, f"m{self._count}"))
        return files

    def _reference_file(self) -> Path:
        if self._reference is None:
            raise RuntimeError("this Measurer has no reference model")
        if self._ref_file is None:
            self._ref_file = self._convert(self._reference[0], self._reference[1], "reference")
        return self._ref_file

    @staticmethod
    def _ticker(progress: Optional[Callable[[int], None]]) -> Callable[[int, int, Path], None]:
        done = [0]

        def tick(n_done: int, total: int, path: Path) -> None:
            if progress:
                progress(n_done - done[0])
            done[0] = n_done

        return tick

    def modules(self, items: Sequence[ModuleAndInputs], progress: Optional[Callable[[int], None]] = None
                ) -> List[Timing]:
        """One Timing per (module, example_inputs), measured the way it deploys."""
        if is_eager(self.profile):
            out = []
            for module, inputs in items:
                out.append(time_module(module, inputs, self._eager_options, self.protocol))
                if progress:
                    progress(1)
            return out
        # random feeds from each file's own static input shapes: an exporter may drop an input the
        # network ignores (e.g. the guide of an architecture whose fusions never use it)
        return connect(self.profile).measure(self._files(items), self.protocol, None, progress=self._ticker(progress))

    def reference(self) -> Timing:
        """The reference model timed alone."""
        if is_eager(self.profile):
            return time_module(self._reference[0], self._reference[1], self._eager_options, self.protocol)  # type: ignore[index]  # reference given
        return connect(self.profile).measure([self._reference_file()], self.protocol)[0]

    def paired_files(self, files: Sequence[Path]) -> List[PairedTiming]:
        """Model files of the profile's runtime, each in alternating turns with the reference (as a file)."""
        if is_eager(self.profile):  # files run through the torch runtime: the reference must be a file too
            ref = self._convert(self._reference[0], self._reference[1], "reference")  # type: ignore[index]  # reference given
        else:
            ref = self._reference_file()
        return connect(self.profile).measure_paired(list(files), ref, self.protocol)

    def paired(self, items: Sequence[ModuleAndInputs], progress: Optional[Callable[[int], None]] = None
               ) -> List[PairedTiming]:
        """One PairedTiming per (module, inputs): alternating turns with the reference."""
        if is_eager(self.profile):
            ref_module, ref_inputs = self._reference  # type: ignore[misc]  # reference given
            out = []
            for module, inputs in items:
                out.append(time_modules_paired(module, inputs, ref_module, ref_inputs, self._eager_options,
                                               self.protocol))
                if progress:
                    progress(1)
            return out
        ref = self._reference_file()
        return connect(self.profile).measure_paired(self._files(items), ref, self.protocol,
                                                    progress=self._ticker(progress))


def measure_modules(profile: DeviceProfile, items: Sequence[ModuleAndInputs], protocol: Protocol = Protocol(),
                    workdir: Optional[Path] = None, progress: Optional[Callable[[int], None]] = None
                    ) -> List[Timing]:
    """One Timing per (module, example_inputs), measured on `profile` the way it deploys."""
    with Measurer(profile, protocol, workdir=workdir) as m:
        return m.modules(items, progress)


def measure_arch(space: SearchSpace, arch: Arch, profile: DeviceProfile, protocol: Protocol = Protocol(),
                 progress: Optional[Callable[[int], None]] = None) -> Timing:
    """End-to-end Timing of an architecture of `space` on `profile`: the seeded timing model, as LUTs calibrate."""
    from dcnas_deploy.model.subnet import timing_model

    return measure_modules(profile, [timing_model(space, arch)], protocol, progress=progress)[0]


def measure_archs_paired(space: SearchSpace, archs: Sequence[Arch], reference: Arch, profile: DeviceProfile,
                         protocol: Protocol = Protocol(), progress: Optional[Callable[[int], None]] = None
                         ) -> List[PairedTiming]:
    """Architectures timed end to end, each in alternating turns with `reference` (converted once)."""
    from dcnas_deploy.model.subnet import timing_model

    with Measurer(profile, protocol, timing_model(space, reference)) as m:
        return m.paired([timing_model(space, a) for a in archs], progress)


def measure_arch_paired(space: SearchSpace, arch: Arch, reference: Arch, profile: DeviceProfile,
                        protocol: Protocol = Protocol(), progress: Optional[Callable[[int], None]] = None
                        ) -> PairedTiming:
    """One architecture timed end to end in alternating turns with a reference architecture of the same space."""
    return measure_archs_paired(space, [arch], reference, profile, protocol, progress)[0]
