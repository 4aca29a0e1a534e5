"""Device profiles: which runtime, on which device, at which precision and thread count, reached how.

Profiles are YAML files in the shipped `devices/` folder (plus the user folder and `$DCNAS_DEVICES`, a path
list; see dcnas_deploy.datadirs), loaded
with strict validation: an unknown key, a bad value or malformed YAML is a ConfigError naming the
file and the key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from dcnas_deploy.errors import ConfigError, DeviceError
from dcnas_deploy.runtimes.sessions import COMPUTE_PRECISIONS, SESSIONS
from dcnas_deploy.runtimes.table import RUNTIMES

DEFAULT_DEVICE = "cpu"

_REQUIRED = ("name", "runtime", "runtime_device", "precision", "threads", "connection")
_OPTIONAL = ("description", "options", "gpu_name")


@dataclass(frozen=True)
class DeviceProfile:
    """One measurable target: runtime + runtime device + precision + threads + how to reach it."""

    name: str
    runtime: str
    runtime_device: str
    precision: str
    threads: int
    connection: Mapping[str, Any]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Runtime options beyond the above (litert: xnnpack; onnxruntime: inter_threads, ...)."""
    gpu_name: Optional[str] = None
    """When set, the local GPU's name must contain it (e.g. 'RTX 3090')."""
    source: Optional[Path] = None

    @property
    def connection_kind(self) -> str:
        """local, agent or adb."""
        return str(self.connection["kind"])

    def session_options(self) -> Dict[str, Any]:
        """Options for sessions.load_session / time_file (threads, device, precision + runtime options)."""
        opts: Dict[str, Any] = {"threads": self.threads, "device": self.runtime_device, "precision": self.precision}
        opts.update(self.options)
        return opts

    def with_threads(self, threads: Optional[int]) -> "DeviceProfile":
        """The same profile with another fixed thread count (None keeps it)."""
        if threads is None:
            return self
        if int(threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        return replace(self, threads=int(threads))

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (as in the YAML file) for provenance headers."""
        d = {"name": self.name, "runtime": self.runtime, "runtime_device": self.runtime_device,
             "precision": self.precision, "threads": self.threads, "connection": dict(self.connection)}
        if self.options:
            d["options"] = dict(self.options)
        if self.gpu_name:
            d["gpu_name"] = self.gpu_name
        if self.description:
            d["description"] = self.description
        return d


def profile_from_dict(data: Any, source: str = "<dict>") -> DeviceProfile:
    """Validate a parsed YAML mapping into a DeviceProfile (ConfigError names file and key)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a device profile must be a YAML mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(_REQUIRED + _OPTIONAL)}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing}")
    runtime = data["runtime"]
    if runtime not in RUNTIMES:
        raise ConfigError(f"{source}: runtime {runtime!r} is not one of {sorted(RUNTIMES)}")
    rdev = str(data["runtime_device"])
    allowed = RUNTIMES[runtime].devices
    if rdev not in allowed and rdev.split(".")[0].split(":")[0] not in allowed:
        raise ConfigError(f"{source}: runtime_device {rdev!r} is not valid for {runtime}; expected one of {list(allowed)}")
    if data["precision"] not in COMPUTE_PRECISIONS:
        raise ConfigError(f"{source}: precision {data['precision']!r} is not one of {list(COMPUTE_PRECISIONS)}")
    threads = data["threads"]
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ConfigError(f"{source}: threads must be a positive integer, got {threads!r}")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{source}: options must be a mapping, got {type(options).__name__}")
    clash = sorted(set(options) & {"threads", "device", "precision"})
    if clash:
        raise ConfigError(f"{source}: options {clash} must be set as top-level keys, not under options")
    known = set(SESSIONS[runtime].DEFAULTS) - {"threads", "device", "precision"}  # type: ignore[attr-defined]
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(f"{source}: unknown {runtime} option(s) {bad}; known: {sorted(known)}")
    connection = data["connection"]
    if isinstance(connection, str):
        connection = {"kind": connection}
    if not isinstance(connection, dict) or "kind" not in connection:
        raise ConfigError(f"{source}: connection must be a mapping with a 'kind' (local, agent, adb)")
    from dcnas_deploy.runtimes.connections import validate_connection

    connection = validate_connection(connection, source)
    for key in ("name", "description", "gpu_name"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise ConfigError(f"{source}: {key} must be a string, got {data[key]!r}")
    return DeviceProfile(name=data["name"], runtime=runtime, runtime_device=rdev, precision=data["precision"],
                         threads=threads, connection=connection, description=data.get("description") or "",
                         options=options, gpu_name=data.get("gpu_name"),
                         source=None if source.startswith("<") else Path(source))


def load_profile_file(path: Path) -> DeviceProfile:
    """Read and validate one device YAML file."""
    from dcnas_deploy.fileio import load_yaml_file

    return profile_from_dict(load_yaml_file(path, "device profile"), str(path))


def device_dirs() -> List[Path]:
    """Folders searched for profiles: $DCNAS_DEVICES entries, the user folder, the shipped devices/ (datadirs)."""
    from dcnas_deploy.datadirs import search_dirs

    return search_dirs("devices")


def _profile_paths() -> Dict[str, Path]:
    """name (file stem) -> path, earlier folders winning."""
    found: Dict[str, Path] = {}
    for d in device_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
                found.setdefault(p.stem, p)
    return found


def known_devices() -> List[str]:
    """Names of all profiles found."""
    return sorted(_profile_paths())


def load_device(name_or_path: str) -> DeviceProfile:
    """A profile by name (devices/<name>.yaml) or by path to a YAML file; DeviceError lists known names."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        if not candidate.is_file():
            raise DeviceError(f"device profile file not found: {candidate}")
        return load_profile_file(candidate)
    paths = _profile_paths()
    if text not in paths:
        raise DeviceError(f"unknown device {text!r}; known: {', '.join(sorted(paths)) or '(none)'} "
                          f"(or give a path to a YAML profile; folders: {[str(d) for d in device_dirs()]})")
    profile = load_profile_file(paths[text])
    if profile.name != text:
        raise ConfigError(f"{paths[text]}: name {profile.name!r} differs from the file name {text!r}")
    return profile


def list_devices() -> List[DeviceProfile]:
    """All profiles found, by name (a malformed file raises ConfigError naming it)."""
    return [load_device(n) for n in known_devices()]
