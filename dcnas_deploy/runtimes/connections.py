"""Device connections: how model files get timed on a device (here, through an agent, over adb).

A `Connection` answers three questions for one device profile: is it reachable now (and if not,
why), what host is it (provenance), and how long do these model files take there. Kinds are a
registry of lazily imported classes, so a new kind is one line in `CONNECTIONS`.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from dcnas_deploy.errors import ConfigError, DcnasError, DeviceError
from dcnas_deploy.runtimes.sessions import FeedsOrShapes, time_file
from dcnas_deploy.runtimes.table import RUNTIMES
from dcnas_deploy.runtimes.protocol import PairedTiming, Protocol, Timing, median_ci_pct

if TYPE_CHECKING:
    from dcnas_deploy.runtimes.devices import DeviceProfile

Progress = Callable[[int, int, Path], None]
"""progress(done, total, file_just_measured)."""

CONNECTIONS: Dict[str, str] = {
    "local": "dcnas_deploy.runtimes.connections:LocalConnection",
    "agent": "dcnas_deploy.runtimes.agent_client:AgentConnection",
    "adb": "dcnas_deploy.runtimes.adb:AdbConnection",
}
"""connection kind -> 'module:Class' (imported when first used)."""


class Connection:
    """How one device profile is measured. Subclasses set `kind` and `KEYS` and override the methods."""

    kind: ClassVar[str] = ""
    KEYS: ClassVar[Mapping[str, Any]] = {}
    """Connection keys this kind accepts besides 'kind', with their defaults."""

    def __init__(self, profile: "DeviceProfile"):
        self.profile = profile
        self.config = dict(profile.connection)

    @classmethod
    def validate(cls, config: Mapping[str, Any], source: str) -> Dict[str, Any]:
        """Check a profile's `connection:` mapping (unknown keys are errors) and fill defaults."""
        unknown = sorted(set(config) - {"kind"} - set(cls.KEYS))
        if unknown:
            raise ConfigError(f"{source}: unknown connection key(s) {unknown} for kind {cls.kind!r}; "
                              f"allowed: {sorted(cls.KEYS)}")
        merged = {"kind": cls.kind}
        merged.update(cls.KEYS)
        merged.update(config)
        return merged

    def reachable(self) -> Tuple[bool, str]:
        """(True, where) when measuring would work now, else (False, why not)."""
        raise NotImplementedError

    def info(self) -> Dict[str, Any]:
        """Provenance of the measuring host: CPU, GPU, OS, runtime version, threads."""
        raise NotImplementedError

    def measure(self, files: Sequence[Path], protocol: Protocol = Protocol(),
                feeds_or_shapes: Optional[Sequence[Optional[FeedsOrShapes]]] = None,
                progress: Optional[Progress] = None) -> List[Timing]:
        """Time each model file (one Timing per file, same order); feeds_or_shapes: one entry per file."""
        raise NotImplementedError

    def measure_paired(self, files: Sequence[Path], reference: Path, protocol: Protocol = Protocol(),
                       progress: Optional[Progress] = None) -> List[PairedTiming]:
        """Time each file in alternating turns with `reference` (one PairedTiming per file, same order).

        This default works over any connection: each turn is its own measurement of one file (loaded
        anew), `protocol.rounds` rounds of (reference, file) sent as one batch. Connections that can keep
        both models loaded (local) override it.
        """
        turn = Protocol(warmup_runs=1, warmup_s=0.0, timed_runs=1, timed_s=protocol.turn_s, max_runs=protocol.max_runs,
                        max_s=protocol.max_s, target_ci_pct=0.0, keep_freed_memory=protocol.keep_freed_memory)
        rounds = max(1, protocol.rounds)
        out: List[PairedTiming] = []
        for i, path in enumerate(files):
            timings = self.measure([reference, path] * rounds, turn)
            ref_turns, cand_turns = timings[0::2], timings[1::2]
            out.append(paired_from_turns(cand_turns, ref_turns))
            if progress is not None:
                progress(i + 1, len(files), Path(path))
        return out


def paired_from_turns(candidate: Sequence[Timing], reference: Sequence[Timing]) -> PairedTiming:
    """A PairedTiming from per-turn Timings of alternating separate measurements."""
    import statistics

    ratios = sorted(c.median_ms / max(r.median_ms, 1e-12) for c, r in zip(candidate, reference))

    def pooled(turns: Sequence[Timing]) -> Timing:
        return Timing(statistics.median(t.median_ms for t in turns), min(t.p10_ms for t in turns),
                      max(t.p90_ms for t in turns), sum(t.count for t in turns))

    ci = median_ci_pct(ratios)
    return PairedTiming(pooled(candidate), pooled(reference), statistics.median(ratios),
                        ci if ci != float("inf") else None, len(ratios))


def connection_class(kind: str) -> type[Connection]:
    """The Connection class for a kind (ConfigError for unknown kinds, DeviceError if its module is missing)."""
    if kind not in CONNECTIONS:
        raise ConfigError(f"unknown connection kind {kind!r}; known: {sorted(CONNECTIONS)}")
    module_name, cls_name = CONNECTIONS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeviceError(f"connection kind {kind!r} is not available in this install ({exc})") from None
    return getattr(module, cls_name)


def validate_connection(config: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """Validate a profile's connection mapping with its kind's class (deferred if that class is missing)."""
    kind = config.get("kind")
    try:
        cls = connection_class(str(kind))
    except DeviceError:
        return dict(config)  # reported by reachable()/connect() instead
    return cls.validate(config, source)


def connect(profile: "DeviceProfile") -> Connection:
    """The connection object for a profile."""
    return connection_class(profile.connection_kind)(profile)


def check_reachable(profile: "DeviceProfile") -> Tuple[bool, str]:
    """reachable() of the profile's connection, with any error turned into (False, reason)."""
    try:
        return connect(profile).reachable()
    except DcnasError as exc:
        return False, str(exc)
    except Exception as exc:  # a broken runtime install must not break listing devices
        return False, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# local
# --------------------------------------------------------------------------------------------

def _module_installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None  # None: import blocked (as tests and some tools do)
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _check_torch(profile: "DeviceProfile") -> Tuple[bool, str]:
    import torch

    if not profile.runtime_device.startswith("cuda"):
        return True, f"torch {torch.__version__} on CPU"
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        return False, f"torch.cuda.is_available() is False (torch {torch.__version__}, {build})"
    name = torch.cuda.get_device_name(0)
    if profile.gpu_name and profile.gpu_name.lower() not in name.lower():
        return False, f"local GPU is {name!r}, this profile needs {profile.gpu_name!r} (use an agent connection)"
    return True, f"{name} (torch {torch.__version__})"


def _check_openvino(profile: "DeviceProfile") -> Tuple[bool, str]:
    from dcnas_deploy.runtimes.sessions import openvino_core, runtime_version

    _, core = openvino_core()
    available = list(core.available_devices)
    if profile.runtime_device not in available and profile.runtime_device.split(".")[0] not in available:
        hint = " (MYRIAD needs OpenVINO <= 2022.3 on its host: use an agent)" if profile.runtime_device == "MYRIAD" else ""
        return False, f"OpenVINO {runtime_version('openvino')} has no {profile.runtime_device} device here; available: {available}{hint}"
    return True, f"OpenVINO {runtime_version('openvino')} {profile.runtime_device}"


def _check_onnxruntime(profile: "DeviceProfile") -> Tuple[bool, str]:
    import onnxruntime as ort

    if profile.runtime_device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (providers: {ort.get_available_providers()})"
    return True, f"onnxruntime {ort.__version__} {profile.runtime_device}"


def _check_litert(profile: "DeviceProfile") -> Tuple[bool, str]:
    from dcnas_deploy.runtimes.sessions import runtime_version

    if profile.runtime_device != "cpu":
        return False, f"the local LiteRT interpreter runs on cpu only, not {profile.runtime_device} (use adb)"
    xnn = "XNNPACK on" if profile.options.get("xnnpack", True) else "XNNPACK off"
    return True, f"LiteRT {runtime_version('litert')} cpu, {xnn}"


LOCAL_CHECKS: Dict[str, Callable[["DeviceProfile"], Tuple[bool, str]]] = {
    "torch": _check_torch,
    "openvino": _check_openvino,
    "onnxruntime": _check_onnxruntime,
    "litert": _check_litert,
}
"""runtime -> check that the profile's runtime device exists on this host."""


class LocalConnection(Connection):
    """Measure in this process with sessions.time_file."""

    kind = "local"
    KEYS: ClassVar[Mapping[str, Any]] = {}

    def reachable(self) -> Tuple[bool, str]:
        """Runtime installed and its device present here."""
        runtime = self.profile.runtime
        if not _module_installed(RUNTIMES[runtime].module):
            return False, f"{runtime} is not installed: pip install 'dcnas-deploy[{RUNTIMES[runtime].extra}]'"
        return LOCAL_CHECKS[runtime](self.profile)

    def info(self) -> Dict[str, Any]:
        """This host's provenance."""
        from dcnas_deploy.runtimes.host import host_info

        return host_info(runtimes=[self.profile.runtime], threads=self.profile.threads)

    def measure(self, files: Sequence[Path], protocol: Protocol = Protocol(),
                feeds_or_shapes: Optional[Sequence[Optional[FeedsOrShapes]]] = None,
                progress: Optional[Progress] = None) -> List[Timing]:
        """Load and time each file in turn under the profile's runtime options."""
        files = [Path(f) for f in files]
        feeds = list(feeds_or_shapes) if feeds_or_shapes is not None else [None] * len(files)
        if len(feeds) != len(files):
            raise ConfigError(f"{len(feeds)} feeds/shapes entries for {len(files)} files")
        options = self.profile.session_options()
        return self._each(files, lambda i, path: time_file(path, self.profile.runtime, options, protocol, feeds[i]),
                          progress)

    def measure_paired(self, files: Sequence[Path], reference: Path, protocol: Protocol = Protocol(),
                       progress: Optional[Progress] = None) -> List[PairedTiming]:
        """Both models loaded in this process; turns alternate without reloading (see protocol.measure_paired)."""
        from dcnas_deploy.runtimes.sessions import load_session, time_sessions_paired

        options = self.profile.session_options()
        ref = self._each([Path(reference)], lambda i, path: load_session(path, self.profile.runtime, options))[0]

        def paired(i: int, path: Path) -> PairedTiming:
            session = load_session(path, self.profile.runtime, options)
            try:
                return time_sessions_paired(session, ref, protocol)
            finally:
                session.close()

        try:
            return self._each(files, paired, progress)
        finally:
            ref.close()

    def _each(self, files: Sequence[Path], work: Callable[[int, Path], Any], progress: Optional[Progress] = None
              ) -> List[Any]:
        """work(i, file) for each file in turn on this reachable device; runtime failures name the file."""
        ok, why = self.reachable()
        if not ok:
            raise DeviceError(f"device {self.profile.name} is not reachable: {why}")
        out = []
        for i, path in enumerate(Path(f) for f in files):
            try:
                out.append(work(i, path))
            except DcnasError:
                raise
            except Exception as exc:
                raise DeviceError(f"{path.name}: {self.profile.runtime} failed on {self.profile.name}: "
                                  f"{type(exc).__name__}: {exc} (a truncated or foreign file fails like this: "
                                  f"check it is a complete {self.profile.runtime} model, or re-export it)") from exc
            if progress is not None:
                progress(i + 1, len(files), path)
        return out
