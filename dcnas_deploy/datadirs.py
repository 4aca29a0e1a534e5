"""Where device profiles, training presets and LUTs are found, and where new ones go.

Each kind of data file has a folder of its own name — `devices/`, `profiles/` (training presets),
`luts/` — in up to three places:

1. its environment variable: `$DCNAS_DEVICES` / `$DCNAS_PROFILES` (lists of existing folders, `os.pathsep`
   between them) or `$DCNAS_LUTS` (one folder, created when a LUT is first written there);
2. the user data folder (platformdirs; on Linux `$XDG_DATA_HOME/dcnas-deploy/<kind>`, by default
   `~/.local/share/dcnas-deploy/<kind>`);
3. the shipped copy: the repository's top-level folder when running from a source checkout, else the
   copy installed inside the package (`dcnas_deploy/shipped/<kind>`, read with importlib.resources).

New files (a newly profiled LUT, your own device profile or preset) go to the environment variable's
(first) folder when it is set; else, in a source checkout whose folder is writable, to the repository's
folder (so `make demo` and CI write `luts/` as they always did); else to the user folder.
Folders are searched in the order: environment variable, where new files go, user folder, shipped copy
(each once); the first file of a name wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import dcnas_deploy

APP = "dcnas-deploy"
MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
"""The 30 real Middlebury RGB-D pairs beside a source checkout (../shared/data/middlebury): the yardstick, never
trained on."""
ENV: Dict[str, str] = {"devices": "DCNAS_DEVICES", "profiles": "DCNAS_PROFILES", "luts": "DCNAS_LUTS"}
WHAT: Dict[str, str] = {"devices": "device profiles (*.yaml)", "profiles": "presets (*.yaml)",
                        "luts": "latency LUTs (*.yaml)"}


def _check_kind(kind: str) -> str:
    if kind not in ENV:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {', '.join(ENV)}")
    return kind


def source_checkout() -> Optional[Path]:
    """The repository root when the package runs from a source checkout (pyproject.toml beside it), else None."""
    root = Path(dcnas_deploy.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "dcnas_deploy").is_dir() else None


def shipped_dir(kind: str) -> Path:
    """The copy shipped with the code: the checkout's top-level folder, else the installed package's."""
    root = source_checkout()
    if root is not None and (root / _check_kind(kind)).is_dir():
        return root / kind
    from importlib.resources import files

    where = files("dcnas_deploy") / "shipped" / kind
    if not isinstance(where, Path):  # a zip import: the callers glob real folders
        from dcnas_deploy.errors import ConfigError

        raise ConfigError(f"dcnas_deploy is installed as a zip ({where}); install it as files (pip install)")
    return where


def user_dir(kind: str) -> Path:
    """The per-user folder for this kind (platformdirs user data dir; honours $XDG_DATA_HOME on Linux)."""
    _check_kind(kind)
    try:
        from platformdirs import user_data_path
    except ImportError:  # an environment installed before platformdirs became a dependency: the XDG rule
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base).expanduser() / APP / kind
    return user_data_path(APP, appauthor=False) / kind


def env_dirs(kind: str) -> List[Path]:
    """The folders named by the kind's environment variable (ConfigError for a device/preset entry that is no folder)."""
    var = ENV[_check_kind(kind)]
    if kind == "luts":
        value = os.environ.get(var)
        return [Path(value).expanduser()] if value else []
    from dcnas_deploy.fileio import env_folders

    return env_folders(var, WHAT[kind])


def new_files_dir(kind: str) -> Path:
    """Where new files of this kind go: the env variable's first folder, a writable checkout's folder, else the user folder."""
    env = env_dirs(kind)
    if env:
        return env[0]
    root = source_checkout()
    if root is not None and os.access(root / kind, os.W_OK | os.X_OK):
        return root / kind
    return user_dir(kind)


def search_dirs(kind: str) -> List[Path]:
    """Folders searched for this kind, first match winning: env variable, new-files folder, user folder, shipped copy."""
    out: List[Path] = []
    for d in [*env_dirs(kind), new_files_dir(kind), user_dir(kind), shipped_dir(kind)]:
        if not any(_same(d, o) for o in out):
            out.append(d)
    return out


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


@dataclass
class DataPaths:
    """One kind's folders, for `dcnas-deploy paths`."""

    kind: str
    env: str
    search: List[Path]
    new_files: Path

    def to_dict(self) -> Dict[str, object]:
        """JSON form (each folder with whether it exists)."""
        return {"kind": self.kind, "env": self.env, "env_value": os.environ.get(self.env),
                "search": [{"path": str(p), "exists": p.is_dir()} for p in self.search],
                "new_files": str(self.new_files)}


def describe() -> List[DataPaths]:
    """Every kind's search folders and where its new files go."""
    return [DataPaths(k, ENV[k], search_dirs(k), new_files_dir(k)) for k in ENV]
