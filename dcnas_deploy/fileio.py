"""Atomic file writes: a reader (or an interrupted job) never sees a half-written file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: os.PathLike | str, write: Callable[[str], None]) -> Path:
    """Call write(tmp_path) on a temp file next to path, then os.replace it into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: os.PathLike | str, text: str) -> Path:
    """Write text atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> Path:
    """Write bytes atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def load_yaml_file(path: os.PathLike | str, what: str):
    """yaml.safe_load of a file; a missing file or invalid YAML raises ConfigError naming `what`."""
    import yaml

    from dcnas_deploy.errors import ConfigError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None


def load_torch_file(path: os.PathLike | str, what: str, weights_only: bool = True):
    """torch.load onto the CPU; a missing, truncated or corrupt file raises ConfigError naming `what`."""
    import torch

    from dcnas_deploy.errors import ConfigError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many types for truncated/corrupt files
        raise ConfigError(f"{p}: not a readable {what} ({type(exc).__name__}: {exc})") from None


def _umask() -> int:
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
